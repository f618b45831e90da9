"""Can a factory be called as a family says, judged from its signature (nothing is called)?

``factory(d_in, d_out, **params)`` for a d_in x d_out family, ``factory(**sizes, **params)``
for a family of named sizes: a misspelt or unknown key, or a required parameter left out, is a
one-line reason naming the signature (with a did-you-mean), which the caller turns into a
ConfigError at the key's line. No JAX here.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["factory_call_problem", "named_call_problem"]


def factory_call_problem(factory: Any, params: Mapping[str, Any], name: str) -> str | None:
    """Why ``factory(d_in, d_out, **params)`` would fail for its signature, or None.

    Checked against ``inspect.signature`` before anything runs (nothing is called): a misspelt
    or unknown param, or a required keyword missing. A factory that cannot take the two sizes
    at all, or whose signature Python cannot read (a C function), passes: calling it fails,
    and that is recorded as each case's error (status ``error``), as any factory fault is.
    """
    import inspect

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    kinds = inspect.Parameter
    takes_any = any(p.kind is kinds.VAR_KEYWORD for p in sig.parameters.values())
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    sizes = {p.name for p in positional[:2]}
    named = [
        p.name
        for p in sig.parameters.values()
        if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY) and p.name not in sizes
    ]
    if not takes_any:
        for key in params:
            if key not in named:
                close = difflib.get_close_matches(str(key), named, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                takes = f"it takes {', '.join(named)}" if named else "it takes no params"
                return f"{name}{sig} has no parameter {key!r}{hint} ({takes})"
    try:
        sig.bind_partial(1, 1)
    except TypeError:  # cannot take the sizes at all: the case reports the factory's TypeError
        return None
    try:
        sig.bind(1, 1, **params)
    except TypeError as exc:
        return f"{name}{sig} cannot be called as {name}(d_in, d_out, **params): {exc}"
    return None


def named_call_problem(
    factory: Any, sizes: Sequence[str], params: Mapping[str, Any], name: str
) -> str | None:
    """Why ``factory(**sizes, **params)`` (a family of named sizes) would fail, or None.

    A size or param the factory does not take is named (with a did-you-mean); a required
    parameter left out too. Nothing is called; a signature Python cannot read passes.
    """
    import inspect

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    kinds = inspect.Parameter
    takes_any = any(p.kind is kinds.VAR_KEYWORD for p in sig.parameters.values())
    named = [
        p.name
        for p in sig.parameters.values()
        if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
    ]
    if not takes_any:
        for what, keys in (("size", list(sizes)), ("param", list(params))):
            for key in keys:
                if key not in named:
                    close = difflib.get_close_matches(str(key), named, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    takes = f"it takes {', '.join(named)}" if named else "it takes no parameters"
                    return (
                        f"{name}{sig} has no parameter {key!r} for the {what} {key!r}{hint} "
                        f"({takes})"
                    )
    try:
        sig.bind(**dict.fromkeys(sizes, 1), **params)
    except TypeError as exc:
        return f"{name}{sig} cannot be called as {name}(**sizes, **params): {exc}"
    return None
