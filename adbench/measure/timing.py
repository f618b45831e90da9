"""The timing loop, pure: the clock, the runners and the stopping test are arguments, so tests
drive it with a fake clock and no JAX.

:func:`calibrate` sizes the inner loop of one strategy; :func:`interleave` then takes one sample
of every strategy per round, back to back, the order rotated every round (:func:`round_order`),
so per-round ratios cancel most of the machine's drift and no strategy is always timed right
after the same neighbour. A runner is a zero-argument callable that returns only once its work is
done (the JAX side wraps ``block_until_ready``). Whether a verdict is settled is not decided
here: the caller passes the preset looks, a ``settled(samples) -> bool`` test and, for racing,
an ``eliminate(samples) -> names`` rule (adbench.analysis.sequential, wired in
adbench.measure.case). The loop only enforces the evidence floor: with two strategies or more it
runs past the budget (up to ``max_case_s``) until a verdict has the paired rounds it needs
(adbench.analysis.decision.MIN_ROUNDS).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adbench.analysis import decision

Clock = Callable[[], float]
Runner = Callable[[], Any]
# the samples so far (strategy -> seconds per call, one per round) -> may timing stop now?
Settled = Callable[[Mapping[str, Sequence[float]]], bool]
# the samples of the strategies still timed -> those to time no more (racing)
Eliminate = Callable[[Mapping[str, Sequence[float]]], Collection[str]]

# A first call this many times longer than `min_sample_s` is timed alone (n_inner = 1) without
# the two warm-up calls: a call slowed by what ran before was seen 1.5-3x slower here (see
# settle_calls), so even a 3x slowdown leaves it over 3x the target, and the count is 1 either
# way. For the default run's slow calls (jacrev of power 1 -> 10^4, ~0.3 s) that saves two calls.
_LONG_CALL = 10.0


def _sample(run: Runner, n: int, clock: Clock) -> float:
    """Seconds per call over `n` calls, each waited for, with Python's cyclic garbage collector
    paused, as timeit pauses it: a collection is charged to whichever sample happens to cross
    the allocation threshold, and each JAX call allocates Python objects, so a light strategy
    timed after a heavy one (whose calls left garbage behind) would pay for the heavy one's
    collections. Paused only for the timed calls: the settle calls before the next sample
    collect as usual. Reference counting still frees every acyclic object at once, so memory
    does not grow over a sample."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = clock()
        for _ in range(n):
            run()
        t1 = clock()
    finally:
        if enabled:
            gc.enable()
    return (t1 - t0) / n


def is_long(call_s: float, min_sample_s: float) -> bool:
    """A call this long is a sample by itself (``n_inner == 1``): over ``_LONG_CALL`` times the
    target sample length."""
    return call_s >= _LONG_CALL * min_sample_s


def calibrate(
    run: Runner, *, min_sample_s: float, max_inner: int, clock: Clock, warm_s: float | None = None
) -> int:
    """How many calls make one sample last at least `min_sample_s` (at most `max_inner`).

    Two untimed calls first, so the count is not set by a call slowed by whatever ran before
    (another strategy's memory traffic, XLA's worker threads winding down); then the count grows
    geometrically, as timeit's autorange does. A first call over ``_LONG_CALL`` times the
    target settles the count at 1 alone; `warm_s`, a warm call's seconds the caller already
    timed (adbench.measure.case times its warm-up call), stands for that first call, so a slow
    strategy (0.2-0.3 s a call in the default run) is not called once more only to learn it.
    """
    if warm_s is not None and is_long(warm_s, min_sample_s):
        return 1
    if is_long(_sample(run, 1, clock), min_sample_s):
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


# settle until steady: a settle chunk is steady within this factor of the strategy's fastest
# steady call so far, and settling stops after this many samples' worth of calls whatever it
# reads (a machine slower for a while must not turn every sample into three)
_STEADY = 1.25
_SETTLE_CAP = 2


