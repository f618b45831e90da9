"""The estimator rule in the verdict, on exact synthetic rows (tests/builders.py): an estimate
(hutchinson, stde) is recommended only when its family set ``tolerance`` and its measured
relative error is below it, and the verdict then quotes the trade ("x k faster than ... at
relative error e"); set aside, it is unranked and its row says why."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
from builders import C, S, rows

from adbench.analysis.verdict import judge

MS = 1e-3


def judged(
    error: float, tolerance: float | None, stde_s: float | None = None
) -> tuple[dict, pd.DataFrame]:
    """hutchinson (0.3 ms) against forward_laplacian (0.8 ms) and hessian_trace (1 ms), and
    stde at ``stde_s`` (same error and tolerance) when given."""
    strategies = (
        S("hessian_trace", 1.0 * MS),
        S("forward_laplacian", 0.8 * MS),
        S("hutchinson", 0.3 * MS),
    )
    if stde_s is not None:
        strategies = (*strategies, S("stde", stde_s))
    res, smp = rows(C("lap", 16, 1, strategies, task="laplacian"))
    for r in res:
        est = r["strategy"] in ("hutchinson", "stde")
        r["samples"] = 4 if est else math.nan
        r["rel_error_mean"] = error if est else math.nan
        r["rel_error_std"] = 0.01 if est else math.nan
        r["rel_error_draws"] = 20 if est else math.nan
        r["tolerance"] = tolerance if est and tolerance is not None else math.nan
    out = judge(pd.DataFrame(res), pd.DataFrame(smp))
    verdict = out.verdicts.iloc[0].to_dict()
    return verdict, out.ranking.set_index("strategy")


def test_an_estimate_within_its_tolerance_wins_and_says_at_what_error():
    v, ranking = judged(0.05, 0.1)
    assert v["recommended"] == "hutchinson"
    assert v["runner_up"] == "forward_laplacian"
    assert v["speedup"] == pytest.approx(0.8 / 0.3, rel=0.05)
    assert "faster than forward_laplacian at relative error 0.05" in v["reason"]
    assert ranking.loc["hutchinson", "rank"] == 1
    assert "exact one" not in v["reason"]  # the runner-up named is exact already


def test_an_estimate_beating_another_also_says_its_trade_against_the_exact_ones():
    v, _ = judged(0.05, 0.1, stde_s=0.4 * MS)
    assert v["recommended"] == "hutchinson" and v["runner_up"] == "stde"
    m = re.match(
        r"hutchinson ([\d.]+)x faster than stde at relative error 0\.05 "
        r"\(([\d.]+)x faster than the fastest exact one, forward_laplacian\): ",
        v["reason"],
    )
    assert m, v["reason"]
    assert float(m[1]) == pytest.approx(0.4 / 0.3, rel=0.03)  # the builders' spread: a few %
    assert float(m[2]) == pytest.approx(0.8 / 0.3, rel=0.03)


@pytest.mark.parametrize(
    ("error", "tolerance", "why"),
    [
        (
            0.05,
            None,
            "hutchinson is an estimator (relative error 0.05); set tolerance: to allow it",
        ),
        (0.2, 0.1, "hutchinson: relative error 0.2 is not below the tolerance 0.1"),
        (0.1, 0.1, "hutchinson: relative error 0.1 is not below the tolerance 0.1"),  # strictly
        (math.nan, 0.1, "relative error unmeasured is not below the tolerance 0.1"),
    ],
)
def test_an_estimate_is_set_aside_without_a_tolerance_or_above_it(error, tolerance, why):
    v, ranking = judged(error, tolerance)
    assert v["recommended"] == "forward_laplacian"
    assert v["runner_up"] == "hessian_trace"  # the estimate is not even the runner-up
    assert why in v["reason"]
    assert math.isnan(ranking.loc["hutchinson", "rank"])
    reason = str(ranking.loc["hutchinson", "reason"])
    assert reason.startswith("not ranked: ") and why in reason
    assert ranking.loc["forward_laplacian", "rank"] == 1
