"""One candidate strategy bound to a call's :class:`~adbench.auto.signature.Layout`, and compiled.

The registry's strategies differentiate a function of one flat vector, prepared once (a sparse
strategy detects and colours its pattern there). The other arguments' array leaves change from
call to call and must stay arguments of the compiled program (a constant would be folded into
it), so the flat function reads them from a per-thread stack that :func:`Program.apply` fills
for the duration of each call: the prepared strategy is traced once per call with the current
values, never with a stale one. Under ``jax.jit`` of ``apply`` those values are the jit's own
tracers, so the compiled program takes them as inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from adbench.analysis.predict import Costs
from adbench.auto.signature import Call, Frame, Layout
from adbench.measure import costs as C
from adbench.strategies import registry as S

_local = threading.local()


@contextmanager
def bound(dynamic: Sequence[Any]) -> Iterator[None]:
    """Make ``dynamic`` (the other arguments' array leaves) what the flat function sees."""
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(tuple(dynamic))
    try:
        yield
    finally:
        stack.pop()


def _current() -> tuple[Any, ...]:
    stack = getattr(_local, "stack", None)
    if not stack:  # a strategy called the flat function outside Program.apply
        raise RuntimeError("adbench.auto: the flat function was called outside its call")
    top: tuple[Any, ...] = stack[-1]
    return top


# Result maps per task: the flat derivative -> JAX's structure (signature.Layout methods).
RESULT = {"jacobian": Layout.jacobian, "hessian": Layout.hessian, "laplacian": Layout.like_output}
RESULT.update(derivative=Layout.like_output, biharmonic=Layout.like_output)  # PINN operators


@dataclass(frozen=True, eq=False)
class Program:
    """A strategy ready to run on calls of one key.

    ``apply(diff, dynamic)``: the derivative in JAX's structure (``(derivative, aux)`` with
    ``has_aux``), traceable; ``jitted``: ``jax.jit(apply)``; ``executable``: ``apply`` compiled on
    the key's abstract arguments (what the costs were read from and calibration runs);
    ``info``: what the strategy recorded (chunk size, colours, nnz).
    """

    strategy: str
    apply: Callable[[Any, tuple[Any, ...]], Any]
    jitted: Any
    executable: Any
    costs: Costs
    chunk_size: int | None
    setup_s: float
    info: Any


def build(
    task: str,
    name: str,
    f: Callable[..., Any],
    call: Call,
    layout: Layout,
    *,
    has_aux: bool,
    holomorphic: bool,
    chunk_size: int | None,
    params: Any = None,
    per_example: int | None = None,
) -> Program:
    """Prepare ``name`` for the flat problem of ``call`` and compile ``apply`` (raises whatever
    preparing or compiling raises)."""
    import jax

    strategy = S.get(task, name)
    frame = call.frame
    batched = frame.batch is not None

    def flat(x: Any) -> Any:  # x (d_in,) -> y (d_out,) or the scalar output, one point
        out = f(*frame.merge(layout.unravel(x), _current()))
        return layout.ravel_out(out[0] if has_aux else out)

    d_in, d_out = layout.d_in, layout.d_out
    chunk = None
    if strategy.chunked:
        basis = d_in if strategy.basis == "in" else d_out
        chunk = chunk_size if chunk_size is not None else C.default_chunk(basis)
    with jax.ensure_compile_time_eval():
        sample = jax.device_put(np.zeros((*layout.lead, d_in), layout.dtype), call.device)
    if holomorphic:
        prepared = _holomorphic(task, name, flat, batched)
    elif strategy.structured:
        if per_example is None:
            raise ValueError(
                f"{name} needs per_example=K: the argument whose leading axis holds the points"
            )
        from adbench.auto import per_example as pe

        prepared = pe.prepare(task, f, flat, call, layout, per_example, has_aux, _current, bound)
    elif not strategy.dense and call.dynamic:
        prepared = _sparse_with_others(task, flat, sample, call, batched)
    else:
        with bound(tuple(_zeros(d, call.device) for d in call.dynamic)):
            prepared = strategy.prepare(
                flat, sample, chunk_size=chunk, batch=batched, params=params
            )
    result = RESULT.get(task, Layout.jacobian)

    def apply(diff: Any, dynamic: tuple[Any, ...]) -> Any:
        x = layout.ravel(diff)
        with bound(dynamic):
            d = prepared.fn(x)
        out = result(layout, d) if strategy.dense else d
        if not has_aux:
            return out
        return out, _aux(f, frame, diff, dynamic)

    jitted = jax.jit(apply)
    executable = jitted.lower(*call.abstract()).compile()
    costs = C.read_costs(executable, C.trips(strategy, d_in, d_out, chunk))
    return Program(
        name, apply, jitted, executable, costs, chunk, prepared.setup_s, dict(prepared.info)
    )


def _zeros(leaf: Any, device: Any) -> Any:
    """A concrete stand-in for another argument's array leaf, while a dense strategy is
    prepared (its preparation only reads shapes)."""
    import jax

    with jax.ensure_compile_time_eval():
        return jax.device_put(np.zeros(leaf.shape, leaf.dtype), device)


def _sparse_with_others(
    task: str, flat: Callable[[Any], Any], sample: Any, call: Call, batched: bool
) -> S.Prepared:
    """The sparse strategy when other arguments carry arrays: asdex detects the pattern with
    them as *arguments* (values ignored), so it holds for every value they take.

    The registry's builder sees a function of x alone; the other arguments would be constants
    of its jaxpr, whose values asdex reads (zeros standing in for ``data`` make ``sin(a) *
    data`` a zero block and drop it from the pattern). Same colouring rules as
    :func:`adbench.strategies.sparse.sparse_coloring` (fewer colours of fwd/rev, star colouring
    for Hessians, the dense-colouring warning silenced); detection + colouring is ``setup_s``.
    """
    import time
    import warnings

    import asdex
    import jax
    import jax.numpy as jnp

    shape = () if task == "hessian" else (-1,)

    def with_args(x: Any, dynamic: tuple[Any, ...]) -> Any:
        with bound(dynamic):
            return jnp.reshape(flat(x), shape)

    point = sample[0] if batched else sample
    stand_in = tuple(_zeros(d, call.device) for d in call.dynamic)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asdex.DenseColoringWarning)
        if task == "jacobian":
            coloring = asdex.jacobian_coloring(with_args, point, stand_in, argnums=0)
            derivative = asdex.jacobian_from_coloring(with_args, coloring)
        else:
            coloring = asdex.hessian_coloring(with_args, point, stand_in, argnums=0)
            derivative = asdex.hessian_from_coloring(with_args, coloring)
    setup_s = time.perf_counter() - start
    mode = coloring.mode if task == "jacobian" else "fwd"
    info = {
        "colors": int(coloring.num_colors),
        "sparse_mode": mode,
        "nnz": int(coloring.sparsity.nnz),
        "coloring": "star" if coloring.symmetric else ("column" if mode == "fwd" else "row"),
    }

    def fn(x: Any) -> Any:
        return derivative(x, _current())

    return S.Prepared(jax.vmap(fn) if batched else fn, setup_s, info, coloring)


