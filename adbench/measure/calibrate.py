"""A short interleaved timing of compiled candidates: ``adbench.jacobian(f, calibrate=True)``.

Small and local on purpose (no statistics beyond medians): it decides between a few compiled
programs within a second or so, inside user code. adbench's measuring loop (adbench.measure.case,
or adbench.measure.timing once it exists) is the one that records samples and intervals; this one
could use it once that loop is a plain function of runners and a clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def interleaved(
    runners: Mapping[str, Callable[[], Any]],
    *,
    budget_s: float,
    min_rounds: int = 3,
    max_rounds: int = 100,
    min_sample_s: float = 1e-3,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per call of each runner, sampled in rounds (order rotated every round).

    A runner returns what must be finished (``jax.block_until_ready`` is applied). Each sample
    repeats the call enough times to last ``min_sample_s`` (from one warm-up call). Rounds go on
    until ``budget_s`` is spent, at least ``min_rounds`` and at most ``max_rounds``.
    Returns name -> one value per round.
    """
    import jax

    names = list(runners)
    inner = {}
    for name in names:
        start = clock()
        jax.block_until_ready(runners[name]())
        inner[name] = max(1, math.ceil(min_sample_s / max(clock() - start, 1e-9)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    begin = clock()
    for r in range(max_rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            run, n = runners[name], inner[name]
            start = clock()
            for _ in range(n):
                jax.block_until_ready(run())
            samples[name].append((clock() - start) / n)
        if r + 1 >= min_rounds and clock() - begin >= budget_s:
            break
    return samples


def relative_medians(samples: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Each runner's median over rounds of its time divided by that round's fastest time."""
    rounds = min(len(v) for v in samples.values())
    table = np.array([list(samples[n])[:rounds] for n in samples], dtype=float)
    rel = table / table.min(axis=0, keepdims=True)
    return {n: float(np.median(rel[i])) for i, n in enumerate(samples)}


def calibrate(
    executables: Mapping[str, Callable[..., Any]],
    inputs: Sequence[Any],
    budget_s: float,
) -> dict[str, float]:
    """Median seconds per call of every compiled candidate, each called as
    ``executable(*inputs)`` (may run while an outer function is being traced: the compiled
    executables run directly on concrete inputs).

    ``inputs``: the arguments the executables were compiled for, concrete: the user's own when
    the call was concrete, else :func:`random_inputs`. With a batch of B points the inputs hold
    the B points, so the batch is what is timed.
    """
    import jax

    with jax.ensure_compile_time_eval():
        runners = {n: _runner(e, inputs) for n, e in executables.items()}
        samples = interleaved(runners, budget_s=budget_s)
    rel = relative_medians(samples)
    fastest = min(rel, key=lambda n: rel[n])
    base = float(np.median(samples[fastest]))
    return {n: base * rel[n] for n in samples}


def random_inputs(abstract: Any, device: Any, seed: int = 0) -> Any:
    """Concrete arrays like the ``jax.ShapeDtypeStruct`` leaves of ``abstract`` (any pytree) on
    ``device``: standard normal for inexact dtypes, zeros otherwise (an integer index drawn at
    random could be out of range)."""
    import jax

    rng = np.random.default_rng(seed)

    def make(leaf: Any) -> Any:
        dtype = np.dtype(leaf.dtype)
        if np.issubdtype(dtype, np.inexact):
            value = rng.standard_normal(leaf.shape).astype(dtype)
        else:
            value = np.zeros(leaf.shape, dtype)
        return jax.device_put(value, device)

    with jax.ensure_compile_time_eval():
        return jax.tree_util.tree_map(make, abstract)


def _runner(executable: Callable[..., Any], inputs: Sequence[Any]) -> Callable[[], Any]:
    return lambda: executable(*inputs)
