"""Does a function call back into Python? Then its timings include the round trip.

``jax.debug.print``, ``jax.debug.callback``, ``jax.pure_callback`` and
``jax.experimental.io_callback`` leave the compiled program at run time to run Python code on
the host: each call pays a device-to-host copy, the GIL and the Python code itself, and a
Jacobian repeats it once per basis vector (or per batch of them). A measurement of such a
function is honest about that cost but easy to misread as the cost of the maths, so adbench
warns. Detection reads the traced program (``jax.make_jaxpr``, nothing runs): every equation
whose primitive is a callback, in sub-programs too (jit, scan, cond, custom derivatives).

To be called by the measuring code once per case, after the factory built ``fn`` and ``x``:
``names = python_callbacks(fn, x)``; when not empty, ``callback_warning(names)`` is the one-line
note for the case's rows and the terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

# Primitives that call Python without "callback" in their name (jax 0.10: jax.debug.print).
OTHER_CALLBACKS = frozenset({"debug_print"})


def _sub_jaxprs(value: Any) -> Iterator[Any]:
    """The jaxprs inside one equation parameter (a ClosedJaxpr, a Jaxpr, or lists of them)."""
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _sub_jaxprs(item)


def callback_primitives(jaxpr: Any) -> set[str]:
    """Names of the callback primitives anywhere in `jaxpr` (a Jaxpr or ClosedJaxpr)."""
    found: set[str] = set()
    stack = list(_sub_jaxprs(jaxpr))
    seen: set[int] = set()
    while stack:
        j = stack.pop()
        if id(j) in seen:
            continue
        seen.add(id(j))
        for eqn in j.eqns:
            name = str(eqn.primitive.name)
            if "callback" in name or name in OTHER_CALLBACKS:
                found.add(name)
            for value in eqn.params.values():
                stack.extend(_sub_jaxprs(value))
    return found


def python_callbacks(fn: Callable[..., Any], x: Any) -> tuple[str, ...]:
    """The callback primitives `fn` would run at `x` (shape (d_in,)), sorted; () if none or if
    `fn` cannot be traced (the measurement reports that failure itself)."""
    import jax

    try:
        closed = jax.make_jaxpr(fn)(x)
    except Exception:
        return ()
    return tuple(sorted(callback_primitives(closed)))


def callback_warning(names: tuple[str, ...]) -> str:
    """The one-line warning for a function that calls back into Python."""
    return (
        f"the function calls back into Python ({', '.join(names)}): its timings include those "
        "host round trips, once per Jacobian column or row"
    )
