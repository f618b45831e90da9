"""Pure statistics on timing samples: summaries, bootstrap intervals, outliers, ratios, tests.

Every function takes 1-D sequences of seconds (any array-like; shape (n,)), drops NaN entries
first (a NaN marks a sample that was not taken), and returns plain floats or frozen dataclasses.
Randomness comes only from ``numpy.random.default_rng(seed)``, so a given seed always gives the
same interval. numpy and scipy only: no I/O, no JAX.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _sps

# The resample index matrix is built in row blocks of at most this many entries, so a bootstrap
# of a long sample does not allocate n_boot * n indices at once.
_MAX_BLOCK_ENTRIES = 1 << 20

# 1 / Phi^-1(3/4): scales the MAD to a standard deviation for normal data (hyperfine, pyperf).
_MAD_TO_SIGMA = 1.4826

Statistic = Callable[..., np.ndarray]


@dataclass(frozen=True)
class SampleSummary:
    """Summary of one sample of timings (seconds per call).

    ``std`` is the sample standard deviation (ddof=1), NaN for fewer than two samples.
    ``q1``/``q3`` are the 25th/75th percentiles (linear interpolation), ``iqr = q3 - q1``.
    ``ci_low``/``ci_high`` bound a percentile-bootstrap interval of the median.
    ``outliers`` counts samples flagged by :func:`mad_outliers`.
    """

    n: int
    median: float
    mean: float
    std: float
    min: float
    max: float
    q1: float
    q3: float
    iqr: float
    ci_low: float
    ci_high: float
    outliers: int


@dataclass(frozen=True)
class RatioEstimate:
    """A time ratio with its bootstrap interval; ``n`` is the number of samples it rests on."""

    ratio: float
    ci_low: float
    ci_high: float
    n: int


def _clean(values: ArrayLike, name: str = "values") -> np.ndarray:
    """1-D float64 copy of ``values`` with NaN entries removed."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    arr = arr.reshape(-1)
    return arr[~np.isnan(arr)]


