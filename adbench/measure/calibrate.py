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
    compiled: Mapping[str, Any],
    shape: tuple[int, ...],
    dtype: np.dtype,
    device: Any,
    budget_s: float,
) -> dict[str, float]:
    """Median seconds per call of every compiled candidate on a random x (may run while an
    outer function is being traced: the compiled executables run directly)."""
    import jax

    with jax.ensure_compile_time_eval():
        x = jax.device_put(np.random.default_rng(0).standard_normal(shape).astype(dtype), device)
        runners = {n: _runner(c.executable, x) for n, c in compiled.items()}
        samples = interleaved(runners, budget_s=budget_s)
    rel = relative_medians(samples)
    fastest = min(rel, key=lambda n: rel[n])
    base = float(np.median(samples[fastest]))
    return {n: base * rel[n] for n in samples}


def _runner(executable: Any, x: Any) -> Callable[[], Any]:
    return lambda: executable(x)