def settle(run: Runner, n_inner: int, steady_s: float | None, clock: Clock) -> int:
    """Untimed-for-the-sample calls of a strategy before its sample of `n_inner` >= 2 calls,
    until it runs as fast as it can; returns how many were made.

    Measured (broyden 3000 on 2 cores, `sparse` at 66 us a call right after `jacfwd` freed its
    36 MB result): chunks of 10 calls read 238, 137, 141, 127, 102, 91, 89, 76, 71, 70 us, steady
    only after ~80 calls (~8 ms), far past the n_inner // 2 = 40 calls settle_calls gave it, so
    its samples read x1.3-x2 high. Neither returning the freed memory (malloc_trim) nor a pause
    helped; more calls of the light strategy itself did. So the calls go in chunks of
    ``max(1, n_inner // 4)``, each timed, and settling stops at the first chunk whose seconds
    per call are within ``_STEADY`` of `steady_s` (the strategy's fastest sample so far), after
    at most ``_SETTLE_CAP * n_inner`` calls. A strategy already steady (the usual round) pays one
    chunk, half of what settle_calls charged; with no sample yet (`steady_s` None, round 0) the
    full cap is paid once, so the first sample is a steady one too (a reference taken from the
    calibration, itself run right after another strategy's, read high and let broyden `sparse`
    read 82 us against timeit's 51 us).
    """
    chunk = max(1, n_inner // 4)
    done = 0
    while done < _SETTLE_CAP * n_inner:
        t0 = clock()
        for _ in range(chunk):
            run()
        per_call = (clock() - t0) / chunk
        done += chunk
        if steady_s is not None and per_call <= _STEADY * steady_s:
            break
    return done


def default_cap(budget_s: float, n_strategies: int, min_sample_s: float) -> float:
    """``max_case_s`` when the run file gives none: three budgets, and at least twice what the
    verdict's floor costs an ordinary case (calls shorter than a sample, so each sample lasts
    about ``min_sample_s``, half as much again with its settle calls):
    ``2 x MIN_ROUNDS x n x 1.5 x min_sample_s``, 0.18 s for two strategies at 5 ms samples.
    Three budgets alone left every case of a 0.001 s or 0.01 s budget undecided after 2-5 rounds
    (benchmarks/sequential.py part 6); a case whose calls are long against its samples (a slow
    strategy) is still capped near three budgets."""
    floor_s = 2 * decision.MIN_ROUNDS * n_strategies * 1.5 * min_sample_s
    return max(3.0 * budget_s, floor_s if n_strategies >= 2 else 0.0)


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


@dataclass(frozen=True)
class Timed:
    """What :func:`race` measured. ``samples``: strategy -> seconds per call, one per round it
    was timed in (rounds 0, 1, ...); ``positions``: its place in each of those rounds' order
    (0 = first); ``eliminated``: strategy -> rounds it was timed in before the race dropped it
    (absent: timed to the end)."""

    samples: Mapping[str, tuple[float, ...]]
    positions: Mapping[str, tuple[int, ...]]
    eliminated: Mapping[str, int]


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
    max_case_s: float | None = None,
    eliminate: Eliminate | None = None,
) -> dict[str, list[float]]:
    """:func:`race`'s samples: seconds per call of each strategy, one per round it was timed in."""
    timed = race(
        runners,
        n_inner,
        budget_s=budget_s,
        min_rounds=min_rounds,
        max_rounds=max_rounds,
        clock=clock,
        looks=looks,
        settled=settled,
        max_case_s=max_case_s,
        eliminate=eliminate,
    )
    return {m: list(v) for m, v in timed.samples.items()}


