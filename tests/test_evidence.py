"""Evidence before a decision (issue 17): the least number of paired rounds a verdict may rest
on, ``undecided`` below it, the timing loop extending a case up to ``max_case_s`` to reach it,
and racing (a hopeless strategy eliminated at a look, the contenders given the budget).

The timing loop runs on a fake clock (as tests/measure/test_timing.py), so no JAX and no wall
clock: every figure is exact by construction."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from adbench.analysis import decision, sequential
from adbench.analysis.verdict import judge
from adbench.measure.timing import interleave, race
from adbench.store import schema


class FakeClock:
    """A clock that moves only when a fake runner runs."""

    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.t

    def runner(self, name: str, cost: float, spread: float = 0.0, seed: int = 0):
        """Calls cost `cost` x a log-normal factor of sigma `spread` (a fixed stream per seed)."""
        rng = np.random.default_rng(seed)

        def run() -> None:
            self.calls.append(name)
            self.t += cost * (float(np.exp(rng.normal(0.0, spread))) if spread else 1.0)

        return run


def frames(
    samples: Mapping[str, Sequence[float]],
    *,
    case_id: str = "f/3x3",
    d_in: int = 3,
    d_out: int = 3,
    task: str = "jacobian",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """results and samples tables of one case whose strategies took these seconds per round."""
    key = dict(
        case_id=case_id, family="f", task=task, d_in=d_in, d_out=d_out, batch=1, host="h"
    ) | {"device": "cpu:0"}
    res = [
        {**key, "strategy": s, "status": schema.STATUS_OK, "median_s": float(np.median(v))}
        for s, v in samples.items()
    ]
    smp = [
        {**key, "strategy": s, "round": i, "position": 0, "n_inner": 1, "seconds": t}
        for s, v in samples.items()
        for i, t in enumerate(v)
    ]
    return (
        pd.DataFrame(res).reindex(columns=list(schema.RESULT_COLUMNS)),
        pd.DataFrame(smp).reindex(columns=list(schema.SAMPLE_COLUMNS)),
    )


def verdict_of(samples: Mapping[str, Sequence[float]], **kw) -> dict:
    """The verdict row of one case, with ``n_rounds``: the fewest paired rounds it rests on
    (the least of its ranking's, which holds each strategy's with the fastest)."""
    res, smp = frames(samples, **kw)
    judged = judge(res, smp, margin=0.1)
    return {**judged.verdicts.iloc[0].to_dict(), "n_rounds": int(judged.ranking["n_rounds"].min())}


def _jittered(n: int, seconds: float, seed: int, spread: float = 0.02) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(seconds * np.exp(rng.normal(0.0, spread, n)))


# ---------------------------------------- the minimum, from first principles


def test_the_minimum_is_where_a_95_percent_interval_becomes_attainable():
    """[min, max] of n ratios misses the median with probability 0.5**n on each side; the
    verdict's 95% interval (2.5% a side) is attainable from the first n where 0.5**n <= 0.025.
    A minimum of 5 (6.25% a side even for [min, max]) or of 7 fails here."""
    attainable = next(n for n in range(1, 50) if 0.5**n <= 0.025)
    assert decision.MIN_ROUNDS == attainable == 6


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_clear_difference_on_too_few_rounds_is_undecided_not_a_recommendation(n: int):
    """x2 apart, jitter 2%: beyond the margin at any n, yet below the minimum no decision."""
    v = verdict_of({"jacfwd": _jittered(n, 1e-3, 1), "jacrev": _jittered(n, 2e-3, 2)})
    assert v["recommended"] == decision.UNDECIDED
    assert v["reason"].startswith(f"undecided: {n} rounds: too few to decide")
    assert v["n_rounds"] == n
    assert v["fwd_rev"] == decision.UNDECIDED  # the two-mode view rests on the same rounds
    assert math.isnan(v["speedup"]) and math.isnan(v["break_even_calls"])
    assert v["agrees_with_textbook"] == "n/a"


def test_at_the_minimum_the_same_difference_is_decided():
    n = decision.MIN_ROUNDS
    v = verdict_of({"jacfwd": _jittered(n, 1e-3, 1), "jacrev": _jittered(n, 2e-3, 2)})
    assert v["recommended"] == "jacfwd" and v["fwd_rev"] == "jacfwd"
    assert v["n_rounds"] == n


def test_a_tie_inside_the_margin_needs_the_rounds_too():
    """1% apart: a tie inside the margin from 6 rounds; undecided (not a tie) from 5."""
    few = verdict_of({"jacfwd": _jittered(5, 1e-3, 1), "jacrev": _jittered(5, 1.01e-3, 2)})
    assert few["recommended"] == decision.UNDECIDED and not isinstance(few["tie_set"], str)
    n = decision.MIN_ROUNDS
    enough = verdict_of({"jacfwd": _jittered(n, 1e-3, 1), "jacrev": _jittered(n, 1.01e-3, 2)})
    assert enough["recommended"] == decision.TIE
    assert "within the ±10% margin" in enough["reason"]


def test_undecided_ranking_holds_no_rank_but_keeps_the_data():
    res, smp = frames({"jacfwd": _jittered(3, 1e-3, 1), "jacrev": _jittered(3, 2e-3, 2)})
    ranking = judge(res, smp, margin=0.1).ranking
    assert ranking["rank"].isna().all()
    assert ranking["rel_time"].notna().all()
    assert ranking["reason"].str.contains("too few to decide").all()


def test_the_only_strategy_that_ran_needs_no_rounds_to_compare():
    v = verdict_of({"jacrev": [1e-3, 1e-3]})
    assert v["recommended"] == "jacrev" and "the only strategy that ran" in v["reason"]
    assert not decision.is_decisive(v)  # a fact, not a decision


def test_is_decisive_is_the_one_rule():
    assert decision.is_decisive({"recommended": "jacfwd", "n_ran": 2})
    for rec in ("tie", "none", "undecided", "n/a", "", None, math.nan):
        assert not decision.is_decisive({"recommended": rec, "n_ran": 3}), rec
    assert not decision.is_decisive({"recommended": "jacfwd", "n_ran": 1})
    assert decision.is_decisive({"recommended": "jacfwd"})  # an older table without n_ran


# ---------------------------------------- done when: no verdict rests on fewer


def _random_case(rng: np.random.Generator) -> tuple[dict[str, float], float]:
    """2-4 strategies: a base call of 0.1-50 ms times factors from near-ties (1, 1.03) to x100;
    a budget of 3 ms-3 s."""
    k = int(rng.integers(2, 5))
    base = float(10 ** rng.uniform(-4, -1.3))
    factors = rng.choice([1.0, 1.03, 1.5, 3.0, 100.0], size=k - 1)
    costs = {"s0": base} | {f"s{j + 1}": base * float(f) for j, f in enumerate(factors)}
    return costs, float(10 ** rng.uniform(-2.5, 0.5))


def test_no_verdict_rests_on_fewer_rounds_than_the_minimum_over_random_budgets_and_call_times():
    """200 cases (_random_case: calls of 0.1 ms-5 s, budgets of 3 ms-3 s) through the
    timing loop (fake clock, the default stopping rule and racing) and the verdict. Every
    verdict that is not undecided rests on >= MIN_ROUNDS paired rounds (a lower minimum in
    decision.py, or a timing loop that stops at min_rounds, fails); every case whose floor fits
    in max_case_s (6 rounds of settle + sample calls within 3 budgets) is decided or tied, never
    undecided (a loop that does not extend past the budget fails); racing never leaves a
    contender short of the minimum."""
    rng = np.random.default_rng(17)
    rule = sequential.rule(5, 50, 0.1)
    need = next(
        n for n in range(1, 50) if 0.5**n <= 0.025
    )  # from first principles, not the constant
    seen = {"undecided": 0, "decided": 0, "tie": 0}
    for i in range(200):
        costs, budget = _random_case(rng)
        clock = FakeClock()
        runners = {
            s: clock.runner(s, c, spread=0.03, seed=i * 10 + j)
            for j, (s, c) in enumerate(costs.items())
        }
        timed = race(
            runners,
            dict.fromkeys(costs, 1),
            budget_s=budget,
            min_rounds=5,
            max_rounds=50,
            clock=clock,
            looks=rule.looks,
            settled=rule.settled,
            eliminate=rule.eliminate,
        )
        v = verdict_of(dict(timed.samples))
        rounds = min(len(x) for s, x in timed.samples.items() if s not in timed.eliminated)
        if v["recommended"] == decision.UNDECIDED:
            seen["undecided"] += 1
            assert v["n_rounds"] < need
        else:
            seen["tie" if v["recommended"] == "tie" else "decided"] += 1
            assert v["n_rounds"] >= need, (costs, budget, v["reason"])
            assert rounds >= need
        round_s = sum(2 * c for c in costs.values())  # a sample and at most one settle call
        if round_s * need <= 3 * budget:
            assert v["recommended"] != decision.UNDECIDED, (costs, budget, v["reason"])
    assert min(seen.values()) >= 10, seen  # every kind of verdict was exercised


# ----------------------------------------------------------------- max_case_s


def test_a_case_extends_past_its_budget_to_the_minimum():
    clock = FakeClock()
    runners = {n: clock.runner(n, 0.1) for n in "ab"}  # 0.2 s a round, budget 0.3 s
    s = interleave(
        runners,
        dict.fromkeys("ab", 1),
        budget_s=0.3,
        min_rounds=2,
        max_rounds=50,
        clock=clock,
        max_case_s=5.0,
    )
    assert len(s["a"]) == decision.MIN_ROUNDS


def test_max_case_s_caps_the_extension_and_defaults_to_three_budgets():
    """1 s a round, budget 1 s: the floor (6 rounds) would take 6 s. By default the case stops
    at 3 budgets (3 rounds: its verdict says undecided); max_case_s 4.5 gives it 5 (a cap of
    2 budgets, or 4, fails here)."""
    clock = FakeClock()
    runners = {n: clock.runner(n, 0.5) for n in "ab"}
    kw = dict(budget_s=1.0, min_rounds=5, max_rounds=50, clock=clock)
    assert len(interleave(runners, dict.fromkeys("ab", 1), **kw)["a"]) == 3
    assert len(interleave(runners, dict.fromkeys("ab", 1), max_case_s=4.5, **kw)["a"]) == 5
    assert len(interleave(runners, dict.fromkeys("ab", 1), max_case_s=0.5, **kw)["a"]) == 2


def test_max_case_s_is_a_run_file_setting():
    from adbench.config.model import RunConfig
    from adbench.measure.case import Settings

    fam = {"name": "f", "builtin": "power", "d_in": [3], "d_out": [3]}
    assert RunConfig(families=[fam]).max_case_s is None
    assert RunConfig(families=[fam], max_case_s=7.5).max_case_s == 7.5
    with pytest.raises(ValueError, match="max_case_s"):
        RunConfig(families=[fam], max_case_s=0)
    assert Settings().max_case_s is None


# ----------------------------------------------------------------- racing


def _hessian_runners(clock: FakeClock, spread: float = 0.2) -> dict:
    """Issue 17's 67-parameter Hessian: fwd_over_rev 3 ms, rev_over_rev 1.3x it (1.25-1.44x
    measured), sparse 1.02x, rev_over_fwd 0.3 s (x100), each call +-20% (log-normal): one
    round ~0.31 s, so a 2 s budget buys 6-7 rounds, ~97% of each spent on rev_over_fwd."""
    costs = {"fwd_over_rev": 3e-3, "rev_over_fwd": 0.3, "rev_over_rev": 3.9e-3, "sparse": 3.06e-3}
    return {s: clock.runner(s, c, spread, seed=j) for j, (s, c) in enumerate(costs.items())}


def _hessian(racing: bool):
    clock = FakeClock()
    rule = sequential.rule(5, 50, 0.1)
    timed = race(
        _hessian_runners(clock),
        dict.fromkeys(("fwd_over_rev", "rev_over_fwd", "rev_over_rev", "sparse"), 1),
        budget_s=2.0,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        looks=rule.looks,
        settled=rule.settled,
        eliminate=rule.eliminate if racing else None,
    )
    res, smp = frames(dict(timed.samples), task="hessian", d_in=67, d_out=1)
    judged = judge(res, smp, margin=0.1)
    return timed, judged, clock.t


def test_racing_drops_the_hopeless_strategy_and_the_contenders_decision_comes():
    timed, judged, spent = _hessian(racing=True)
    assert timed.eliminated == {"rev_over_fwd": 10}  # at the first look, and only it
    assert len(timed.samples["rev_over_fwd"]) == 10  # no more rounds after it, samples kept
    contenders = [len(timed.samples[s]) for s in ("fwd_over_rev", "rev_over_rev", "sparse")]
    assert min(contenders) > 10  # the budget went on to them
    v = judged.verdicts.iloc[0]
    assert v["recommended"] in ("fwd_over_rev", "tie")
    tied = str(v["tie_set"]).split("|") if v["recommended"] == "tie" else [v["recommended"]]
    assert "fwd_over_rev" in tied and "rev_over_rev" not in tied and "rev_over_fwd" not in tied
    rank = judged.ranking.set_index("strategy")
    assert rank.loc["rev_over_fwd", "eliminated_at_round"] == 10  # stored, still ranked
    assert rank.loc["rev_over_fwd", "rank"] == 4 and rank.loc["rev_over_rev", "rank"] == 3
    assert math.isnan(rank.loc["fwd_over_rev", "eliminated_at_round"])
    assert spent <= 3 * 2.0  # within max_case_s


def test_without_racing_the_same_case_is_not_separated():
    """The issue's symptom: the 0.3 s strategy eats the budget, the contenders get 7 rounds
    and rev_over_rev stays in the tie."""
    timed, judged, _ = _hessian(racing=False)
    assert not timed.eliminated
    assert len({len(v) for v in timed.samples.values()}) == 1
    assert len(timed.samples["fwd_over_rev"]) < 10  # the budget is gone before the first look
    v = judged.verdicts.iloc[0]
    assert v["recommended"] != "fwd_over_rev"
    assert "rev_over_rev" in str(v["tie_set"]).split("|")


def test_positions_follow_the_rotation_of_those_still_timed():
    clock = FakeClock()
    runners = {n: clock.runner(n, c) for n, c in (("a", 0.001), ("b", 0.1), ("c", 0.0011))}
    timed = race(
        runners,
        dict.fromkeys("abc", 1),
        budget_s=100.0,
        min_rounds=5,
        max_rounds=14,
        clock=clock,
        looks=(10,),
        eliminate=lambda s: ("b",),
    )
    assert timed.eliminated == {"b": 10}
    assert len(timed.samples["b"]) == 10 and len(timed.samples["a"]) == 14
    assert timed.positions["a"][10:] == (0, 1, 0, 1)  # two left: alternation
    assert sorted(timed.positions["a"][:3]) == [0, 1, 2]


def test_the_fastest_is_never_eliminated():
    rounds = {"fast": _jittered(10, 1e-3, 1), "slow": _jittered(10, 1e-1, 2)}
    assert sequential.eliminated(rounds, margin=0.1, confidence=0.999) == ("slow",)
    assert sequential.eliminated({"fast": rounds["fast"]}, margin=0.1, confidence=0.999) == ()
    short = {k: v[:5] for k, v in rounds.items()}  # below the minimum: nothing is decided
    assert sequential.eliminated(short, margin=0.1, confidence=0.999) == ()


def _slow_first_look(racing: bool):
    """A 0.7 s strategy beside two 3-4 ms ones: the 2 s budget is spent before the 6-round floor
    and the first look (10 rounds, ~7 s) lies beyond the 6 s cap."""
    clock = FakeClock()
    costs = {"fast": 3e-3, "slow": 0.7, "near": 3.9e-3}
    rule = sequential.rule(5, 50, 0.1)
    timed = race(
        {s: clock.runner(s, c, 0.2, seed=j) for j, (s, c) in enumerate(costs.items())},
        dict.fromkeys(costs, 1),
        budget_s=2.0,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        looks=rule.looks,
        settled=rule.settled,
        eliminate=rule.eliminate if racing else None,
    )
    return timed, clock.t


def test_where_the_case_would_stop_short_of_the_first_look_it_eliminates_once():
    """The round where the case would stop (floor reached, budget spent, first look out of reach)
    is one elimination look: the hopeless strategy goes there, keeping its 6 samples, and the
    contenders get the rest of the budget within the cap; without racing the case stops at 6."""
    timed, spent = _slow_first_look(racing=True)
    assert timed.eliminated.get("slow") == 6
    assert len(timed.samples["slow"]) == 6
    assert min(len(timed.samples[s]) for s in ("fast", "near")) > 10
    assert spent <= 3 * 2.0 + 0.7 * 1.5
    plain, _ = _slow_first_look(racing=False)
    assert not plain.eliminated and {len(v) for v in plain.samples.values()} == {6}


def test_the_default_cap_lets_an_ordinary_case_of_a_tiny_budget_reach_the_floor():
    """Three budgets of 1 ms cannot hold 6 rounds of two 5 ms samples: the default cap is at
    least twice the floor's cost at min_sample_s-long samples, and still three budgets when
    those are more; one strategy has no floor to reach."""
    from adbench.measure.timing import default_cap

    floor = decision.MIN_ROUNDS * 2 * 0.005
    assert default_cap(0.001, 2, 0.005) >= 2 * floor
    assert default_cap(0.001, 2, 0.005) < 4 * floor
    assert default_cap(0.001, 4, 0.005) >= 2 * 2 * floor  # more strategies, a longer floor
    assert default_cap(2.0, 2, 0.005) == 6.0
    assert default_cap(0.001, 1, 0.005) == 0.003
    clock = FakeClock()
    timed = race(
        {s: clock.runner(s, 0.005) for s in ("a", "b")},
        {"a": 1, "b": 1},
        budget_s=0.001,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        max_case_s=default_cap(0.001, 2, 0.005),
    )
    assert {len(v) for v in timed.samples.values()} == {decision.MIN_ROUNDS}
