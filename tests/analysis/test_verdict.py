"""N-way verdicts and rankings from exact synthetic results: winner, tie set, failures, memory
guard, break-even, the classic fwd/rev view and the textbook."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from builders import C, S, rows

from adbench.analysis.verdict import break_even_calls, judge, textbook, verdicts_for
from adbench.store import schema

MS = 1e-3


def frames(*cases: C) -> tuple[pd.DataFrame, pd.DataFrame]:
    res, smp = [], []
    for c in cases:
        r, s = rows(c)
        res += r
        smp += s
    return (
        pd.DataFrame(res).reindex(columns=list(schema.RESULT_COLUMNS)),
        pd.DataFrame(smp).reindex(columns=list(schema.SAMPLE_COLUMNS)),
    )


def verdict(*strategies: S, d_in: int = 10, d_out: int = 100, task: str = "jacobian") -> dict:
    res, smp = frames(C("f", d_in, d_out, strategies, task=task))
    (v,) = verdicts_for(res, smp).to_dict("records")
    return v


def test_textbook_rule():
    assert textbook(1, 10) == "jacfwd"
    assert textbook(10, 1) == "jacrev"
    assert textbook(5, 5) == "either"


def test_break_even_rounds_up():
    # winner's one-off cost is 1 s more, it saves 0.3 s per call: 3 calls save 0.9 s, not enough
    assert break_even_calls(0.1, 0.4, 2.0, 1.0) == 4
    assert break_even_calls(0.1, 0.2, 2.0, 1.0) == 10
    assert break_even_calls(0.1, 0.2, 1.0, 2.0) == 0  # cheaper one-off too: from the first call
    assert break_even_calls(0.1, 0.1, 2.0, 1.0) == math.inf
    assert math.isnan(break_even_calls(math.nan, 0.2, 1.0, 1.0))


def test_fastest_of_several_with_evidence():
    v = verdict(
        S("jacfwd", 1 * MS, flops=10.0, compile_s=0.5),
        S("jacrev", 4 * MS, flops=1000.0, compile_s=0.2),
        S("linearize", 2 * MS, compile_s=0.2),
        S("jacfwd_chunked", 1.5 * MS),
    )
    assert v["recommended"] == "jacfwd" and v["runner_up"] == "jacfwd_chunked"
    assert isinstance(v["tie_set"], float)  # empty
    assert v["speedup"] == pytest.approx(1.5, rel=0.03)
    assert v["ratio_ci_high"] < 1 / 1.1
    assert (v["n_ran"], v["n_strategies"]) == (4, 4)
    assert v["fwd_rev"] == "jacfwd" and v["fwd_rev_ratio"] == pytest.approx(0.25, rel=0.03)
    assert v["flop_ratio"] == pytest.approx(0.01)
    assert v["textbook"] == "jacfwd" and v["agrees_with_textbook"] == "yes"
    assert v["reason"].startswith("jacfwd 1.49x faster than jacfwd_chunked: ")


def test_break_even_is_against_the_runner_up_and_counts_setup():
    # sparse: 0.5 s of setup, 0.1 ms per call; runner-up fwd_over_rev 0.5 ms: ceil(0.5 / 0.4e-3)
    v = verdict(
        S("fwd_over_rev", 0.5 * MS, spread=(1.0,)),
        S("rev_over_rev", 0.8 * MS, spread=(1.0,)),
        S("sparse", 0.1 * MS, setup_s=0.5, spread=(1.0,)),
        task="hessian",
        d_out=1,
    )
    assert v["recommended"] == "sparse" and v["runner_up"] == "fwd_over_rev"
    median = 1.05  # the median per-round drift multiplies every time
    assert v["break_even_calls"] == math.ceil(0.5 / (0.4 * MS * median))


def test_tie_names_every_strategy_not_separated_and_claims_no_speedup():
    v = verdict(
        S("jacfwd", 1.00 * MS),
        S("jacrev", 1.04 * MS),
        S("linearize", 1.08 * MS),
        S("jacfwd_chunked", 3 * MS),
    )
    assert v["recommended"] == "tie"
    assert v["tie_set"] == "jacfwd|jacrev|linearize"
    assert math.isnan(v["speedup"]) and math.isnan(v["break_even_calls"])
    assert v["runner_up"] == "jacrev"
    assert "tie between jacfwd, jacrev, linearize" in v["reason"]


def test_the_margin_holds_on_the_jacrev_side_too():
    """jacrev 5% faster, consistently: an interval above 1 but inside 1 + margin is a tie."""
    v = verdict(S("jacfwd", 1.05 * MS, spread=(1.0,)), S("jacrev", 1.0 * MS, spread=(1.0,)))
    assert v["fwd_rev_ci_low"] > 1.0
    assert v["fwd_rev"] == "tie" and v["recommended"] == "tie"
    assert v["tie_set"] == "jacrev|jacfwd"
    v = verdict(S("jacfwd", 1.2 * MS, spread=(1.0,)), S("jacrev", 1.0 * MS, spread=(1.0,)))
    assert v["fwd_rev"] == "jacrev" == v["recommended"]


def test_with_two_strategies_the_verdict_is_the_fwd_rev_view():
    for ratio in (0.85, 0.92, 0.95, 1.0, 1.06, 1.09, 1.12, 1.3):
        v = verdict(S("jacfwd", ratio * MS), S("jacrev", 1.0 * MS))
        assert v["recommended"] == v["fwd_rev"], ratio


def test_a_failed_strategy_leaves_the_verdict_to_those_that_ran():
    custom_vjp = "jacfwd failed to compile: TypeError: can't apply forward-mode autodiff (jvp)"
    v = verdict(S("jacfwd", status="error", reason=custom_vjp), S("jacrev", 1 * MS))
    assert v["recommended"] == "jacrev"
    assert v["reason"].startswith("jacrev: the only strategy that ran; jacfwd error: ")
    assert custom_vjp in v["reason"]
    assert (v["n_ran"], v["n_strategies"]) == (1, 2)
    assert math.isnan(v["speedup"]) and v["fwd_rev"] == "n/a"


def test_nothing_ran_is_none():
    v = verdict(S("jacfwd", status="error", reason="boom"), S("jacrev", status="timeout"))
    assert v["recommended"] == "none" and v["n_ran"] == 0
    assert v["reason"] == "no strategy ran: jacfwd error: boom; jacrev timeout: "


def test_fastest_unfit_names_a_refused_strategy_with_fewer_flops():
    refused = "estimated 40 GiB exceeds the 8 GiB budget"
    v = verdict(
        S("jacfwd", 30 * MS, flops=4e9),
        S("jacrev", status="memory", reason=refused, flops=1e8),
        S("sparse", status="memory", reason=refused, flops=5e9),
    )
    assert v["recommended"] == "jacfwd" and v["fastest_unfit"] == "jacrev"
    assert "jacrev memory: estimated 40 GiB" in v["reason"]
    # within the margin of the fastest's flops: no evidence that it would be faster
    v = verdict(
        S("jacfwd", 30 * MS, flops=4e9), S("jacrev", status="memory", reason=refused, flops=3.8e9)
    )
    assert isinstance(v["fastest_unfit"], float)  # empty
    # an error is not the memory guard: never "unfit"
    v = verdict(S("jacfwd", 30 * MS, flops=4e9), S("jacrev", status="error", flops=1e3))
    assert isinstance(v["fastest_unfit"], float)


def test_ranking_gives_relative_times_and_shares_first_place_in_a_tie():
    res, smp = frames(
        C(
            "f",
            10,
            100,
            (
                S("jacfwd", 1.00 * MS),
                S("jacrev", 1.04 * MS),
                S("linearize", 2.0 * MS),
                S("sparse", status="error", reason="no pattern"),
            ),
        )
    )
    ranking = judge(res, smp).ranking
    assert list(ranking.columns) == list(schema.RANKING_COLUMNS)
    r = ranking.set_index("strategy")
    assert list(r["rank"].fillna(0)) == [1, 1, 3, 0]
    assert r.loc["jacfwd", "rel_time"] == 1.0 and r.loc["jacfwd", "reason"] == "fastest"
    assert r.loc["linearize", "rel_time"] == pytest.approx(2.0, rel=0.03)
    assert r.loc["linearize", "rel_ci_low"] > 1.1
    assert r.loc["jacrev", "reason"].startswith("tied with jacfwd")
    assert r.loc["sparse", "reason"] == "error: no pattern"
    assert r.loc["jacfwd", "once_s"] == pytest.approx(0.06)


def test_a_hessian_has_no_fwd_rev_view_or_textbook():
    v = verdict(S("fwd_over_rev", 1 * MS), S("rev_over_rev", 3 * MS), task="hessian", d_out=1)
    assert v["recommended"] == "fwd_over_rev"
    assert v["textbook"] == "n/a" and isinstance(v["fwd_rev"], float)


def test_columns_are_the_schema():
    res, smp = frames(C("f", 1, 10, (S("jacfwd", MS), S("jacrev", 2 * MS))))
    judged = judge(res, smp)
    assert list(judged.verdicts.columns) == list(schema.VERDICT_COLUMNS)
    empty = judge(res.iloc[0:0], smp.iloc[0:0])
    assert list(empty.verdicts.columns) == list(schema.VERDICT_COLUMNS)
    assert list(empty.ranking.columns) == list(schema.RANKING_COLUMNS)


# --- rules that must hold (issue 19: mutants that survived the suite) -------------------------


def _case(samples: dict[str, list[float]], **extra: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One Jacobian case (10 -> 100) whose strategies took these seconds in rounds 0, 1, ...;
    ``extra``: more results columns per strategy."""
    key = dict(case_id="f/10x100", family="f", task="jacobian", d_in=10, d_out=100, batch=1)
    key |= {"host": "h", "device": "cpu:0"}
    res = [
        {**key, "strategy": s, "status": "ok", "median_s": float(pd.Series(v).median())}
        | extra.get(s, {})
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


def test_a_missing_setup_s_counts_zero_not_nan():
    """A version-1 directory has no setup_s: break-even must still be computed (from lower +
    compile alone), not become NaN."""
    fwd = [1e-3 * (1 + 0.01 * (i % 3)) for i in range(9)]
    rev = [2e-3 * (1 + 0.01 * (i % 2)) for i in range(9)]
    once = {"lower_s": 0.01, "compile_s": 0.5, "setup_s": math.nan}
    res, smp = _case(
        {"jacfwd": fwd, "jacrev": rev},
        jacfwd=once,
        jacrev={"lower_s": 0.01, "compile_s": 0.2, "setup_s": math.nan},
    )
    (v,) = judge(res, smp).verdicts.to_dict("records")
    assert v["recommended"] == "jacfwd"
    gain = float(pd.Series(rev).median() - pd.Series(fwd).median())
    assert v["break_even_calls"] == math.ceil(0.3 / gain)


def test_a_strategy_ahead_of_the_chosen_one_stays_in_the_tie_set():
    """Per-round ratios need not be transitive when strategies were timed in different rounds:
    here jacfwd has the smallest stored median, linearize is the most ahead of it (over rounds
    0-19) and is chosen, but jacrev beats linearize 2x in every round they share (0-9). The
    docstring's promise: jacrev is not ranked behind, it is in the tie set (dropping from the
    tie set only those the evidence cannot separate, rather than keeping all that are not
    beaten, would leave linearize recommended)."""
    fwd = [1.0] * 20 + [0.01] * 21
    rev = [0.5] * 10
    lin = [1.0] * 10 + [0.1] * 10
    res, smp = _case({"jacfwd": fwd, "jacrev": rev, "linearize": lin})
    judged = judge(res, smp)
    (v,) = judged.verdicts.to_dict("records")
    assert v["recommended"] == "tie"
    assert set(v["tie_set"].split("|")) == {"linearize", "jacrev", "jacfwd"}
    assert v["tie_set"].split("|")[0] == "linearize"
    rank = judged.ranking.set_index("strategy")["rank"]
    assert rank["jacrev"] == 1


def test_the_tie_rule_is_symmetric_in_log_space():
    """ "Within the margin" is [1/(1+m), 1+m]: ±10% means 0.909-1.1, so t(a)/t(b) and t(b)/t(a)
    of the same data are judged alike. An interval from 0.905 is not inside (with 1 - m, 0.9,
    it would be, and the verdict would say "within the ±10% margin")."""
    from adbench.analysis import stats

    est = stats.RatioEstimate(0.93, 0.905, 1.05, 12)
    assert not stats.within_margin(est, 0.1)
    flipped = stats.RatioEstimate(1 / 0.93, 1 / 1.05, 1 / 0.905, 12)
    assert not stats.within_margin(flipped, 0.1)
    assert stats.within_margin(stats.RatioEstimate(0.95, 0.91, 1.09, 12), 0.1)
    # the verdict reads the same rule: ratios 0.903-0.97, interval from ~0.905
    ratios = [0.903, 0.904, 0.905, 0.906, 0.907, 0.93, 0.94, 0.95, 0.96, 0.97]
    res, smp = _case({"jacfwd": ratios, "jacrev": [1.0] * len(ratios)})
    (v,) = judge(res, smp).verdicts.to_dict("records")
    assert v["recommended"] == "tie" and 0.9 < v["ratio_ci_low"] < 1 / 1.1
    assert "not separated beyond the margin" in v["reason"]
