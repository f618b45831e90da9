"""``per_example=K`` in ``adbench.jacobian`` / ``adbench.hessian``: argument K's leading axis holds
independent points, so the ``per_example`` strategy (:mod:`adbench.strategies.per_example`) is a
candidate beside the whole-function ones.

Argument K is not differentiated and changes from call to call (the data batch of
``loss(params, batch)``, the collocation points of a PINN residual): its leaves are dynamic
leaves of the call (:class:`adbench.auto.signature.Call`), read through the per-thread stack of
:mod:`adbench.auto.program` like every other argument, so the compiled program takes the points
as inputs. The per-point function and the structure checks are the run file's
(:func:`adbench.strategies.trees.per_example_of`); the structure is rebuilt while each call
is traced, from that call's points. A scalar function's per-point Hessians are summed with a
weight (1 for a sum over the points, 1/n for a mean), found once per decision key by evaluating
both sides at random inputs of the call's shapes (the points of a traced call have no values).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from adbench.auto.signature import Call, Layout
from adbench.strategies import registry as S
from adbench.strategies import trees

TASKS = ("jacobian", "hessian")


@dataclass(frozen=True)
class _Structure:
    """What the per_example strategy reads of a structure (``structure.per_example``)."""

    per_example: trees.PerExample


def check(k: int, call: Call, where: str) -> int:
    """``k`` as an argument position of this call (its type, the task and batched=False are
    checked by AutoDerivative); ValueError naming what is wrong."""
    frame = call.frame
    if not 0 <= k < frame.nargs:
        raise ValueError(f"{where}: per_example={k} is out of range for {frame.nargs} argument(s)")
    if k in frame.positions:
        raise ValueError(
            f"{where}: per_example={k} is a differentiated argument (argnums="
            f"{frame.argnums!r}); the points are another argument"
        )
    slots = next(s for pos, _, s in frame.others if pos == k)
    if not slots or any(slot is not None for slot in slots):
        raise ValueError(
            f"{where}: argument {k} (per_example) must hold arrays only, each with a leading "
            "axis of points"
        )
    return k


def _call_with(
    f: Callable[..., Any], call: Call, layout: Layout, has_aux: bool, dynamic: tuple[Any, ...]
) -> Callable[..., Any]:
    """call_with(x, {k: arg}) -> f's output with the differentiated arguments at flat x and
    argument k replaced (the form :func:`trees.per_example_of` takes)."""

    def call_with(x: Any, replaced: dict[int, Any]) -> Any:
        args = list(call.frame.merge(layout.unravel(x), dynamic))
        for pos, value in replaced.items():
            args[pos] = value
        out = f(*args)
        return out[0] if has_aux else out

    return call_with


def _per_example(
    f: Callable[..., Any],
    call: Call,
    layout: Layout,
    k: int,
    has_aux: bool,
    scalar: bool,
    x: Any,
    dynamic: tuple[Any, ...],
) -> trees.PerExample:
    import jax

    call_with = _call_with(f, call, layout, has_aux, dynamic)
    args = call.frame.merge(layout.unravel(x), dynamic)
    out = jax.eval_shape(lambda v: call_with(v, {}), x)
    try:
        return trees.per_example_of(call_with, args, k, x, out, "declared", scalar)
    except trees.StructureError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class _Weighted(trees.PerExample):
    """A PerExample whose sum weight is known (the per_example Hessian then does not look for
    it: the traced call's values are not concrete)."""

    weight: float = 1.0


def validate(
    f: Callable[..., Any],
    call: Call,
    layout: Layout,
    k: int,
    has_aux: bool,
    task: str,
    bound: Callable[[tuple[Any, ...]], AbstractContextManager[None]],
) -> None:
    """Raise ValueError when argument k does not hold points of f (shapes only, no values).
    ``bound``: :func:`adbench.auto.program.bound` (passed in: program imports this module)."""
    import jax

    diff, dynamic = call.abstract()

    def probe(x: Any, dyn: tuple[Any, ...]) -> None:
        with bound(dyn):
            _per_example(f, call, layout, k, has_aux, task == "hessian", x, dyn)

    x = jax.ShapeDtypeStruct((layout.d_in,), layout.dtype)
    jax.eval_shape(probe, x, dynamic)


def prepare(
    task: str,
    f: Callable[..., Any],
    flat: Callable[[Any], Any],
    call: Call,
    layout: Layout,
    k: int,
    has_aux: bool,
    current: Callable[[], tuple[Any, ...]],
    bound: Callable[[tuple[Any, ...]], AbstractContextManager[None]],
) -> S.Prepared:
    """The per_example strategy for this call's key: a function of flat x that rebuilds the
    structure from the current call's points (``current()``, :mod:`adbench.auto.program`'s
    stack, which ``bound`` fills) and takes the derivative point by point."""
    from adbench.measure.calibrate import random_inputs

    strategy = S.get(task, "per_example")
    scalar = task == "hessian"
    weight = 1.0
    if scalar:  # sum or mean over the points: decided on random values of the call's shapes
        import jax

        with jax.ensure_compile_time_eval():  # concrete even while an outer jit traces
            diff, dynamic = random_inputs(call.abstract(), call.device)
            x = layout.ravel(diff)
        with jax.ensure_compile_time_eval(), bound(dynamic):
            pe = _per_example(f, call, layout, k, has_aux, scalar, x, dynamic)
            try:
                weight = trees.point_weight(flat, pe, x)
            except trees.StructureError as exc:
                raise ValueError(str(exc)) from None
    info: dict[str, Any] = {}

    def fn(x: Any) -> Any:
        dynamic = current()
        pe = _per_example(f, call, layout, k, has_aux, scalar, x, dynamic)
        if scalar:
            pe = _Weighted(**{n: getattr(pe, n) for n in pe.__dataclass_fields__}, weight=weight)
        prepared = strategy.prepare(flat, x, structure=_Structure(pe))
        info.update(prepared.info)
        return prepared.fn(x)

    return S.Prepared(fn, 0.0, info)
