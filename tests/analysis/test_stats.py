"""Exact tests of adbench.analysis.stats on tiny samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adbench.analysis.stats import (
    RatioEstimate,
    SampleSummary,
    bootstrap_ci,
    mad_outliers,
    mann_whitney_p,
    paired_ratio,
    ratio_of_medians,
    summarize,
)


def _lognormal(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).lognormal(mean=-7.0, sigma=0.2, size=n)


# --- summarize -------------------------------------------------------------------------------


def test_summarize_exact_small_sample() -> None:
    s = summarize([1, 2, 3, 4, 100])
    assert (s.n, s.median, s.mean, s.min, s.max) == (5, 3.0, 22.0, 1.0, 100.0)
    assert (s.q1, s.q3, s.iqr) == (2.0, 4.0, 2.0)
    assert s.std == pytest.approx(np.std([1, 2, 3, 4, 100], ddof=1))
    assert s.outliers == 1
    assert s.ci_low <= s.median <= s.ci_high


def test_summarize_drops_nan() -> None:
    assert summarize([1, 2, math.nan, 3, 4, 100]) == summarize([1, 2, 3, 4, 100])


def test_summarize_empty_is_all_nan() -> None:
    for empty in ([], [math.nan, math.nan]):
        s = summarize(empty)
        assert s.n == 0 and s.outliers == 0
        floats = [v for k, v in vars(s).items() if k not in ("n", "outliers")]
        assert all(math.isnan(v) for v in floats)


def test_summarize_one_sample() -> None:
    s = summarize([0.5])
    assert (s.n, s.median, s.ci_low, s.ci_high, s.min, s.max, s.iqr) == (
        1,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0,
    )
    assert math.isnan(s.std)
    assert s.outliers == 0


def test_summarize_deterministic_per_seed() -> None:
    x = _lognormal(30, seed=1)
    assert summarize(x, seed=3) == summarize(x, seed=3)
    assert summarize(x, seed=3) != summarize(x, seed=4)  # only the CI may move
    assert isinstance(summarize(x), SampleSummary)


def test_summarize_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="confidence"):
        summarize([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        summarize([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError, match="1-D"):
        summarize([[1.0, 2.0]])


# --- bootstrap_ci ----------------------------------------------------------------------------


def test_bootstrap_ci_contains_median_and_narrows_with_n() -> None:
    small, large = _lognormal(20, seed=2), _lognormal(2000, seed=2)
    lo_s, hi_s = bootstrap_ci(small)
    lo_l, hi_l = bootstrap_ci(large)
    assert lo_s <= np.median(small) <= hi_s
    assert lo_l <= np.median(large) <= hi_l
    assert hi_l - lo_l < hi_s - lo_s


def test_bootstrap_ci_deterministic_and_seed_dependent() -> None:
    x = _lognormal(25, seed=5)
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=7)
    # The median of an odd-sized resample is a data point, so its interval ends often coincide
    # across seeds; the mean shows that the seed is used.
    assert bootstrap_ci(x, statistic=np.mean, seed=7) != bootstrap_ci(x, statistic=np.mean, seed=8)


def test_bootstrap_ci_edge_cases_and_other_statistic() -> None:
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert bootstrap_ci([2.5]) == (2.5, 2.5)
    assert bootstrap_ci([3.0, 3.0, 3.0]) == (3.0, 3.0)
    lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0], statistic=np.mean)
    assert 1.0 <= lo <= 2.5 <= hi <= 4.0


def test_bootstrap_ci_wider_at_higher_confidence() -> None:
    x = _lognormal(40, seed=9)
    lo90, hi90 = bootstrap_ci(x, confidence=0.90)
    lo99, hi99 = bootstrap_ci(x, confidence=0.99)
    assert lo99 <= lo90 and hi90 <= hi99


# --- mad_outliers ----------------------------------------------------------------------------


def test_mad_outliers_flags_only_the_far_point() -> None:
    # median 3, MAD 1: threshold 3.5 * 1.4826 = 5.19 from the median.
    assert mad_outliers([1, 2, 3, 4, 100]).tolist() == [False, False, False, False, True]
    assert mad_outliers([1, 2, 3, 4, 8.1]).tolist() == [False] * 4 + [False]
    assert mad_outliers([1, 2, 3, 4, 8.3]).tolist() == [False] * 4 + [True]
    assert mad_outliers([1, 2, 3, 4, 100], z=1000).sum() == 0


def test_mad_outliers_zero_mad_and_nan() -> None:
    assert not mad_outliers([5, 5, 5, 5, 100]).any()
    mask = mad_outliers([1, math.nan, 2, 3, 4, 100])
    assert mask.tolist() == [False, False, False, False, False, True]
    assert mad_outliers([]).shape == (0,)


# --- paired_ratio ----------------------------------------------------------------------------


def test_paired_ratio_exact() -> None:
    r = paired_ratio([2, 4, 6], [1, 2, 3])
    assert r == RatioEstimate(ratio=2.0, ci_low=2.0, ci_high=2.0, n=3)


def test_paired_ratio_is_geometric_for_even_n() -> None:
    # ratios 1, 2, 4, 8: the median of the logs is the geometric mean of 2 and 4.
    r = paired_ratio([1, 2, 4, 8], [1, 1, 1, 1])
    assert r.ratio == pytest.approx(math.sqrt(8))
    inverse = paired_ratio([1, 1, 1, 1], [1, 2, 4, 8])
    assert inverse.ratio == pytest.approx(1 / r.ratio)
    assert inverse.ci_low == pytest.approx(1 / r.ci_high)


def test_paired_ratio_cancels_shared_drift() -> None:
    # a machine slowing down over the run: the per-round ratio stays 1.5.
    drift = np.linspace(1.0, 3.0, 50)
    noise = np.random.default_rng(0).normal(1.0, 0.001, 50)
    r = paired_ratio(1.5e-3 * drift * noise, 1e-3 * drift)
    assert r.ci_low <= r.ratio <= r.ci_high
    assert r.ci_low > 1.49 and r.ci_high < 1.51


def test_paired_ratio_drops_incomplete_rounds_and_edges() -> None:
    r = paired_ratio([2, math.nan, 6, 1], [1, 5, math.nan, 0.5])
    assert (r.ratio, r.ci_low, r.ci_high, r.n) == (2.0, 2.0, 2.0, 2)
    assert paired_ratio([3.0], [2.0]) == RatioEstimate(1.5, 1.5, 1.5, 1)
    empty = paired_ratio([], [])
    assert empty.n == 0 and math.isnan(empty.ratio) and math.isnan(empty.ci_low)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_ratio([1, 2], [1])
    with pytest.raises(ValueError, match="positive"):
        paired_ratio([1, 0], [1, 1])


def test_paired_ratio_deterministic_per_seed() -> None:
    a, b = _lognormal(30, seed=1), _lognormal(30, seed=2)
    assert paired_ratio(a, b, seed=1) == paired_ratio(a, b, seed=1)
    assert paired_ratio(a, b, seed=1) != paired_ratio(a, b, seed=2)


# --- ratio_of_medians ------------------------------------------------------------------------


def test_ratio_of_medians_exact_and_interval() -> None:
    r = ratio_of_medians([2, 4, 6], [1, 2, 3])
    assert (r.ratio, r.n) == (2.0, 3)
    assert r.ci_low <= 2.0 <= r.ci_high
    assert ratio_of_medians([4.0, 4.0], [2.0, 2.0, 2.0]) == RatioEstimate(2.0, 2.0, 2.0, 2)
    assert ratio_of_medians([3.0], [2.0]) == RatioEstimate(1.5, 1.5, 1.5, 1)


def test_ratio_of_medians_detects_a_real_change() -> None:
    base, cur = _lognormal(40, seed=3), _lognormal(40, seed=4, scale=1.5)
    r = ratio_of_medians(cur, base)
    assert r.ci_low > 1.2 and r.ci_low <= r.ratio <= r.ci_high
    assert r == ratio_of_medians(cur, base)


def test_ratio_of_medians_edges() -> None:
    assert ratio_of_medians([], [1.0]).n == 0
    assert math.isnan(ratio_of_medians([1.0], [math.nan]).ratio)
    with pytest.raises(ValueError, match="positive"):
        ratio_of_medians([1.0], [0.0])


# --- mann_whitney_p --------------------------------------------------------------------------


def test_mann_whitney_separated_vs_same() -> None:
    separated = mann_whitney_p([1, 2, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16, 17, 18])
    assert separated < 0.001
    assert mann_whitney_p([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert mann_whitney_p([1, 2, 3], [3, 2, 1]) > 0.5


def test_mann_whitney_undefined_cases_are_nan() -> None:
    assert math.isnan(mann_whitney_p([1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(mann_whitney_p([1.0, math.nan], [1.0, 2.0]))
    assert math.isnan(mann_whitney_p([2.0, 2.0, 2.0], [2.0, 2.0]))


# --- the one bootstrap: adbench's own, checked against scipy.stats.bootstrap -----------------


def _scipy(samples, statistic, seed: int, n_boot: int = 2000, confidence: float = 0.95):
    """scipy.stats.bootstrap (method "percentile") with the blocks adbench draws in: the oracle
    adbench's own resampler must agree with (it replaced scipy's to save scipy.stats's import)."""
    from scipy import stats as sps

    res = sps.bootstrap(
        samples,
        statistic,
        n_resamples=n_boot,
        batch=max(1, (1 << 20) // max(s.size for s in samples)),
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return res.confidence_interval.low, res.confidence_interval.high, res.bootstrap_distribution


@pytest.mark.parametrize("n", [2, 3, 15, 50, 4000])
@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_gives_scipys_interval(n: int, seed: int) -> None:
    """The same draws as scipy.stats.bootstrap, so the same resampled statistics bit for bit and
    the interval to 1e-14 (the quantile's interpolation is other arithmetic), including n = 4000
    where the draws come in several blocks."""
    from adbench.analysis.stats import _geometric_median, bootstrap

    x = _lognormal(n, seed=n + seed)
    for statistic in (np.median, _geometric_median):
        b = bootstrap(x, statistic=statistic, seed=seed)
        low, high, dist = _scipy((x,), statistic, seed)
        np.testing.assert_array_equal(b.distribution, dist)
        assert b.low == pytest.approx(low, rel=1e-14, abs=0)
        assert b.high == pytest.approx(high, rel=1e-14, abs=0)
        assert b.distribution.shape == (2000,)
    wider = bootstrap(x, confidence=0.99, seed=seed)
    low, high, _ = _scipy((x,), np.median, seed, confidence=0.99)
    assert (wider.low, wider.high) == (
        pytest.approx(low, rel=1e-14),
        pytest.approx(high, rel=1e-14),
    )


@pytest.mark.parametrize(("n", "m"), [(2, 3), (15, 40), (3000, 500)])
def test_ratio_of_medians_gives_scipys_two_sample_interval(n: int, m: int) -> None:
    """Two groups resampled as scipy resamples them: group by group inside each block."""
    from adbench.analysis.stats import ratio_of_medians

    cur, base = _lognormal(n, seed=1, scale=1.3), _lognormal(m, seed=2)
    est = ratio_of_medians(cur, base, seed=3)

    def statistic(c, b, axis=-1):
        return np.median(c, axis=axis) / np.median(b, axis=axis)

    low, high, _ = _scipy((cur, base), statistic, 3)
    assert est.ci_low == pytest.approx(low, rel=1e-14, abs=0)
    assert est.ci_high == pytest.approx(high, rel=1e-14, abs=0)
    assert est.ratio == pytest.approx(np.median(cur) / np.median(base), rel=1e-15)


def test_percentile_interval_reads_as_scipy_quantile() -> None:
    from scipy import stats as sps

    from adbench.analysis.stats import percentile_interval

    d = _lognormal(997, seed=5)
    low, high = sps.quantile(d, [0.025, 0.975])
    assert percentile_interval(d) == (pytest.approx(low, rel=1e-14), pytest.approx(high, rel=1e-14))


def test_the_statistics_module_does_not_import_scipy_stats() -> None:
    """The measuring path imports adbench.analysis.stats; scipy.stats would add over a second."""
    import subprocess
    import sys

    code = "import sys, adbench.analysis.stats; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_paired_bootstrap_returns_the_resamples_behind_its_interval() -> None:
    from adbench.analysis.stats import paired_bootstrap, percentile_interval

    a, b = _lognormal(15, seed=1), _lognormal(15, seed=2)
    est, boot = paired_bootstrap(a, b)
    assert est == paired_ratio(a, b)
    assert percentile_interval(boot) == (est.ci_low, est.ci_high)
    assert paired_bootstrap(a[:1], b[:1])[1].size == 0  # one round: nothing to resample


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.5, 0.8, -1),
        (1.2, 1.5, 1),
        (0.95, 1.05, 0),
        (0.85, 0.95, 0),  # below 1 but not beyond the margin on the a side
        (1.05, 1.09, 0),  # above 1 but not beyond the margin on the b side
        (0.5, 1.5, 0),
        (math.nan, math.nan, 0),
    ],
)
def test_decide_needs_the_whole_interval_beyond_the_margin(low, high, expected) -> None:
    from adbench.analysis.stats import A_FASTER, B_FASTER, TIE, decide

    assert (A_FASTER, TIE, B_FASTER) == (-1, 0, 1)
    assert decide(RatioEstimate(1.0, low, high, 10), 0.1) == expected


def test_decide_sides_mirror_each_other_and_follow_the_margin() -> None:
    from adbench.analysis.stats import decide

    est = RatioEstimate(0.87, 0.8, 0.95, 5)
    assert decide(est, 0.1) == 0 and decide(est, 0.05) == -1
    inverse = RatioEstimate(1 / 0.87, 1 / 0.95, 1 / 0.8, 5)
    assert decide(inverse, 0.1) == 0 and decide(inverse, 0.05) == 1
