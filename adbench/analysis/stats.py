"""Pure statistics on timing samples: summaries, bootstrap intervals, outliers, ratios, tests.

Every function takes 1-D sequences of seconds (any array-like; shape (n,)), drops NaN entries
first (a NaN marks a sample that was not taken), and returns plain floats or frozen dataclasses.
Randomness comes only from ``numpy.random.default_rng(seed)``, so a given seed always gives the
same interval. numpy only (scipy for the Mann-Whitney test, imported when called): no I/O,
no JAX. The bootstrap is adbench's own rather than ``scipy.stats.bootstrap`` because importing
``scipy.stats`` costs 1.2-1.9 s, an eighth of the default run; tests/analysis/test_stats.py
keeps scipy's as the oracle (the same draws, the same interval to 1e-14).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# The resample index matrix is built in row blocks of at most this many entries, so a bootstrap
# of a long sample does not allocate n_boot * n indices at once.
_MAX_BLOCK_ENTRIES = 1 << 20

# 1 / Phi^-1(3/4): scales the MAD to a standard deviation for normal data (hyperfine, pyperf).
# The one copy: adbench.compare.timing's robust sigmas use it too.
MAD_TO_SIGMA = 1.4826
_MAD_TO_SIGMA = MAD_TO_SIGMA

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


@dataclass(frozen=True, eq=False)
class Bootstrap:
    """A percentile-bootstrap interval and the resampled statistics it was read from.

    ``distribution``: shape (n_boot,), the statistic of each resample (empty when the sample was
    too small to resample: then the interval is the point value, or NaN for no data).
    """

    low: float
    high: float
    distribution: np.ndarray


def bootstrap(
    values: ArrayLike,
    *,
    statistic: Statistic = np.median,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Bootstrap:
    """Percentile-bootstrap interval of ``statistic`` over ``values`` (shape (n,), NaN dropped).

    The one bootstrap of adbench: verdicts, rankings, crossovers and summaries all resample
    through here, so one seed gives one interval everywhere. It draws as
    ``scipy.stats.bootstrap`` (method "percentile") does (:func:`_resampled`) and gives scipy's
    interval to the last bit or within a few units in the last place (1e-14 relative; scipy
    interpolates the quantile with other arithmetic); tests/analysis/test_stats.py keeps that
    check.

    ``statistic`` must accept ``(array of shape (..., n), axis=-1)`` like the numpy reductions.
    Empty input gives ``(nan, nan)``; a single value ``v`` gives ``(v, v)``.
    """
    _check_settings(confidence, n_boot)
    arr = _clean(values)
    if arr.size == 0:
        return Bootstrap(math.nan, math.nan, np.empty(0))
    if arr.size == 1:
        v = float(statistic(arr, axis=-1))
        return Bootstrap(v, v, np.empty(0))
    dist = _resampled((arr,), statistic, n_boot=n_boot, seed=seed)
    low, high = _quantiles(dist, confidence)
    return Bootstrap(low, high, dist)


def _resampled(
    samples: tuple[np.ndarray, ...], statistic: Statistic, *, n_boot: int, seed: int
) -> np.ndarray:
    """``statistic`` over ``n_boot`` resamples of ``samples`` (each shape (n_i,)), shape (n_boot,).

    The draws are scipy.stats.bootstrap's, in its order: one ``default_rng(seed)``; blocks of
    ``max(1, 2**20 // max n_i)`` resamples; in each block, for each sample in turn, an index
    matrix ``rng.integers(0, n_i, (rows, n_i))``. So the same seed gives the interval scipy
    would (tests/analysis/test_stats.py checks it to 1e-14).
    """
    rng = np.random.default_rng(seed)
    rows = max(1, _MAX_BLOCK_ENTRIES // max(s.size for s in samples))
    out = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        drawn = [s[rng.integers(0, s.size, (stop - start, s.size))] for s in samples]
        out[start:stop] = statistic(*drawn, axis=-1)
    return out


def _quantiles(dist: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` interval of a resampled distribution (linear interpolation, as
    scipy.stats.quantile's default and numpy's)."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(dist, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def percentile_interval(distribution: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """The central ``confidence`` interval of resampled values (shape (n,), NaN dropped), read
    as :func:`bootstrap` reads its own (linear interpolation); NaN when empty."""
    arr = _clean(distribution, "distribution")
    if arr.size == 0:
        return (math.nan, math.nan)
    return _quantiles(arr, confidence)


def bootstrap_ci(
    values: ArrayLike,
    *,
    statistic: Statistic = np.median,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """``(low, high)`` of :func:`bootstrap`: the interval of ``statistic`` over ``values``."""
    b = bootstrap(values, statistic=statistic, confidence=confidence, n_boot=n_boot, seed=seed)
    return (b.low, b.high)


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
    return paired_bootstrap(a, b, confidence=confidence, n_boot=n_boot, seed=seed)[0]


def paired_bootstrap(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[RatioEstimate, np.ndarray]:
    """:func:`paired_ratio` and the resampled medians it was read from, shape (n_boot,).

    The resampled medians (empty for fewer than two rounds) let a caller build intervals of
    quantities made from several ratios (the crossover's tie) on the very resamples the
    ratios' own intervals came from.
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
        return RatioEstimate(math.nan, math.nan, math.nan, 0), np.empty(0)
    _require_positive(a_arr, "a")
    _require_positive(b_arr, "b")
    ratios = a_arr / b_arr
    ratio = float(_geometric_median(ratios))
    boot = bootstrap(
        ratios, statistic=_geometric_median, confidence=confidence, n_boot=n_boot, seed=seed
    )
    return RatioEstimate(ratio, boot.low, boot.high, n), boot.distribution


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
    independently (drawn as ``scipy.stats.bootstrap`` draws two samples; see :func:`bootstrap`).
    ``n`` is the
    smaller group's size, the one that limits the precision. Either group empty gives NaN with
    ``n = 0``.
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

    def statistic(c: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(c, axis=axis) / np.median(b, axis=axis)

    low, high = _quantiles(_resampled((cur, base), statistic, n_boot=n_boot, seed=seed), confidence)
    return RatioEstimate(ratio, low, high, n)


# The decision, once for the whole package: verdicts, rankings and crossovers all call it.
A_FASTER, TIE, B_FASTER = -1, 0, 1


def decide(est: RatioEstimate, margin: float) -> int:
    """Which of a and b the interval of ``t(a) / t(b)`` places beyond the practical margin.

    ``A_FASTER`` (-1) when the whole interval lies below ``1 / (1 + margin)``, ``B_FASTER`` (+1)
    when it lies above ``1 + margin``, ``TIE`` (0) otherwise: a difference the evidence cannot
    place outside the margin (or no interval at all) is not worth acting on. The two sides are
    mirror images, so ``decide`` of ``t(b) / t(a)`` is the opposite answer.
    """
    if math.isnan(est.ci_low) or math.isnan(est.ci_high):
        return TIE
    if est.ci_high < 1.0 / (1.0 + margin):
        return A_FASTER
    if est.ci_low > 1.0 + margin:
        return B_FASTER
    return TIE


def within_margin(est: RatioEstimate, margin: float) -> bool:
    """True when the whole interval of the ratio lies inside ``[1 / (1 + margin), 1 + margin]``:
    a tie the evidence places inside the margin, not one it merely cannot separate (NaN: no)."""
    return 1.0 / (1.0 + margin) <= est.ci_low and est.ci_high <= 1.0 + margin


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
    from scipy.stats import mannwhitneyu  # here: scipy.stats takes over a second to import

    result = mannwhitneyu(a_arr, b_arr, alternative="two-sided")
    return float(result.pvalue)
