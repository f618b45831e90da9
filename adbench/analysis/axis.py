"""A family's cases placed along the axis its sweep varies, with the jacfwd/jacrev ratio at each
size: the input of the crossover estimate (:mod:`adbench.analysis.crossover`).

    axis "d_out"       d_in fixed, d_out varies      x = d_out
    axis "d_in"        d_out fixed, d_in varies      x = d_in
    axis "d_in=d_out"  every case square (n -> n)    x = n (softmax, elementwise, broyden)
    axis "d_in/d_out"  both vary (a grid, points)    x = d_in / d_out (cases at one x averaged)

A square family sits at d_in / d_out = 1 at every size, so on the ratio axis all its sizes would
collapse into one point; along n its modes can still trade places (overheads grow differently),
but there is no d_in/d_out crossover and the textbook rule says "either" at every size. The same
axis names as :mod:`adbench.analysis.policy`.

Each case's ratio is its own pair (:mod:`adbench.analysis.paired`): the estimate, the interval
and the resamples its verdict's ``fwd_rev*`` columns came from, so a size's decision here is the
verdict's. Pure: tables in, values out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from adbench.analysis import decision, stats
from adbench.analysis.decision import (
    AXIS_D_IN,
    AXIS_D_OUT,
    AXIS_RATIO,
    AXIS_SQUARE,
    FWD,
    REV,
    TIE,
    UNDECIDED,
)
from adbench.analysis.paired import CasePairs, Pair, rounds_by_strategy
from adbench.store import schema

__all__ = ["AXIS_D_IN", "AXIS_D_OUT", "AXIS_RATIO", "AXIS_SQUARE", "FWD", "REV", "TIE"]


@dataclass(frozen=True)
class PowerFit:
    """``log(y) = intercept + slope * log(x)``, fitted by least squares over ``n`` points."""

    intercept: float
    slope: float
    n: int

    def __call__(self, x: Any) -> Any:
        """y at x (x: scalar or array; same shape back)."""
        return np.exp(self.intercept + self.slope * np.log(x))


@dataclass(frozen=True)
class Size:
    """One axis value of a sweep: its cases, the interval of t(jacfwd) / t(jacrev) there and the
    mode it counts for ("jacfwd", "jacrev", "tie" or "undecided"). With one case at x (every
    one-axis sweep) ``ratio`` and ``winner`` are that case's verdict's ``fwd_rev*`` values,
    computed once."""

    x: float
    case_ids: tuple[str, ...]
    ratio: stats.RatioEstimate
    winner: str


@dataclass(frozen=True, eq=False)
class Sweep:
    """A family's usable cases on one host and device, along its axis.

    x: shape (k,), the distinct axis values, ascending; log_ratio: shape (k,), mean over the cases
    at each x of log(t_fwd / t_rev); cases: shape (n,), index into x of each case; pairs: the n
    cases' jacfwd/jacrev pairs (estimate and resamples); median_fwd_s, median_rev_s: shape (n,).
    """

    axis: str
    fixed: float
    x: np.ndarray
    log_ratio: np.ndarray
    cases: np.ndarray
    case_ids: tuple[str, ...]
    pairs: tuple[Pair, ...]
    case_x: np.ndarray
    median_fwd_s: np.ndarray
    median_rev_s: np.ndarray


def fit_power(x: Any, y: Any) -> PowerFit:
    """Least-squares line through (log x, log y); x, y: shape (n,), positive. NaN if < 2 sizes."""
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    keep = np.isfinite(xa) & np.isfinite(ya) & (xa > 0) & (ya > 0)
    xa, ya = xa[keep], ya[keep]
    if np.unique(xa).size < 2:
        return PowerFit(math.nan, math.nan, int(xa.size))
    lx, ly = np.log(xa), np.log(ya)
    xc = lx - lx.mean()
    slope = float(xc @ (ly - ly.mean())) / float(xc @ xc)
    return PowerFit(float(ly.mean() - slope * lx.mean()), slope, int(xa.size))


def axis_of(d_in: Sequence[int], d_out: Sequence[int]) -> tuple[str, float]:
    """The axis a family's cases vary along and the dimension held fixed (NaN when none).

    d_in, d_out: shape (n,), one entry per case. Square cases only (every d_in = d_out) give
    AXIS_SQUARE, whatever else holds; one d_in gives AXIS_D_OUT (d_in fixed), else one d_out
    AXIS_D_IN, anything else AXIS_RATIO. A single non-square size (one d_in, one d_out) is
    AXIS_D_OUT with its d_in fixed: the narrowest claim (it says nothing about other inputs,
    which the ratio axis would), and the axis adbench.analysis.policy gives it.
    """
    pairs = list(zip(d_in, d_out, strict=True))
    ins, outs = {a for a, _ in pairs}, {b for _, b in pairs}
    if pairs and all(a == b for a, b in pairs):
        return AXIS_SQUARE, math.nan
    if len(ins) == 1:
        return AXIS_D_OUT, float(next(iter(ins)))
    if len(outs) == 1:
        return AXIS_D_IN, float(next(iter(outs)))
    return AXIS_RATIO, math.nan


def position(axis: str, d_in: Any, d_out: Any) -> Any:
    """x on the axis of cases with sizes d_in, d_out (scalars or arrays of one shape)."""
    if axis == AXIS_D_OUT:
        return d_out
    if axis in (AXIS_D_IN, AXIS_SQUARE):
        return d_in
    return d_in / d_out


def axis_word(axis: str) -> str:
    """The axis as prose names it: "n" on square families, else its name."""
    return "n" if axis == AXIS_SQUARE else axis


def textbook_direction(axis: str) -> int:
    """Sign of d log(t_fwd / t_rev) / d log(x) that the textbook predicts along the axis.

    More outputs favour forward mode (-1 along d_out); more inputs favour reverse mode (+1 along
    d_in and along d_in / d_out); along n of a square family it predicts nothing (0).
    """
    return {AXIS_D_OUT: -1, AXIS_SQUARE: 0}.get(axis, 1)


def textbook_tie(axis: str, fixed: float) -> float:
    """Where the textbook puts the tie on the axis: d_in = d_out; NaN along n of a square
    family, which is at d_in = d_out everywhere."""
    if axis == AXIS_SQUARE:
        return math.nan
    return 1.0 if axis == AXIS_RATIO else float(fixed)


def textbook_mode(axis: str, fixed: float, x: float) -> str:
    """The mode the textbook advises at axis value x ("either" at the tie, and everywhere on a
    square family)."""
    if axis == AXIS_SQUARE:
        return "either"
    side = textbook_direction(axis) * (math.log(x) - math.log(textbook_tie(axis, fixed)))
    return "either" if side == 0 else (FWD if side < 0 else REV)


def ratio_at(axis: str, fixed: float, x: float) -> float:
    """d_in / d_out at axis value x."""
    if axis == AXIS_D_OUT:
        return fixed / x
    if axis == AXIS_D_IN:
        return x / fixed
    if axis == AXIS_SQUARE:
        return 1.0
    return x


def sweep_of(
    results: pd.DataFrame,
    samples: pd.DataFrame | None = None,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Sweep | None:
    """The cases of one family on one host and device with both modes ok; None when none.

    results, samples: that family's rows there (schema.RESULT_COLUMNS, SAMPLE_COLUMNS).
    """
    ok = results[results["status"] == schema.STATUS_OK]
    by_case: dict[Any, pd.DataFrame] = {}
    if samples is not None and len(samples):
        by_case = dict(iter(samples.groupby("case_id", sort=False)))
    rows = []
    for case_id, group in ok.groupby("case_id", sort=False):
        modes = {str(r["strategy"]): r for _, r in group.iterrows()}
        if FWD in modes and REV in modes:
            mf, mr = float(modes[FWD]["median_s"]), float(modes[REV]["median_s"])
            if mf > 0 and mr > 0:
                pairs = CasePairs(
                    rounds_by_strategy(by_case.get(case_id)),
                    {FWD: mf, REV: mr},
                    confidence=confidence,
                    n_boot=n_boot,
                    seed=seed,
                )
                d_in, d_out = int(modes[FWD]["d_in"]), int(modes[FWD]["d_out"])
                rows.append((str(case_id), d_in, d_out, mf, mr, pairs.get(FWD, REV)))
    if not rows:
        return None
    axis, fixed = axis_of([r[1] for r in rows], [r[2] for r in rows])
    case_x = np.array([position(axis, r[1], r[2]) for r in rows], dtype=float)
    case_lr = np.log([r[5].estimate.ratio for r in rows])
    x, cases = np.unique(case_x, return_inverse=True)
    return Sweep(
        axis=axis,
        fixed=fixed,
        x=x,
        log_ratio=_mean_by(case_lr, cases, x.size),
        cases=cases,
        case_ids=tuple(r[0] for r in rows),
        pairs=tuple(r[5] for r in rows),
        case_x=case_x,
        median_fwd_s=np.array([r[3] for r in rows]),
        median_rev_s=np.array([r[4] for r in rows]),
    )


def _mean_by(values: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Mean of values (shape (..., n)) per group (shape (n,), in 0..k-1); shape (..., k). A group
    of one keeps its value exactly."""
    return np.stack([values[..., groups == i].mean(axis=-1) for i in range(k)], axis=-1)


