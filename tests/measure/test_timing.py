"""The timing loop (adbench.measure.timing) with a fake clock: calibration, settling, interleaving
with the order rotated every round, stopping rules. No JAX, no wall clock."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from adbench.analysis import decision, sequential
from adbench.measure import timing
from adbench.measure.timing import calibrate, interleave, round_order, settle, settle_calls


class FakeClock:
    """A clock that moves only when a fake runner 'runs'."""

    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.t

    def runner(self, name: str, cost: float):
        def run() -> None:
            self.calls.append(name)
            self.t += cost

        return run


def test_calibrate_reaches_the_minimum_sample_length():
    clock = FakeClock()
    n = calibrate(clock.runner("a", 1e-5), min_sample_s=0.005, max_inner=10**6, clock=clock)
    assert n * 1e-5 >= 0.005
    assert n * 1e-5 < 0.005 * 1.5  # and does not overshoot much


def test_calibrate_slow_call_is_one():
    clock = FakeClock()
    assert calibrate(clock.runner("a", 0.5), min_sample_s=0.005, max_inner=100, clock=clock) == 1


def test_calibrate_respects_max_inner():
    clock = FakeClock()
    assert calibrate(clock.runner("a", 1e-9), min_sample_s=1.0, max_inner=1000, clock=clock) == 1000


def test_interleave_alternates_two_and_keeps_per_call_seconds():
    clock = FakeClock()
    runners = {"jacfwd": clock.runner("f", 0.001), "jacrev": clock.runner("r", 0.004)}
    s = interleave(
        runners, {"jacfwd": 2, "jacrev": 1}, budget_s=1.0, min_rounds=3, max_rounds=4, clock=clock
    )
    assert s["jacfwd"] == pytest.approx([0.001] * 4)
    assert s["jacrev"] == pytest.approx([0.004] * 4)
    # two strategies: rotation is alternation; each sample is preceded by untimed settle calls:
    # for jacfwd (2 calls a sample) in chunks of one call until one runs as fast as its best
    # sample (none yet in round 0 and no calibration given: the cap, 2 samples' worth, 4
    # calls), for jacrev's single call none in round 0 and then one, being cheap: [f] ff [r] r
    assert "".join(clock.calls) == "ffffff" + "r" + "rrfff" + "fffrr" + "rrfff"


def test_round_order_rotates():
    names = ["a", "b", "c"]
    assert [round_order(names, r) for r in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert round_order(["a", "b"], 1) == ["b", "a"]
    assert round_order([], 3) == []


def _timed_order(calls: list[str], per_round: int) -> list[list[str]]:
    """The order of the timed samples in each round, from the call log of one-call samples
    whose settle calls are skipped (every cost is over budget / 20)."""
    return [calls[i : i + per_round] for i in range(0, len(calls), per_round)]


def test_interleave_rotates_so_no_strategy_always_sits_between_the_same_two():
    """Three strategies over six rounds: each takes each position twice, and the middle one of
    a round changes. A plain alternation (a b c, c b a) keeps b in the middle every round, so
    it fails here."""
    clock = FakeClock()
    runners = {n: clock.runner(n, 0.1) for n in "abc"}  # 0.1 s > budget / 20: no settle calls
    s = interleave(
        runners, dict.fromkeys("abc", 1), budget_s=1.0, min_rounds=6, max_rounds=6, clock=clock
    )
    assert all(len(v) == 6 for v in s.values())
    rounds = _timed_order(clock.calls, 3)
    assert rounds == [round_order(list("abc"), r) for r in range(6)]
    positions = Counter((name, order.index(name)) for order in rounds for name in order)
    assert set(positions.values()) == {2}, positions  # every (strategy, position) twice
    assert {order[1] for order in rounds} == {"a", "b", "c"}


def test_settle_calls():
    assert settle_calls(10, 1e-4, 1.0) == 5
    assert settle_calls(1, 0.01, 1.0) == 1  # cheap single call
    assert settle_calls(1, 0.2, 1.0) == 0  # a long call is not repeated for nothing


def test_interleave_stops_on_budget_after_min_rounds():
    clock = FakeClock()
    runners = {"jacfwd": clock.runner("f", 0.1), "jacrev": clock.runner("r", 0.1)}
    s = interleave(
        runners, {"jacfwd": 1, "jacrev": 1}, budget_s=0.5, min_rounds=2, max_rounds=50, clock=clock
    )
    # 0.2 s per round: over 0.5 s after the third, but a verdict needs decision.MIN_ROUNDS
    # paired rounds, so the loop goes on past the budget (below 3 budgets) to reach them
    assert len(s["jacfwd"]) == decision.MIN_ROUNDS == 6
    alone = interleave(
        {"jacfwd": clock.runner("f", 0.1)},
        {"jacfwd": 1},
        budget_s=0.25,
        min_rounds=2,
        max_rounds=50,
        clock=clock,
    )
    assert len(alone["jacfwd"]) == 3  # one strategy: nothing to decide, min_rounds is the floor


def test_interleave_caps_a_giant_case_at_three_budgets():
    clock = FakeClock()
    runners = {"jacfwd": clock.runner("f", 1.0), "jacrev": clock.runner("r", 1.0)}
    s = interleave(
        runners, {"jacfwd": 1, "jacrev": 1}, budget_s=1.0, min_rounds=10, max_rounds=50, clock=clock
    )
    assert len(s["jacfwd"]) == 2


# ----------------------------------------------------------------- stopping early (sequential)


def jittered(clock: FakeClock, name: str, cost: float, spread: float = 0.02):
    """A runner whose calls cost `cost` x (1 +- spread), cycling through a fixed pattern, so
    the per-round ratios vary as real ones do, deterministically."""
    pattern = [1.0, 1.0 + spread, 1.0 - spread, 1.0 + spread / 2, 1.0 - spread / 2]
    calls = [0]

    def run() -> None:
        clock.calls.append(name)
        clock.t += cost * pattern[calls[0] % len(pattern)]
        calls[0] += 1

    return run


def _stopped(
    costs: dict[str, float],
    *,
    budget_s: float,
    spread: float = 0.02,
    futility: bool = True,
    **kw,
):
    """Rounds each strategy got under the default stopping rule (margin 10%, min_rounds 5,
    max_rounds 50: looks at 10, 20, 40; without its futility stop if not `futility`), one call
    per sample, and the rounds it looked at."""
    clock = FakeClock()
    rule = sequential.rule(5, 50, 0.1)
    if not futility:
        rule = dataclasses.replace(rule, max_rounds=None)
    looked: list[int] = []

    def settled(samples) -> bool:
        looked.append(len(next(iter(samples.values()))))
        return rule.settled(samples)

    runners = {n: jittered(clock, n, c, spread) for n, c in costs.items()}
    s = interleave(
        runners,
        dict.fromkeys(costs, 1),
        budget_s=budget_s,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        looks=rule.looks,
        settled=settled,
        **kw,
    )
    return {n: len(v) for n, v in s.items()}, looked


def test_the_default_looks():
    assert sequential.rule(5, 50, 0.1).looks == (10, 20, 40)


def test_a_decisive_case_stops_at_the_first_look():
    """x1000 apart: settled at round 10, long before the budget (100 rounds' worth)."""
    rounds, looked = _stopped({"fast": 0.001, "slow": 1.0}, budget_s=100.0)
    assert rounds == {"fast": 10, "slow": 10}
    assert looked == [10]


def test_a_tie_inside_the_margin_stops():
    """2% apart with 2% jitter: every interval inside +-10%, a settled tie at the first look."""
    rounds, looked = _stopped({"a": 0.01, "b": 0.0102}, budget_s=100.0)
    assert rounds == {"a": 10, "b": 10}
    assert looked == [10]


def test_an_unclear_case_runs_to_the_budget_without_the_futility_stop():
    """On the margin's edge (1.1x, jittered across it): no look settles it, so without the
    futility stop it runs until the budget is spent (~0.21 s for the first round, ~0.42 s for
    each later one: a settle call before each sample, the jitter averaging a little above: over
    10 s after round 25), looking at 10 and 20 only. With it (the default rule) the first look
    sees that even 50 rounds would leave the edge inside the interval: it stops there, a tie."""
    rounds, looked = _stopped({"a": 0.1, "b": 0.11}, budget_s=10.0, spread=0.1, futility=False)
    assert rounds == {"a": 25, "b": 25}
    assert looked == [10, 20]
    rounds, looked = _stopped({"a": 0.1, "b": 0.11}, budget_s=10.0, spread=0.1)
    assert rounds == {"a": 10, "b": 10}
    assert looked == [10]


def test_looks_happen_only_at_the_preset_rounds():
    """A test that always says "settled" stops at the first look, not at min_rounds nor after
    round 1: checking after every round (or from min_rounds on) fails here."""
    clock = FakeClock()
    looked: list[int] = []

    def always(samples) -> bool:
        looked.append(len(samples["a"]))
        return True

    runners = {n: clock.runner(n, 0.01) for n in "ab"}
    s = interleave(
        runners,
        dict.fromkeys("ab", 1),
        budget_s=100.0,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        looks=(10, 20, 40),
        settled=always,
    )
    assert looked == [10] and len(s["a"]) == 10

    looked.clear()
    never = lambda samples: bool(looked.append(len(samples["a"])))  # noqa: E731
    s = interleave(
        runners,
        dict.fromkeys("ab", 1),
        budget_s=100.0,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        looks=(3, 10, 20, 40),  # a look below min_rounds is skipped: min_rounds is the floor
        settled=never,
    )
    assert looked == [10, 20, 40] and len(s["a"]) == 50


def test_without_a_settled_test_the_whole_budget_is_spent():
    """stop_early: false passes no test: the decisive x1000 case runs to its budget."""
    clock = FakeClock()
    runners = {"fast": clock.runner("f", 0.001), "slow": clock.runner("s", 0.1)}
    s = interleave(
        runners,
        {"fast": 1, "slow": 1},
        budget_s=3.0,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        looks=(10, 20, 40),
        settled=None,
    )
    # 0.101 s for the first round, then 0.202 s (a settle call before each sample): over 3 s
    # after round 16
    assert len(s["fast"]) == 16


def test_calibrate_times_a_long_first_call_alone():
    """A first call 10x the target sets n_inner = 1 without the two warm-up calls; a shorter
    one still gets them (a call slowed by its predecessor must not set the count)."""
    clock = FakeClock()
    assert calibrate(clock.runner("a", 0.06), min_sample_s=0.005, max_inner=100, clock=clock) == 1
    assert clock.calls == ["a"]
    clock.calls.clear()
    assert calibrate(clock.runner("b", 0.04), min_sample_s=0.005, max_inner=100, clock=clock) == 1
    assert clock.calls == ["b"] * 3


def test_calibrate_grows_the_count_at_most_tenfold_per_step():
    """A first timed call that reads almost nothing (1 ns: the timer's resolution, a call that
    hit a cache) must not set the count alone: the next step is 10 calls, which take 10 ms at
    the real 1 ms a call, and that is the count. Without the x10 cap the estimate jumps to
    max_inner (a million calls, 1000 s)."""
    clock = FakeClock()
    costs = iter([1e-9, 1e-9, 1e-9])

    def run() -> None:
        clock.t += next(costs, 1e-3)

    n = calibrate(run, min_sample_s=0.005, max_inner=1_000_000, clock=clock)
    assert n == 10
    assert clock.t < 0.02


def test_the_garbage_collector_is_paused_only_while_a_sample_is_timed():
    """As timeit does: a collection is not charged to the sample that crosses the threshold.
    The settle calls around it run with the collector in its usual state."""
    import gc

    clock = FakeClock()
    during: list[bool] = []

    def run() -> None:
        during.append(gc.isenabled())
        clock.t += 0.01

    was = gc.isenabled()
    interleave({"a": run}, {"a": 2}, budget_s=0.05, min_rounds=2, max_rounds=2, clock=clock)
    assert gc.isenabled() == was
    # round 0: 4 settle calls (no reference: the cap), round 1: one (steady at once), with the
    # collector as before; each followed by a timed sample of 2 (paused)
    assert during == [was] * 4 + [False, False] + [was] + [False, False]


class AfterOther(FakeClock):
    """A fake machine where the first `slow` calls of a strategy named in `hurt` after another
    strategy's cost `factor` times its steady cost (the light strategy after a heavy one that
    freed a large result, measured in adbench.measure.timing.settle)."""

    def __init__(self, slow: int, factor: float, hurt: str = "la") -> None:
        super().__init__()
        self.slow, self.factor, self.hurt = slow, factor, hurt
        self.streak = 0

    def runner(self, name: str, cost: float):
        def run() -> None:
            last = self.calls[-1] if self.calls else None
            self.streak = self.streak + 1 if last == name else 1
            self.calls.append(name)
            hurt = name in self.hurt and self.streak <= self.slow
            self.t += cost * (self.factor if hurt else 1.0)

        return run


def test_settle_goes_on_until_the_calls_are_steady():
    """40 slow calls after the other strategy: the settle calls outlast them (round 0: the cap,
    40 calls; then chunks of n_inner // 4 = 5 until one runs within x1.25 of the best sample,
    at most 40 calls), so every sample reads 1 ms; the old
    rule (n_inner // 2 = 10 calls) would have read the first 20 calls of each sample x3."""
    clock = AfterOther(slow=40, factor=3.0)
    runners = {"light": clock.runner("l", 0.001), "heavy": clock.runner("h", 0.1)}
    s = interleave(
        runners,
        {"light": 20, "heavy": 1},
        budget_s=100.0,
        min_rounds=6,
        max_rounds=6,
        clock=clock,
    )
    assert s["light"] == pytest.approx([0.001] * 6)
    assert s["heavy"] == pytest.approx([0.1] * 6)


def test_settle_pays_one_chunk_when_already_steady_and_stops_at_its_cap():
    clock = FakeClock()
    # steady against its reference: one chunk of n_inner // 4 calls
    assert settle(clock.runner("a", 0.001), 20, 0.001, clock) == 5
    # within the steadiness factor still steady, beyond it not
    assert settle(clock.runner("a", 0.001), 20, 0.001 / 1.2, clock) == 5
    assert settle(clock.runner("a", 0.001), 20, 0.001 / 1.3, clock) == 2 * 20
    # never steady (a machine slower for a while, or no reference): 2 samples' worth, no more
    assert settle(clock.runner("a", 0.001), 20, None, clock) == 2 * 20
    assert settle(clock.runner("a", 0.001), 3, 0.001, clock) == 1  # chunks of at least one
    # a transient of 12 calls at x2: chunks of 5 until the first one wholly steady
    slow = AfterOther(slow=12, factor=2.0)
    slow.calls.append("other")
    assert settle(slow.runner("a", 0.001), 20, 0.001, slow) == 20


def test_calibrate_takes_a_long_warm_call_for_its_first():
    """A warm call the caller timed at over _LONG_CALL x the target: count 1 with no call
    made; a short one changes nothing (the count is still measured)."""
    clock = FakeClock()
    long_s = timing._LONG_CALL * 0.005
    run = clock.runner("a", 0.06)
    assert calibrate(run, min_sample_s=0.005, max_inner=100, clock=clock, warm_s=long_s) == 1
    assert clock.calls == []
    assert calibrate(run, min_sample_s=0.005, max_inner=100, clock=clock, warm_s=long_s / 2) == 1
    assert clock.calls == ["a"]  # measured: its own first call
    short = clock.runner("b", 1e-4)
    assert calibrate(short, min_sample_s=0.005, max_inner=10**6, clock=clock, warm_s=1e-4) == (
        calibrate(short, min_sample_s=0.005, max_inner=10**6, clock=clock)
    )