def race(
    runners: Mapping[str, Runner],
    n_inner: Mapping[str, int],
    *,
    budget_s: float,
    min_rounds: int,
    max_rounds: int,
    clock: Clock,
    looks: Collection[int] = (),
    settled: Settled | None = None,
    max_case_s: float | None = None,
    eliminate: Eliminate | None = None,
) -> Timed:
    """Time the strategies in rotating order (:func:`round_order` of those still timed, in the
    runners' order), one sample each per round, within a time budget.

    Each sample of ``n_inner >= 2`` calls is preceded by :func:`settle`'s calls of its
    strategy, until they run within ``_STEADY`` of its fastest sample so far (round 0: the
    full cap); a sample of one call by `settle_calls`' (none before the first; then one when
    cheap against the budget, else none).

    When to stop: after `max_rounds`; or once `budget_s` is spent and the floor is done: at
    least `min_rounds`, and with two strategies or more at least ``decision.MIN_ROUNDS`` (a
    verdict resting on fewer is undecided: the loop goes on past the budget to reach them);
    but never past `max_case_s` (default ``3 * budget_s``), where a case too slow for its floor
    stops (with >= 2 rounds, so a ratio can still be formed; its verdict says it is undecided).
    With `settled`, it also stops when `settled(samples of the strategies still timed)` is true
    after a round count listed in `looks` (and at least the floor): only there, since every
    extra look is another chance to stop on a fluke (adbench.analysis.sequential spends its
    error rate over these looks).

    Racing: with `eliminate`, at each of those looks the strategies it names (from the samples
    of those still timed) get no more rounds; their samples are kept. The budget is then the
    contenders': the time spent on a strategy since eliminated no longer counts against it, so
    the rest get rounds until their own time reaches `budget_s` (still within `max_case_s`).
    With three strategies or more, a case whose budget runs out before the first look goes on
    to that look when the rounds so far put it within `max_case_s`: one look is the least a race
    needs (issue 17: a 0.3 s strategy beside 3 ms ones ate a 2 s budget in 5 rounds). When that
    look is out of reach, the round where the case would stop is one elimination look of its own
    (once; it never stops the case decided, so the stopping rule's error rate is not spent on
    it, and what it drops keeps the samples it would have stopped with): the contenders then
    get the rest of the budget, still within `max_case_s` (the issue's 67-parameter Hessian:
    rev_over_fwd at 0.6 s a call, fwd_over_fwd at 0.17 s, past their floor after 6 rounds and
    5 s). Once one strategy is left there is nothing to separate.
    """
    names = list(runners)
    samples: dict[str, list[float]] = {m: [] for m in names}
    positions: dict[str, list[int]] = {m: [] for m in names}
    own = dict.fromkeys(names, 0.0)  # seconds spent on each strategy, settle calls included
    out: dict[str, int] = {}
    single = dict.fromkeys(names, 0)  # n_inner == 1: the calls before its next sample
    steady: dict[str, float | None] = dict.fromkeys(names)  # fastest sample, seconds per call
    cap = 3.0 * budget_s if max_case_s is None else max_case_s
    floor = max(min_rounds, decision.MIN_ROUNDS if len(names) >= 2 else 1)
    first_look = min((n for n in looks if n >= floor), default=None)
    active = list(names)
    last_chance = eliminate is not None and len(names) >= 3

    def drop(done: int) -> bool:
        nonlocal active
        assert eliminate is not None
        gone = set(eliminate({m: samples[m] for m in active})) & set(active)
        if not gone or len(gone) >= len(active):  # never all: the fastest is kept
            return False
        out.update(dict.fromkeys(sorted(gone), done))
        active = [m for m in active if m not in gone]
        return True

    start = clock()
    for r in range(max_rounds):
        for i, m in enumerate(round_order(active, r)):
            t0 = clock()
            if n_inner[m] >= 2:
                settle(runners[m], n_inner[m], steady[m], clock)
            else:
                for _ in range(single[m]):
                    runners[m]()
            t = _sample(runners[m], n_inner[m], clock)
            own[m] += clock() - t0
            samples[m].append(t)
            positions[m].append(i)
            single[m] = settle_calls(n_inner[m], t, budget_s)
            prev = steady[m]
            steady[m] = t if prev is None else min(prev, t)
        elapsed = clock() - start
        done = r + 1
        if done in looks and done >= floor:
            if eliminate is not None and len(active) > 1:
                drop(done)
            if settled is not None and settled({m: samples[m] for m in active}):
                break
        if elapsed >= cap and done >= 2:
            break
        # the budget is the contenders': time spent on a strategy eliminated since is sunk
        if sum(own[m] for m in active) >= budget_s and done >= floor:
            # with three strategies or more, a first look within reach of the cap may drop a
            # hopeless one and give the rest the budget it was eating: go on to it
            reach = (
                eliminate is not None
                and len(active) >= 3
                and first_look is not None
                and done < first_look
                and elapsed / done * first_look <= cap
            )
            if reach:
                continue
            # the case stops here unless a hopeless strategy can go: one elimination (no stop
            # is decided on it, so it spends none of the stopping rule's error rate; what it
            # drops keeps exactly the samples it would have stopped with), and the contenders
            # get the rest of the budget, still within the cap
            if last_chance and len(active) >= 3 and done not in looks:
                last_chance = False
                if drop(done) and sum(own[m] for m in active) < budget_s:
                    continue
            break
    return Timed(
        {m: tuple(v) for m, v in samples.items()},
        {m: tuple(v) for m, v in positions.items()},
        out,
    )
