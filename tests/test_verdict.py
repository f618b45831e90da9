"""Verdicts from exact synthetic results: winner, tie, failures, break-even, textbook."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from adbench.analysis.stats import RatioEstimate
from adbench.analysis.verdict import break_even_calls, decide, textbook, verdicts_for
from adbench.store import schema


def _results(fwd: dict, rev: dict, d_in: int = 1, d_out: int = 100) -> pd.DataFrame:
    base = dict(
        case_id=f"f/{d_in}x{d_out}",
        family="f",
        d_in=d_in,
        d_out=d_out,
        device="cpu:0",
        status="ok",
        reason="",
        lower_s=0.01,
        flops=100.0,
        temp_bytes=10.0,
    )
    rows = [{**base, "strategy": "jacfwd", **fwd}, {**base, "strategy": "jacrev", **rev}]
    return pd.DataFrame(rows).reindex(columns=list(schema.RESULT_COLUMNS))


def _samples(fwd: list[float], rev: list[float], d_in: int = 1, d_out: int = 100) -> pd.DataFrame:
    rows = []
    for mode, xs in (("jacfwd", fwd), ("jacrev", rev)):
        for i, s in enumerate(xs):
            rows.append(
                dict(
                    case_id=f"f/{d_in}x{d_out}",
                    family="f",
                    d_in=d_in,
                    d_out=d_out,
                    device="cpu:0",
                    strategy=mode,
                    round=i,
                    n_inner=10,
                    seconds=s,
                )
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.5, 0.8, "jacfwd"),
        (1.2, 1.5, "jacrev"),
        (0.95, 1.05, "tie"),
        (0.85, 0.95, "tie"),
        (0.5, 1.5, "tie"),
        (math.nan, math.nan, "tie"),
    ],
)
def test_decide_needs_the_whole_interval_beyond_the_margin(lo, hi, expected):
    assert decide(RatioEstimate(1.0, lo, hi, 10), 0.1) == expected


def test_margin_is_settable():
    assert decide(RatioEstimate(0.87, 0.8, 0.95, 5), 0.1) == "tie"
    assert decide(RatioEstimate(0.87, 0.8, 0.95, 5), 0.05) == "jacfwd"


def test_textbook_rule():
    assert textbook(1, 10) == "jacfwd"
    assert textbook(10, 1) == "jacrev"
    assert textbook(5, 5) == "either"


def test_break_even():
    # winner compiles 1 s longer and saves 0.1 s per call: 10 calls to repay
    assert break_even_calls(0.1, 0.2, 2.0, 1.0) == 10
    assert break_even_calls(0.1, 0.2, 1.0, 2.0) == 0  # cheaper compile too: from the first call
    assert break_even_calls(0.1, 0.1, 2.0, 1.0) == math.inf
    assert math.isnan(break_even_calls(math.nan, 0.2, 1.0, 1.0))


def test_forward_wins_with_evidence():
    res = _results(
        {"median_s": 1e-3, "compile_s": 0.5, "flops": 10.0},
        {"median_s": 4e-3, "compile_s": 0.2, "flops": 1000.0},
    )
    s = _samples([1e-3] * 5, [4e-3] * 5)
    (v,) = verdicts_for(res, s).to_dict(orient="records")
    assert v["recommended"] == "jacfwd"
    assert v["fwd_rev_ratio"] == pytest.approx(0.25)
    assert v["speedup"] == pytest.approx(4.0)
    assert v["flop_ratio"] == pytest.approx(0.01)
    # fwd's one-off cost is 0.3 s more; it saves 3 ms per call -> 100 calls
    assert v["break_even_calls"] == 100
    assert v["textbook"] == "jacfwd" and v["agrees_with_textbook"] == "yes"
    assert "jacfwd 4x faster" in v["reason"]


def test_reverse_wins_against_the_textbook():
    res = _results({"median_s": 3e-3, "compile_s": 0.1}, {"median_s": 1e-3, "compile_s": 0.1})
    v = verdicts_for(res, _samples([3e-3] * 4, [1e-3] * 4)).iloc[0]
    assert v["recommended"] == "jacrev" and v["agrees_with_textbook"] == "no"


def test_tie_when_within_margin():
    res = _results({"median_s": 1.0e-3, "compile_s": 0.1}, {"median_s": 1.05e-3, "compile_s": 0.1})
    fwd = [1.0e-3, 1.02e-3, 0.98e-3, 1.01e-3]
    rev = [1.05e-3, 1.06e-3, 1.04e-3, 1.05e-3]
    v = verdicts_for(res, _samples(fwd, rev)).iloc[0]
    assert v["recommended"] == "tie"
    assert "within the ±10% margin" in v["reason"]
    assert math.isnan(v["break_even_calls"])


def test_failed_mode_gives_no_verdict_and_says_why():
    res = _results({"median_s": 1e-3}, {"status": "memory", "reason": "needs ~40 GiB"})
    v = verdicts_for(res, _samples([1e-3] * 3, [])).iloc[0]
    assert v["recommended"] == "n/a"
    assert "jacrev memory: needs ~40 GiB" in v["reason"]


def test_single_mode_run_has_no_verdict():
    res = _results({"median_s": 1e-3}, {}).iloc[[0]]
    v = verdicts_for(res, _samples([1e-3] * 3, [])).iloc[0]
    assert v["recommended"] == "n/a" and "needs both modes" in v["reason"]


def test_columns_are_the_schema():
    res = _results({"median_s": 1e-3}, {"median_s": 2e-3})
    out = verdicts_for(res, _samples([1e-3] * 3, [2e-3] * 3))
    assert list(out.columns) == list(schema.VERDICT_COLUMNS)
    assert list(verdicts_for(res.iloc[0:0], _samples([], [])).columns) == list(
        schema.VERDICT_COLUMNS
    )
