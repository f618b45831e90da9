"""The timing loop, pure: the clock, the runners and the stopping test are arguments, so tests
drive it with a fake clock and no JAX.

:func:`calibrate` sizes the inner loop of one strategy; :func:`interleave` then takes one sample
of every strategy per round, back to back, the order rotated every round (:func:`round_order`),
so per-round ratios cancel most of the machine's drift and no strategy is always timed right
after the same neighbour. A runner is a zero-argument callable that returns only once its work is
done (the JAX side wraps ``block_until_ready``). Whether a verdict is settled is not decided
here: the caller passes the preset looks and a ``settled(samples) -> bool`` test
(adbench.analysis.sequential, wired in adbench.measure.case).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

Clock = Callable[[], float]
Runner = Callable[[], Any]
# the samples so far (strategy -> seconds per call, one per round) -> may timing stop now?
Settled = Callable[[Mapping[str, Sequence[float]]], bool]

# A first call this many times longer than `min_sample_s` is timed alone (n_inner = 1) without
# the two warm-up calls: a call slowed by what ran before was seen 1.5-3x slower here (see
# settle_calls), so even a 3x slowdown leaves it over 3x the target, and the count is 1 either
# way. For the default run's slow calls (jacrev of power 1 -> 10^4, ~0.3 s) that saves two calls.
_LONG_CALL = 10.0


def _sample(run: Runner, n: int, clock: Clock) -> float:
    """Seconds per call over `n` calls, each waited for."""
    t0 = clock()
    for _ in range(n):
        run()
    return (clock() - t0) / n


def calibrate(run: Runner, *, min_sample_s: float, max_inner: int, clock: Clock) -> int:
    """How many calls make one sample last at least `min_sample_s` (at most `max_inner`).

    Two untimed calls first, so the count is not set by a call slowed by whatever ran before
    (another strategy's memory traffic, XLA's worker threads winding down); then the count grows
    geometrically, as timeit's autorange does. A first call over ``_LONG_CALL`` times the
    target settles the count at 1 alone.
    """
    if _sample(run, 1, clock) >= _LONG_CALL * min_sample_s:
        return 1
    run()
    n = 1
    while True:
        elapsed = _sample(run, n, clock) * n
        if elapsed >= min_sample_s or n >= max_inner:
            return n
        # aim a little above the target, at most x10 per step
        grow = min_sample_s * 1.2 / elapsed if elapsed > 0 else 10.0
        n = min(max_inner, max(n + 1, math.ceil(n * min(grow, 10.0))))


def settle_calls(n_inner: int, per_call_s: float, budget_s: float) -> int:
    """Untimed calls before each sample, so switching strategies is not charged to the sample.

    On a 2-core CPU a light mode timed right after a heavy one was seen 1.5-3x slower than when
    run alone (power 1 -> 10^4: jacfwd ~100 us alone, 180-300 us interleaved with jacrev's
    ~200 ms calls); untimed calls of the same strategy first keep that switching cost out of the
    sample. A long single call (n_inner == 1) is settled only when it is cheap against the budget.
    """
    if n_inner >= 2:
        return n_inner // 2
    return 1 if per_call_s < budget_s / 20 else 0


def round_order(names: Sequence[str], round_: int) -> list[str]:
    """The order of `names` in round `round_`: rotated so the round starts at ``round_ mod k``.

    Over k rounds every strategy takes every position once, so none is always first (timed
    after the previous round's last) or always between the same two. With two strategies this
    is the old alternation A B, B A; with three, alternation (A B C, C B A) would keep B in the
    middle forever, rotation (A B C, B C A, C A B) does not. The samples' ``position`` column is
    ``round_order(names, r).index(name)``.
    """
    k = len(names)
    if k == 0:
        return []
    s = round_ % k
    return [*names[s:], *names[:s]]


def interleave(
    runners: Mapping[str, Runner],
    n_inner: Mapping[str, int],
    *,
    budget_s: float,
    min_rounds: int,
    max_rounds: int,
    clock: Clock,
    looks: Collection[int] = (),
    settled: Settled | None = None,
) -> dict[str, list[float]]:
    """Time the strategies in rotating order (:func:`round_order` of the runners' order), one
    sample each per round, within a time budget. Returns seconds per call, one per round.

    Each sample is preceded by `settle_calls` untimed calls of its strategy (sized from the
    previous sample; half a sample before the first). Stops after `max_rounds`, or once
    `budget_s` is spent and `min_rounds` are done; a case so slow that `min_rounds` would take
    over three budgets stops at the third (with >= 2 rounds, so a ratio can still be formed).
    With `settled`, it also stops when `settled(samples)` is true after a round count listed in
    `looks` (and at least `min_rounds`): only there, since every extra look is another chance
    to stop on a fluke (adbench.analysis.sequential spends its error rate over these looks).
    """
    names = list(runners)
    samples: dict[str, list[float]] = {m: [] for m in names}
    settle = {m: n_inner[m] // 2 for m in names}
    start = clock()
    for r in range(max_rounds):
        for m in round_order(names, r):
            for _ in range(settle[m]):
                runners[m]()
            t = _sample(runners[m], n_inner[m], clock)
            samples[m].append(t)
            settle[m] = settle_calls(n_inner[m], t, budget_s)
        spent = clock() - start
        done = r + 1
        if settled is not None and done in looks and done >= min_rounds and settled(samples):
            break
        if spent >= budget_s and done >= min_rounds:
            break
        if spent >= 3 * budget_s and done >= 2:
            break
    return samples