def _aux(f: Callable[..., Any], frame: Frame, diff: Any, dynamic: tuple[Any, ...]) -> Any:
    """f's aux at the point (per point, stacked, when batched): one more evaluation of f, whose
    primal work XLA shares with the derivative's under jit where it can."""
    import jax

    def at(d: Any) -> Any:
        return f(*frame.merge(d, dynamic))[1]

    return at(diff) if frame.batch is None else jax.vmap(at)(diff)


def _holomorphic(task: str, name: str, flat: Callable[[Any], Any], batched: bool) -> Any:
    """The strategies that have a holomorphic form in JAX (``holomorphic=True`` of jacfwd /
    jacrev): Jacobian jacfwd, jacrev; the four nested Hessians. Others raise ValueError."""
    import jax
    import jax.numpy as jnp

    t = {"fwd": jax.jacfwd, "rev": jax.jacrev}
    if task == "jacobian" and name in ("jacfwd", "jacrev"):
        fn = t[name[3:]](lambda x: jnp.reshape(flat(x), (-1,)), holomorphic=True)
    elif task == "hessian" and name.count("_over_") == 1 and name != "sparse":
        outer, inner = name.split("_over_")
        scalar = lambda x: jnp.reshape(flat(x), ())  # noqa: E731
        fn = t[outer](t[inner](scalar, holomorphic=True), holomorphic=True)
    else:
        raise ValueError(f"{name} has no holomorphic form (holomorphic=True)")
    return S.Prepared(jax.vmap(fn) if batched else fn)
