"""Crossover estimates on small synthetic sweeps with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adbench.analysis.axis import (
    AXIS_D_IN,
    AXIS_D_OUT,
    AXIS_RATIO,
    fit_power,
    ratio_at,
    sizes_of,
    textbook_mode,
)
from adbench.analysis.crossover import crossovers_for, estimate
from adbench.analysis.verdict import verdicts_for
from adbench.store import schema

FIXTURE = Path(__file__).parents[1] / "data" / "report" / "sweep"


def make_frames(
    cases: list[tuple[int, int, float, float]],
    *,
    family: str = "f",
    device: str = "cpu:0",
    rounds: int = 9,
    noise: float = 0.0,
    seed: int = 0,
    status_rev: dict[tuple[int, int], str] | None = None,
    host: str = "h0",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """results and samples tables for (d_in, d_out, t_fwd, t_rev) cases."""
    rng = np.random.default_rng(seed)
    results, samples = [], []
    for d_in, d_out, t_fwd, t_rev in cases:
        key = {
            "case_id": schema.case_id(family, d_in, d_out),
            "family": family,
            "task": "jacobian",
            "d_in": d_in,
            "d_out": d_out,
            "batch": 1,
            "host": host,
            "device": device,
        }
        for mode, t in (("jacfwd", t_fwd), ("jacrev", t_rev)):
            secs = t * np.exp(rng.normal(0.0, noise, rounds)) if noise else np.full(rounds, t)
            status = (status_rev or {}).get((d_in, d_out), "ok") if mode == "jacrev" else "ok"
            results.append({**key, "strategy": mode, "status": status, "median_s": np.median(secs)})
            samples += [
                {**key, "strategy": mode, "round": i, "n_inner": 1, "seconds": s}
                for i, s in enumerate(secs)
            ]
    res = pd.DataFrame(results).reindex(columns=list(schema.RESULT_COLUMNS))
    return res, pd.DataFrame(samples).reindex(columns=list(schema.SAMPLE_COLUMNS))


def test_fit_power_is_exact_on_a_power_law():
    fit = fit_power([1, 10, 100], [3.0, 300.0, 30000.0])
    assert fit.slope == pytest.approx(2.0)
    assert fit.intercept == pytest.approx(math.log(3.0))
    assert fit(1000.0) == pytest.approx(3e6)
    assert math.isnan(fit_power([5, 5], [1.0, 2.0]).slope)


def test_two_noise_free_sizes_tie_at_the_log_midpoint():
    # ratio 2 at d_out = 10, 1/2 at d_out = 1000: linear in log-log, so the tie is at 100
    res, smp = make_frames([(100, 10, 2e-3, 1e-3), (100, 1000, 1e-3, 2e-3)])
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "crossover"
    assert c.axis == AXIS_D_OUT and c.fixed == 100
    assert c.crossover == pytest.approx(100.0, rel=1e-3)
    assert c.crossover_low == pytest.approx(100.0, rel=1e-3)
    assert c.crossover_high == pytest.approx(100.0, rel=1e-3)
    assert c.crossover_ratio == pytest.approx(1.0, rel=1e-3)
    assert c.textbook == 100 and c.far_from_textbook == "no"
    assert c.factor_from_textbook == pytest.approx(1.0, rel=1e-3)
    assert "between 10 (jacrev 2x faster) and 1000 (jacfwd 2x faster)" in c.reason


def overhead_then_power(d_out: int) -> tuple[int, int, float, float]:
    # t_fwd ~ a + k d_in^2 d_out, t_rev ~ a + 1.5 k d_in d_out^2 with d_in = 100: tie at 66.7
    return (100, d_out, 2e-5 + 2e-6 * d_out, 2e-5 + 3e-8 * d_out**2)


def test_noisy_sweep_brackets_the_true_tie_and_is_deterministic():
    res, smp = make_frames(
        [overhead_then_power(d) for d in (10, 30, 100, 300, 1000)], noise=0.03, rounds=15
    )
    a = estimate("f", "cpu:0", res, smp, n_boot=500)
    b = estimate("f", "cpu:0", res, smp, n_boot=500)
    assert a == b
    assert a.outcome == "crossover"
    assert 30 < a.crossover_low <= a.crossover <= a.crossover_high < 100
    assert a.crossover == pytest.approx(200 / 3, rel=0.1)
    assert a.slope_ratio < 0  # more outputs favour jacfwd, as the textbook says
    assert a.far_from_textbook == "no"


def test_forward_faster_throughout_as_the_textbook_expects():
    res, smp = make_frames([(1, d, 1e-5, 1e-5 * d) for d in (10, 100, 1000)])
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "jacfwd"
    assert math.isnan(c.crossover)
    assert c.far_from_textbook == "no" and math.isnan(c.factor_from_textbook)
    assert c.reason.startswith("no crossover in the measured range d_out 10-1000 (d_in = 1)")


def test_winning_against_the_textbook_far_from_its_tie_is_flagged():
    # d_in = 100 and d_out up to 3200: the textbook says jacfwd above d_out = 100, jacrev wins
    res, smp = make_frames([(100, d, 3e-3, 1e-3) for d in (200, 800, 3200)])
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "jacrev"
    assert c.factor_from_textbook == pytest.approx(32.0)
    assert c.far_from_textbook == "yes"
    assert "against the textbook" in c.reason


def test_modes_swapping_the_other_way_round_are_far_from_the_textbook():
    # along d_out the textbook expects jacfwd to gain; here jacrev gains
    res, smp = make_frames([(100, 10, 1e-3, 2e-3), (100, 1000, 2e-3, 1e-3)])
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "crossover"
    assert c.crossover == pytest.approx(100.0, rel=1e-3)
    assert c.far_from_textbook == "yes"
    assert "other way round" in c.reason


def test_far_tie_is_flagged_only_when_the_whole_interval_is_far():
    # tie at d_out = 1000 with d_in = 10: a factor 100 from the textbook
    res, smp = make_frames([(10, 100, 1e-2, 1e-3), (10, 10000, 1e-3, 1e-2)])
    c = estimate("f", "cpu:0", res, smp, far_factor=4.0)
    assert c.crossover == pytest.approx(1000.0, rel=1e-3)
    assert c.factor_from_textbook == pytest.approx(100.0, rel=1e-3)
    assert c.far_from_textbook == "yes"
    assert estimate("f", "cpu:0", res, smp, far_factor=200.0).far_from_textbook == "no"


def test_no_separation_is_a_tie_and_noted_against_a_confident_textbook():
    res, smp = make_frames([(10, d, 1e-3, 1.05e-3) for d in (10, 100, 1000)])
    c = estimate("f", "cpu:0", res, smp, margin=0.1)
    assert c.outcome == "tie"
    assert math.isnan(c.crossover)
    assert c.far_from_textbook == "yes"  # textbook: jacfwd clearly at d_out 100 and 1000
    assert "no size separates the modes beyond ±10%" in c.reason


def test_a_winner_that_changes_twice_is_unclear():
    res, smp = make_frames([(1, 10, 1e-3, 3e-3), (1, 100, 3e-3, 1e-3), (1, 1000, 1e-3, 3e-3)])
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "unclear"
    assert "changes 2 times" in c.reason


def test_one_size_or_a_failed_mode_gives_no_estimate():
    res, smp = make_frames([(1, 10, 1e-3, 2e-3)])
    assert estimate("f", "cpu:0", res, smp).outcome == "n/a"
    res, smp = make_frames(
        [(1, 10, 1e-3, 2e-3), (1, 100, 2e-3, 1e-3)], status_rev={(1, 100): "memory"}
    )
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "n/a" and c.n_sizes == 1


def test_without_raw_samples_no_size_is_separated():
    """As in the verdicts: no paired rounds, no decision (undecided, not a tie: a tie is
    evidence the modes are close); the medians alone would say 2x."""
    res, _ = make_frames([(100, 10, 2e-3, 1e-3), (100, 1000, 1e-3, 2e-3)])
    c = estimate("f", "cpu:0", res, None)
    assert c.outcome == "undecided" and math.isnan(c.crossover)
    assert "no raw samples stored" in c.reason
    assert set(verdicts_for(res, None)["fwd_rev"]) == {"undecided"}


def test_a_grid_is_read_along_d_in_over_d_out():
    cases = [
        (d_in, d_out, 1e-6 * d_in / d_out**0.5, 1e-6 * d_out**0.5)
        for d_in in (10, 100)
        for d_out in (10, 100)
    ]
    res, smp = make_frames(cases)
    c = estimate("f", "cpu:0", res, smp)
    assert c.axis == AXIS_RATIO and math.isnan(c.fixed)
    assert c.n_sizes == 3  # d_in / d_out in {0.1, 1, 10}
    assert c.outcome == "crossover"
    assert c.textbook == 1.0


def test_textbook_helpers():
    assert textbook_mode(AXIS_D_OUT, 100, 1000) == "jacfwd"
    assert textbook_mode(AXIS_D_OUT, 100, 10) == "jacrev"
    assert textbook_mode(AXIS_D_IN, 100, 10) == "jacfwd"
    assert textbook_mode(AXIS_RATIO, math.nan, 1.0) == "either"
    assert ratio_at(AXIS_D_OUT, 100, 50) == 2.0
    assert ratio_at(AXIS_D_IN, 100, 50) == 0.5


def test_crossovers_for_one_row_per_family_and_device():
    a_res, a_smp = make_frames([(1, 10, 1e-3, 2e-3), (1, 100, 1e-3, 2e-3)], family="a")
    b_res, b_smp = make_frames(
        [(1, 10, 1e-3, 2e-3), (1, 100, 1e-3, 2e-3)], family="a", device="gpu:0"
    )
    c_res, c_smp = make_frames([(10, 1, 2e-3, 1e-3), (100, 1, 2e-3, 1e-3)], family="c")
    df = crossovers_for(
        pd.concat([a_res, b_res, c_res]), pd.concat([a_smp, b_smp, c_smp]), n_boot=100
    )
    assert list(df.columns) == list(schema.CROSSOVER_COLUMNS)
    assert list(zip(df["family"], df["device"], df["outcome"], strict=True)) == [
        ("a", "cpu:0", "jacfwd"),
        ("a", "gpu:0", "jacfwd"),
        ("c", "cpu:0", "jacrev"),
    ]
    assert df.loc[2, "axis"] == AXIS_D_IN
    empty = crossovers_for(a_res.iloc[0:0], None)
    assert empty.empty and list(empty.columns) == list(schema.CROSSOVER_COLUMNS)


def test_version_1_crossover_csv_is_what_the_estimate_still_finds():
    """The v1 fixture's crossover.csv was written by adbench 0.1, whose bootstrap drew one
    stream of indices across cases; each case now resamples with its verdict's own draws, so the
    intervals move a little while the outcomes and the point estimates stay."""
    from adbench.store.results import load_results

    res = load_results(FIXTURE)
    stored = pd.read_csv(FIXTURE / schema.CROSSOVER_FILE, keep_default_na=False, na_values=[""])
    fresh = crossovers_for(res.results, res.samples, margin=0.1)
    assert list(fresh["outcome"]) == list(stored["outcome"])
    assert list(fresh["host"]) == [""] * len(fresh)  # version 1 had no host
    for col in ("crossover", "slope_jacfwd", "slope_ratio", "factor_from_textbook"):
        np.testing.assert_allclose(fresh[col], stored[col], rtol=1e-9)
    np.testing.assert_allclose(fresh["crossover_low"], stored["crossover_low"], rtol=0.02)
    np.testing.assert_allclose(fresh["crossover_high"], stored["crossover_high"], rtol=0.02)
    by_family = dict(zip(stored["family"], stored["outcome"], strict=True))
    assert by_family == {
        "linear": "crossover",
        "power": "jacfwd",
        "mean_sq": "jacrev",
        "tanh_grid": "crossover",
        "scan": "tie",
    }


def test_a_size_counts_only_when_its_interval_clears_the_margin():
    """Point ratios of 0.87 (beyond the ±10% margin) with an interval reaching past 1/1.1: a tie,
    not a jacfwd win."""
    wide = [0.6, 1.4, 0.75, 1.25, 0.9, 1.1, 1.0, 0.7, 1.3]
    res, smp = make_frames([(1, 10, 0.87e-3, 1e-3), (1, 100, 0.87e-3, 1e-3)], rounds=9)
    smp["seconds"] = smp["seconds"] * np.where(
        smp["strategy"] == "jacfwd", np.array(wide)[smp["round"].to_numpy()], 1.0
    )
    sizes = sizes_of(res, smp)
    assert [round(s.ratio.ratio, 2) for s in sizes] == [0.87, 0.87]
    assert all(s.ratio.ci_high > 1 / 1.1 for s in sizes)
    assert [s.winner for s in sizes] == ["tie", "tie"]
    assert estimate("f", "cpu:0", res, smp).outcome == "tie"


def test_the_tie_is_the_midpoint_of_the_first_and_last_crossing():
    """Sizes that tie between the two that disagree make the curve cross zero three times; the
    estimate is the log-midpoint of the first and the last crossing, not the first."""
    res, smp = make_frames(
        [(1, 10, 2e-3, 1e-3), (1, 20, 0.98e-3, 1e-3), (1, 40, 1.02e-3, 1e-3), (1, 80, 1e-3, 2e-3)]
    )
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "crossover"
    assert c.crossover == pytest.approx(math.sqrt(20 * 40), rel=1e-3)  # the first: ~19.7
    assert "between 10 (jacrev 2x faster) and 80 (jacfwd 2x faster)" in c.reason


def test_a_size_winner_is_always_its_case_verdict() -> None:
    """Random sweeps with ratios near the margin (about 1.1 and 1.16 either way) and noise: the
    crossover's
    winner at every size is that case's fwd_rev verdict (and, with two strategies, the
    verdict), with the very same interval."""
    seen: dict[str, int] = {}
    for seed in range(12):
        rng = np.random.default_rng(seed)
        d_outs = [10, 20, 50, 100, 200, 500, 1000]
        near = rng.choice([1 / 1.16, 1 / 1.1, 1.1, 1.16], len(d_outs))
        near *= np.exp(rng.normal(0, 0.03, len(d_outs)))
        res, smp = make_frames(
            [(7, d, r * 1e-3, 1e-3) for d, r in zip(d_outs, near, strict=True)],
            noise=0.04,
            rounds=int(rng.integers(5, 16)),
            seed=seed,
        )
        verdicts = verdicts_for(res, smp, margin=0.1).set_index("case_id")
        sizes = sizes_of(res, smp, margin=0.1)
        assert len(sizes) == len(d_outs)
        winners = {s.case_ids[0]: s.winner for s in sizes}
        assert winners == dict(verdicts["fwd_rev"])
        assert winners == dict(verdicts["recommended"])
        for s in sizes:
            v = verdicts.loc[s.case_ids[0]]
            assert (s.ratio.ci_low, s.ratio.ci_high) == (v["fwd_rev_ci_low"], v["fwd_rev_ci_high"])
        for w in winners.values():
            seen[w] = seen.get(w, 0) + 1
    # near the margin the draws land on both sides of it: every kind of size was checked
    assert set(seen) == {"jacfwd", "jacrev", "tie", "undecided"}, seen
    assert min(seen.values()) >= 5, seen


# --- rules that must hold (issue 19: mutants that survived the suite) -------------------------


@pytest.mark.parametrize(("d_outs", "far"), [((50, 80), "no"), ((10, 80), "yes")])
def test_won_against_the_textbook_is_far_only_beyond_far_factor(d_outs, far):
    """d_in 100: the textbook advises jacrev at d_out 50 and 80; jacfwd wins both, only x2 from
    the textbook's tie at d_out = 100: against the textbook, but not far (far_factor 4). At
    d_out 10 (x10 from it) it is far."""
    res, smp = make_frames([(100, d, 1e-3, 2e-3) for d in d_outs])
    c = estimate("f", "cpu:0", res, smp)
    assert c.outcome == "jacfwd"
    assert c.far_from_textbook == far
    assert c.factor_from_textbook == pytest.approx(100 / min(d_outs))


@pytest.mark.parametrize(("missing", "bounded"), [(60, False), (40, True)])
def test_a_crossover_is_unbounded_when_more_than_alpha_2_resamples_do_not_cross(
    monkeypatch, missing, bounded
):
    """The 95% interval of the tie has 2.5% on each side: when more than that share of the
    resamples (60 of 2000, 3%) shows no crossing between the bracketing sizes, one end is
    unbounded and the interval is 0-inf; at 2% (40) it is finite."""
    from adbench.analysis import crossover

    res, smp = make_frames([(100, 10, 2e-3, 1e-3), (100, 1000, 1e-3, 2e-3)])
    lr = np.log([2.0, 0.5])
    boot = np.tile(lr, (2000, 1))
    boot[:missing, 1] = lr[0]  # these resamples never cross
    monkeypatch.setattr(crossover, "boot_curves", lambda sw: boot)
    c = crossover.estimate("f", "cpu:0", res, smp)
    assert c.outcome == "crossover"
    assert (math.isfinite(c.crossover_high) and c.crossover_low > 0) == bounded
    if not bounded:
        assert (c.crossover_low, c.crossover_high) == (0.0, math.inf)
        assert f"in {missing} of 2000 resamples" in c.reason


@pytest.mark.parametrize("seed", range(6))
def test_pchip_is_scipys_interpolant(seed: int) -> None:
    """adbench's PCHIP (its own, to save scipy.interpolate's import) against scipy's on random
    curves with turns, flat stretches and uneven nodes, at nodes, between them and at the ends."""
    from scipy.interpolate import PchipInterpolator

    from adbench.analysis.crossover import _pchip

    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 9))
    x = np.sort(rng.uniform(0.0, 10.0, k))
    y = rng.normal(size=(5, k))
    y[0] = np.cumsum(np.abs(y[0]))  # monotone
    y[1, 1:3] = y[1, 0]  # flat stretch
    y[2] = y[2] * 1e-3
    at = np.concatenate([np.linspace(x[0], x[-1], 301), x])
    np.testing.assert_allclose(
        _pchip(x, y, at), PchipInterpolator(x, y, axis=1)(at), rtol=1e-12, atol=1e-12
    )


def test_the_crossover_module_does_not_import_scipy() -> None:
    import subprocess
    import sys

    code = "import sys, adbench.analysis.crossover; print('scipy.interpolate' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
