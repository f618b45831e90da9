"""Compile strategies ahead of time on an abstract input and read XLA's costs (the JAX side of
:mod:`adbench.analysis.predict`).

Nothing here runs a derivative: each strategy is lowered on a ``jax.ShapeDtypeStruct`` placed on
the device and compiled; ``cost_analysis()`` and ``memory_analysis()`` of the executable give the
:class:`~adbench.analysis.predict.Costs`. Sparse strategies detect their pattern from the jaxpr
(asdex uses only the shape and dtype of its sample input), so a zero input of the right shape is
all ``prepare`` gets. A loop body is counted once by XLA; chunked strategies run theirs
ceil(basis / chunk) times, so their counts are multiplied by that (an estimate: the part outside
the loop is multiplied too).

Used by :mod:`adbench.auto` (per input shape, at trace time) and by ``adbench predict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from adbench.analysis.predict import Costs
from adbench.run import strategies as S


@dataclass(frozen=True)
class Compiled:
    """One strategy prepared and compiled for one input shape, dtype and device.

    ``prepared``: the registry's Prepared (x (d_in,) -> derivative, or (B, d_in) with a batch);
    ``fn``: ``prepared.fn`` followed by the caller's ``finish`` (e.g. a reshape), the function
    that was compiled; ``jitted``: ``jax.jit(fn)``, whose cache already holds the compiled
    program; ``executable``: that program, callable on a concrete x of that shape and device;
    ``costs``: what XLA says one call costs.
    """

    strategy: str
    prepared: S.Prepared
    fn: Callable[[Any], Any]
    jitted: Any
    executable: Any
    costs: Costs
    chunk_size: int | None = None


def abstract_input(shape: tuple[int, ...], dtype: Any, device: Any = None) -> Any:
    """``jax.ShapeDtypeStruct`` of x, committed to ``device`` when one is given."""
    import jax

    if device is None:
        return jax.ShapeDtypeStruct(shape, dtype)
    sharding = jax.sharding.SingleDeviceSharding(device)
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def read_costs(executable: Any, loop_trips: int = 1) -> Costs:
    """Costs of a compiled executable; counts XLA does not report are NaN."""
    try:
        ca = executable.cost_analysis()
        if isinstance(ca, list | tuple):  # older jax: one dict per computation
            ca = ca[0] if ca else {}
        ca = ca or {}
    except Exception:  # some backends implement no cost analysis
        ca = {}
    try:
        ma = executable.memory_analysis()
    except Exception:
        ma = None

    def count(key: str) -> float:
        return float(ca.get(key, math.nan)) * loop_trips

    return Costs(
        flops=count("flops"),
        bytes_accessed=count("bytes accessed"),
        transcendentals=count("transcendentals"),
        temp_bytes=float(getattr(ma, "temp_size_in_bytes", math.nan)),
        output_bytes=float(getattr(ma, "output_size_in_bytes", math.nan)),
        loop_trips=loop_trips,
    )


def default_chunk(basis: int) -> int:
    """The chunk a chunked strategy gets when none is given: the largest power of two below the
    basis (about half of it), so the chunked program holds about half the unchunked one's
    tangents; 1 for a basis of 1."""
    return S.chunk_candidates(basis)[-2] if basis > 1 else 1


def trips(strategy: S.Strategy, d_in: int, d_out: int, chunk_size: int | None) -> int:
    """How many times a chunked strategy's loop body runs: ceil(basis / chunk); else 1."""
    if not strategy.chunked or chunk_size is None:
        return 1
    basis = d_in if strategy.basis == "in" else d_out
    return max(1, math.ceil(basis / chunk_size))


def compile_strategy(
    task: str,
    name: str,
    fn: Callable[[Any], Any],
    shape: tuple[int, ...],
    dtype: Any,
    *,
    device: Any = None,
    d_out: int,
    chunk_size: int | None = None,
    batch: bool = False,
    finish: Callable[[Any], Any] | None = None,
) -> Compiled:
    """Prepare strategy ``name`` of ``task`` for ``fn`` at x of ``shape`` and compile it.

    shape: (d_in,), or (B, d_in) with ``batch``; d_out: fn's output size (the chunk basis of
    reverse chunked strategies). A chunked strategy without ``chunk_size`` gets
    :func:`default_chunk`. ``finish`` maps the derivative to what the caller returns (compiled
    with it, so it costs nothing extra). Raises whatever preparing or compiling raises.
    """
    import jax

    strategy = S.get(task, name)
    d_in = shape[-1]
    if strategy.chunked and chunk_size is None:
        chunk_size = default_chunk(d_in if strategy.basis == "in" else d_out)
    chunk = chunk_size if strategy.chunked else None
    sample = np.zeros(shape, dtype=dtype)  # asdex reads only its shape and dtype
    prepared = strategy.prepare(fn, sample, chunk_size=chunk, batch=batch)
    fn = prepared.fn if finish is None else _then(prepared.fn, finish)
    jitted = jax.jit(fn)
    executable = jitted.lower(abstract_input(shape, dtype, device)).compile()
    costs = read_costs(executable, trips(strategy, d_in, d_out, chunk))
    return Compiled(name, prepared, fn, jitted, executable, costs, chunk)


def _then(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        return second(first(x))

    return fn
