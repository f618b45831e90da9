"""The timing loop (adbench.run.timing) with a fake clock: calibration, settling, interleaving
with the order rotated every round, stopping rules. No JAX, no wall clock."""

from __future__ import annotations

from collections import Counter

import pytest

from adbench.run.timing import calibrate, interleave, round_order, settle_calls


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
    # two strategies: rotation is alternation; each sample is preceded by untimed settle calls
    # (half a sample, or from round 1 on one for a cheap single call): [f] ff [r] r
    assert "".join(clock.calls) == "fffr" + "rr" + "fff" + "fff" + "rr" + "rr" + "fff"


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
    assert len(s["jacfwd"]) == 3  # 0.2 s per round: over 0.5 s after the third


def test_interleave_caps_a_giant_case_at_three_budgets():
    clock = FakeClock()
    runners = {"jacfwd": clock.runner("f", 1.0), "jacrev": clock.runner("r", 1.0)}
    s = interleave(
        runners, {"jacfwd": 1, "jacrev": 1}, budget_s=1.0, min_rounds=10, max_rounds=50, clock=clock
    )
    assert len(s["jacfwd"]) == 2