def _check_settings(confidence: float, n_boot: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")


def _require_positive(arr: np.ndarray, name: str) -> None:
    # Ratios of times are only meaningful for positive times; a zero or negative "time" is a
    # bug upstream and would otherwise surface as inf/NaN far from its cause.
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be positive (seconds), got min {arr.min()!r}")


def _percentile_interval(boot: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(boot, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)


def _resampled(
    arr: np.ndarray, statistic: Statistic, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """``statistic`` of ``n_boot`` resamples (with replacement) of ``arr``; shape (n_boot,)."""
    n = arr.size
    rows = max(1, _MAX_BLOCK_ENTRIES // n)
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = statistic(arr[idx], axis=1)
    return out


def bootstrap_ci(
    values: ArrayLike,
    *,
    statistic: Statistic = np.median,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic`` over ``values`` (shape (n,)).

    ``statistic`` must accept ``(array of shape (n_boot, n), axis=1)`` like the numpy reductions.
    Empty input gives ``(nan, nan)``; a single value ``v`` gives ``(v, v)``.
    """
    _check_settings(confidence, n_boot)
    arr = _clean(values)
    if arr.size == 0:
        return (math.nan, math.nan)
    if arr.size == 1:
        return (float(arr[0]), float(arr[0]))
    boot = _resampled(arr, statistic, n_boot, np.random.default_rng(seed))
    return _percentile_interval(boot, confidence)


def mad_outliers(values: ArrayLike, *, z: float = 3.5) -> np.ndarray:
    """Boolean mask (same shape as ``values``) of points with ``|x - median| > z * 1.4826 * MAD``.

    NaN entries are never flagged and do not enter the median or the MAD. When the MAD is zero
    (more than half the samples identical) nothing is flagged: the scale is unknown.
    """
    arr = np.asarray(values, dtype=np.float64)
    mask = np.zeros(arr.shape, dtype=bool)
    finite = ~np.isnan(arr)
    if not finite.any():
        return mask
    kept = arr[finite]
    med = np.median(kept)
    mad = np.median(np.abs(kept - med))
    if mad == 0:
        return mask
    mask[finite] = np.abs(kept - med) > z * _MAD_TO_SIGMA * mad
    return mask


def summarize(
    samples: ArrayLike, *, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> SampleSummary:
    """Summary of timing samples (shape (n,), seconds per call; NaN entries dropped).

    Empty input gives an all-NaN summary with ``n = 0`` and ``outliers = 0``. One sample gives
    ``ci_low = ci_high = median`` and ``std = nan``.
    """
    _check_settings(confidence, n_boot)
    arr = _clean(samples, "samples")
    n = int(arr.size)
    if n == 0:
        nan = math.nan
        return SampleSummary(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    q1, median, q3 = (float(v) for v in np.percentile(arr, [25.0, 50.0, 75.0]))
    ci_low, ci_high = bootstrap_ci(arr, confidence=confidence, n_boot=n_boot, seed=seed)
    return SampleSummary(
        n=n,
        median=median,
        mean=float(arr.mean()),
        std=float(arr.std(ddof=1)) if n > 1 else math.nan,
        min=float(arr.min()),
        max=float(arr.max()),
        q1=q1,
        q3=q3,
        iqr=q3 - q1,
        ci_low=ci_low,
        ci_high=ci_high,
        outliers=int(mad_outliers(arr).sum()),
    )


def _geometric_median(ratios: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median of positive ratios taken in log space.

    For an odd count this is the middle ratio itself; for an even count it is the geometric mean
    of the two middle ratios (the median of the logs, exponentiated), so that the ratio a/b and
    b/a of the same data are exact reciprocals. Written without log/exp so equal ratios give
    that ratio exactly.
    """
    srt = np.sort(ratios, axis=axis)
    n = srt.shape[axis]
    hi = np.take(srt, n // 2, axis=axis)
    if n % 2:
        return hi
    lo = np.take(srt, n // 2 - 1, axis=axis)
    return np.sqrt(lo * hi)


def paired_ratio(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> RatioEstimate:
    """Median of the per-round ratios ``a_i / b_i`` with a bootstrap interval of that median.

    ``a`` and ``b``: shape (n,), positive seconds, sample i of both taken in the same round
    (interleaved), which cancels most of the machine's drift. The median is taken in log space
    (see ``_geometric_median``). Rounds where either value is NaN are dropped; ``n`` counts the
    rounds kept. No rounds gives NaN with ``n = 0``; one round gives a zero-width interval.
    """
    _check_settings(confidence, n_boot)
    a_arr = np.asarray(a, dtype=np.float64).reshape(-1)
    b_arr = np.asarray(b, dtype=np.float64).reshape(-1)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired samples need equal lengths, got {a_arr.size} and {b_arr.size}")
    keep = ~(np.isnan(a_arr) | np.isnan(b_arr))
    a_arr, b_arr = a_arr[keep], b_arr[keep]
    n = int(a_arr.size)
    if n == 0:
        return RatioEstimate(math.nan, math.nan, math.nan, 0)
    _require_positive(a_arr, "a")
    _require_positive(b_arr, "b")
    ratios = a_arr / b_arr
    ratio = float(_geometric_median(ratios))
    if n == 1:
        return RatioEstimate(ratio, ratio, ratio, 1)
    boot = _resampled(ratios, _geometric_median, n_boot, np.random.default_rng(seed))
    low, high = _percentile_interval(boot, confidence)
    return RatioEstimate(ratio, low, high, n)


def ratio_of_medians(
    current: ArrayLike,
    baseline: ArrayLike,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> RatioEstimate:
    """``median(current) / median(baseline)`` for unpaired samples (e.g. two separate runs).

    Both: shape (n,) and (m,), positive seconds, NaN dropped. The interval resamples the two groups
    independently. ``n`` is the smaller group's size, the one that limits the precision. Either
    group empty gives NaN with ``n = 0``.
    """
    _check_settings(confidence, n_boot)
    cur = _clean(current, "current")
    base = _clean(baseline, "baseline")
    if cur.size == 0 or base.size == 0:
        return RatioEstimate(math.nan, math.nan, math.nan, 0)
    _require_positive(cur, "current")
    _require_positive(base, "baseline")
    ratio = float(np.median(cur) / np.median(base))
    n = int(min(cur.size, base.size))
    if cur.size == 1 and base.size == 1:
        return RatioEstimate(ratio, ratio, ratio, n)
    rng = np.random.default_rng(seed)
    boot = _resampled(cur, np.median, n_boot, rng) / _resampled(base, np.median, n_boot, rng)
    low, high = _percentile_interval(boot, confidence)
    return RatioEstimate(ratio, low, high, n)


def mann_whitney_p(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided Mann-Whitney U p-value that ``a`` and ``b`` (shapes (n,), (m,)) differ.

    NaN when either group has fewer than two samples after dropping NaN, or when every value in
    both groups is identical (the test has nothing to rank).
    """
    a_arr = _clean(a, "a")
    b_arr = _clean(b, "b")
    if a_arr.size < 2 or b_arr.size < 2:
        return math.nan
    both = np.concatenate([a_arr, b_arr])
    if np.all(both == both[0]):
        return math.nan
    # scipy picks the exact distribution for small tie-free samples, else the normal approximation
    # with tie correction.
    result = _sps.mannwhitneyu(a_arr, b_arr, alternative="two-sided")
    return float(result.pvalue)
