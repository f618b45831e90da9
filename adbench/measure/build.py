"""A case's function and input, from its factory, checked once for ``run``, ``predict`` and
``adbench.bench`` alike.

A factory returns one of:

    fn                x (d_in,) -> (d_out,); the input is drawn (numpy default_rng(seed))
    (fn, x0)          the same at the factory's own x0, shape (d_in,)
    (fn, args)        args a tuple of pytrees (example arguments): the case's ``argnums`` are
                      differentiated, raveled into x (d_in,) (adbench.strategies.trees); d_in
                      and d_out are measured, and checked against the family's when it
                      declares them

The output check is the same whatever the path (issue 18: ``predict`` accepted what ``run``
refused): a floating, real output holding exactly the declared d_out values (a family of named
sizes declares none). Every fault is a one-line reason (the case's rows say it); a factory that
calls ``sys.exit`` is a fault like any other, not the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from adbench.config.cases import Case
from adbench.errors import first_line
from adbench.strategies import trees
from adbench.strategies.base import SCALAR_TASKS


@dataclass(frozen=True)
class Built:
    """``fn``: x (d_in,) -> output holding d_out values; ``x``: on the device, (d_in,) or
    (B, d_in) with a batch (B copies of one input, or B draws); ``structure``: for a factory's
    (fn, args), what it was raveled from (None for a function of one vector)."""

    fn: Callable[[Any], Any]
    x: Any
    d_in: int
    d_out: int
    structure: trees.Structured | None = None


def output_problem(out: Any, d_out: int | None) -> str | None:
    """Why an output (``jax.eval_shape``'s) is unusable, or None: one array, real floating
    point, holding ``d_out`` values ((d_out,), or () when d_out = 1); None skips the size."""
    import jax
    import jax.numpy as jnp

    if not isinstance(out, jax.ShapeDtypeStruct):
        want = f" of shape ({d_out},)" if d_out else ""
        return f"output is a {type(out).__name__}, expected one array{want}"
    if not jnp.issubdtype(out.dtype, jnp.inexact):
        return f"output dtype {out.dtype} is not floating point, so it cannot be differentiated"
    if jnp.issubdtype(out.dtype, jnp.complexfloating):
        return f"output dtype {out.dtype} is complex; adbench measures real derivatives"
    if d_out and out.shape != (d_out,) and not (out.shape == () and d_out == 1):
        return f"output has shape {out.shape}, but the family declares d_out = {d_out}"
    return None


def made(case: Case) -> Any:
    """What the case's factory returns, or a one-line reason (str) why it gave nothing.

    ``SystemExit`` is caught too: a factory that calls ``sys.exit()`` fails its own case only.
    """
    try:
        return case.make()
    except (Exception, SystemExit) as exc:
        return _Failure(f"factory raised {first_line(exc)}")


@dataclass(frozen=True)
class _Failure:
    reason: str


def build(
    case: Case,
    *,
    dtype: str,
    seed: int,
    device: Any = None,
    detect: bool = False,
) -> Built | str:
    """The case's function and input placed on ``device``, or a one-line reason.

    ``detect``: for a factory's (fn, args) with no per_example declared, look for per-example
    structure (trees.detect_per_example; Jacobian tasks).
    """
    out = made(case)
    if isinstance(out, _Failure):
        return out.reason
    if isinstance(out, tuple) and len(out) == 2 and callable(out[0]) and isinstance(out[1], tuple):
        return _structured(case, out[0], out[1], dtype=dtype, device=device, detect=detect)
    if case.sizes:
        return (
            "a family of named sizes must return (fn, args), args a tuple of example "
            f"arguments, so its sizes can be measured; the factory returned {_kind(out)}"
        )
    if case.per_example is not None or case.argnums != (0,):
        return (
            "argnums and per_example need the factory to return (fn, args), args a tuple of "
            f"example arguments; it returned {_kind(out)}"
        )
    return _flat(case, out, dtype=dtype, seed=seed, device=device)


def _kind(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return "a function" if callable(value) else f"a {type(value).__name__}"


def _rows(case: Case) -> tuple[int, ...]:
    return (case.batch,) if case.batch > 1 else ()


def _flat(case: Case, made: Any, *, dtype: str, seed: int, device: Any) -> Built | str:
    import jax
    import jax.numpy as jnp

    rows = _rows(case)
    if isinstance(made, tuple) and len(made) == 2 and callable(made[0]):
        fn, x0 = made
        x0 = np.asarray(x0)
        if x0.shape != (case.d_in,):
            return f"example input has shape {x0.shape}, expected ({case.d_in},)"
        x0 = np.broadcast_to(x0, (*rows, case.d_in))
    elif callable(made):
        fn = made
        x0 = np.random.default_rng(seed).standard_normal((*rows, case.d_in))
    else:
        return (
            f"factory returned {type(made).__name__}, expected a function, (function, x0) or "
            "(function, args)"
        )
    x = jax.device_put(jnp.asarray(x0, dtype=dtype), device)
    try:
        out = jax.eval_shape(fn, x[0] if rows else x)
    except (Exception, SystemExit) as exc:
        return f"function raised {first_line(exc)}"
    problem = output_problem(out, case.d_out)
    if problem:
        return problem
    return Built(fn, x, case.d_in, case.d_out)


def _structured(
    case: Case, f: Any, args: tuple[Any, ...], *, dtype: str, device: Any, detect: bool
) -> Built | str:
    import jax
    import jax.numpy as jnp

    try:
        st = trees.flatten(
            f,
            args,
            case.argnums,
            per_example=case.per_example,
            dtype=dtype,
            scalar=case.task in SCALAR_TASKS,
        )
    except trees.StructureError as exc:
        return str(exc)
    except (Exception, SystemExit) as exc:
        return f"function raised {first_line(exc)}"
    if case.d_in and st.d_in != case.d_in:
        return (
            f"the differentiated arguments hold {st.d_in} values ({st.in_tree}), but the "
            f"family declares d_in = {case.d_in}"
        )
    if case.d_out and st.d_out != case.d_out:
        return f"the output holds {st.d_out} values ({st.out_tree}), but the family declares d_out = {case.d_out}"
    if detect and st.per_example is None and case.task == "jacobian":
        found = trees.detect_per_example(args, st)
        if found is not None:
            st = _with(st, found)
    rows = _rows(case)
    x = jnp.broadcast_to(st.x, (*rows, st.d_in)) if rows else st.x
    return Built(st.fn, jax.device_put(x, device), st.d_in, st.d_out, st)


def _with(st: trees.Structured, pe: trees.PerExample) -> trees.Structured:
    from dataclasses import replace

    return replace(st, per_example=pe)