def boot_curves(sw: Sweep) -> np.ndarray | None:
    """Log ratio per axis value in each resample of the cases' own bootstraps; (n_boot, k).

    A case with fewer than two paired rounds has no resamples and stays at its point value. None
    when no case has resamples (no raw samples stored).
    """
    boots = [p.boot for p in sw.pairs]
    n_boot = max((b.size for b in boots), default=0)
    if n_boot == 0:
        return None
    per_case = np.empty((n_boot, len(boots)))
    for j, b in enumerate(boots):
        per_case[:, j] = np.log(b) if b.size else math.log(sw.pairs[j].estimate.ratio)
    return _mean_by(per_case, sw.cases, sw.x.size)


def sizes(
    sw: Sweep, margin: float, boot: np.ndarray | None, confidence: float = 0.95
) -> tuple[Size, ...]:
    """Each axis value with its interval and the mode it counts for (stats.decide); a size
    resting on fewer than decision.MIN_ROUNDS paired rounds counts for neither (UNDECIDED)."""
    out = []
    for i, x in enumerate(sw.x):
        members = np.flatnonzero(sw.cases == i)
        ids = tuple(sw.case_ids[j] for j in members)
        if members.size == 1:
            est = sw.pairs[members[0]].estimate  # the case's own: its verdict's fwd_rev
        elif boot is None:
            est = stats.RatioEstimate(math.exp(sw.log_ratio[i]), math.nan, math.nan, 0)
        else:
            low, high = stats.percentile_interval(np.exp(boot[:, i]), confidence)
            n = min(sw.pairs[j].estimate.n for j in members)
            est = stats.RatioEstimate(math.exp(sw.log_ratio[i]), low, high, n)
        side = stats.decide(est, margin)
        winner = FWD if side == stats.A_FASTER else REV if side == stats.B_FASTER else TIE
        if not decision.enough_rounds(est.n):
            winner = UNDECIDED
        out.append(Size(float(x), ids, est, winner))
    return tuple(out)


def sizes_of(
    results: pd.DataFrame,
    samples: pd.DataFrame | None = None,
    *,
    margin: float = 0.1,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[Size, ...]:
    """The sizes of one family on one host and device, as :func:`estimate` reads them: each
    with its interval and the mode it counts for. results, samples: as for :func:`estimate`."""
    sw = sweep_of(results, samples, confidence=confidence, n_boot=n_boot, seed=seed)
    if sw is None:
        return ()
    return sizes(sw, margin, boot_curves(sw), confidence)
