"""Where do jacfwd and jacrev tie? A crossover estimate per family and device (pure; no I/O).

Along a family's sweep the time ratio ``t(jacfwd) / t(jacrev)`` moves with the sizes: forward
mode costs about one JVP per input, reverse mode one VJP per output. Each case contributes its
log ratio, the median over the rounds in which both modes ran back to back (as in the verdict),
placed at ``x``, what the sweep varies:

    axis "d_out"       d_in fixed, d_out varies      x = d_out
    axis "d_in"        d_out fixed, d_in varies      x = d_in
    axis "d_in/d_out"  both vary (a grid, points)    x = d_in / d_out (cases at one x averaged)

The modes tie where the log ratio crosses zero. A size counts for a mode only when the
bootstrap interval of its ratio clears the practical margin (as in the verdicts); the tie is
then found by a monotone (PCHIP) interpolation of the log ratio against log x between the last
size won by one mode and the first size won by the other. So the estimate always lies between
two measured sizes that disagree, and a smooth overhead-then-power-law curve (which one straight
log-log line fits badly) is followed. Its interval comes from the same bootstrap over the stored
raw samples: each case's rounds are resampled and the tie found again. The interval is the
statistical uncertainty of that estimate; the bracketing sizes, which the reason names, are what
the data say without any interpolation.

Without a bracket the answer is which mode was faster throughout the measured range (the tie
lies outside it), a tie (no size separates the modes beyond the margin), or "unclear" (the
winner changes more than once). The textbook rule (forward when d_in < d_out) puts the tie at
d_in = d_out; a family is flagged ``far_from_textbook`` when the whole interval lies more than
``far_factor`` (default 4) from it, when the modes swap the other way round, or when a size more
than ``far_factor`` from the textbook tie is won by the mode the textbook advises against.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.interpolate import PchipInterpolator

from adbench.store import schema

FWD, REV = "jacfwd", "jacrev"

AXIS_D_OUT, AXIS_D_IN, AXIS_RATIO = "d_out", "d_in", "d_in/d_out"

OUTCOME_CROSSOVER = "crossover"  # the modes tie inside the measured range
OUTCOME_FWD = FWD  # jacfwd faster (or tied) throughout the measured range
OUTCOME_REV = REV
OUTCOME_TIE = "tie"  # no size separates the modes beyond the margin
OUTCOME_UNCLEAR = "unclear"  # the winner changes more than once along the axis
OUTCOME_NA = "n/a"  # fewer than two sizes with both modes measured

_GRID = 512  # points per bracket at which the interpolant is evaluated; refined linearly


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
class Crossover:
    """The crossover estimate of one family on one device; fields are schema.CROSSOVER_COLUMNS."""

    family: str
    device: str
    axis: str  # AXIS_D_OUT, AXIS_D_IN or AXIS_RATIO
    fixed: float  # the dimension held fixed on a one-axis sweep; NaN on AXIS_RATIO
    n_sizes: int  # distinct axis values with both modes measured
    axis_min: float
    axis_max: float
    outcome: str  # one of the OUTCOME_* values
    crossover: float  # axis value of the tie (NaN unless outcome is OUTCOME_CROSSOVER)
    crossover_low: float  # bootstrap interval; 0 / inf when the data cannot bound it
    crossover_high: float
    crossover_ratio: float  # d_in / d_out at the tie
    textbook: float  # the textbook tie on the axis (d_in = d_out)
    factor_from_textbook: float  # measured vs textbook tie, >= 1; a lower bound without a tie
    far_from_textbook: str  # "yes", "no" or "n/a"
    slope_jacfwd: float  # log-log slope of each mode's median time against the axis
    slope_jacrev: float
    slope_ratio: float  # log-log slope of t_fwd / t_rev against the axis
    confidence: float
    reason: str  # one line, in words

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sweep:
    """A family's usable cases on one device, along its axis.

    x: shape (k,), the distinct axis values, ascending; log_ratio: shape (k,), mean over the cases
    at each x of log(t_fwd / t_rev); cases: shape (n,), index into x of each case;
    rounds: n arrays of per-round log ratios (empty where no raw samples were stored);
    median_fwd_s, median_rev_s: shape (n,).
    """

    axis: str
    fixed: float
    x: np.ndarray
    log_ratio: np.ndarray
    cases: np.ndarray
    case_log_ratio: np.ndarray
    rounds: tuple[np.ndarray, ...]
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


def textbook_direction(axis: str) -> int:
    """Sign of d log(t_fwd / t_rev) / d log(x) that the textbook predicts along the axis.

    More outputs favour forward mode (-1 along d_out); more inputs favour reverse mode (+1 along
    d_in and along d_in / d_out).
    """
    return -1 if axis == AXIS_D_OUT else 1


def textbook_tie(axis: str, fixed: float) -> float:
    """Where the textbook puts the tie on the axis: d_in = d_out."""
    return 1.0 if axis == AXIS_RATIO else float(fixed)


def textbook_mode(axis: str, fixed: float, x: float) -> str:
    """The mode the textbook advises at axis value x ("either" at the tie)."""
    side = textbook_direction(axis) * (math.log(x) - math.log(textbook_tie(axis, fixed)))
    return "either" if side == 0 else (FWD if side < 0 else REV)


def ratio_at(axis: str, fixed: float, x: float) -> float:
    """d_in / d_out at axis value x."""
    if axis == AXIS_D_OUT:
        return fixed / x
    if axis == AXIS_D_IN:
        return x / fixed
    return x


def _fmt(v: float) -> str:
    """3 significant digits; whole sizes such as 10000 written out."""
    if not math.isfinite(v):
        return str(v)
    if v == round(v) and 1 <= abs(v) < 1e7:
        return str(int(v))
    return f"{v:.3g}"


def _round_log_ratios(samples: pd.DataFrame | None) -> np.ndarray:
    """log(t_fwd / t_rev) of each round timed in both modes; samples of one case, one device."""
    if samples is None or samples.empty:
        return np.empty(0)
    by_mode = {m: s.groupby("round")["seconds"].median() for m, s in samples.groupby("strategy")}
    if FWD not in by_mode or REV not in by_mode:
        return np.empty(0)
    common = by_mode[FWD].index.intersection(by_mode[REV].index)
    a = by_mode[FWD].loc[common].to_numpy(dtype=np.float64)
    b = by_mode[REV].loc[common].to_numpy(dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    return np.log(a[keep] / b[keep])


def sweep_of(results: pd.DataFrame, samples: pd.DataFrame | None = None) -> Sweep | None:
    """The cases of one family on one device with both modes ok; None when there are none.

    results, samples: that family's rows on that device (schema.RESULT_COLUMNS, SAMPLE_COLUMNS).
    """
    ok = results[results["status"] == schema.STATUS_OK]
    rows = []
    for case_id, group in ok.groupby("case_id", sort=False):
        modes = {str(r["strategy"]): r for _, r in group.iterrows()}
        if FWD in modes and REV in modes:
            mf, mr = float(modes[FWD]["median_s"]), float(modes[REV]["median_s"])
            if mf > 0 and mr > 0:
                d_in, d_out = int(modes[FWD]["d_in"]), int(modes[FWD]["d_out"])
                rows.append((str(case_id), d_in, d_out, mf, mr))
    if not rows:
        return None
    d_ins = {r[1] for r in rows}
    d_outs = {r[2] for r in rows}
    if len(d_ins) == 1 and len(d_outs) > 1:
        axis, fixed = AXIS_D_OUT, float(rows[0][1])
    elif len(d_outs) == 1 and len(d_ins) > 1:
        axis, fixed = AXIS_D_IN, float(rows[0][2])
    else:
        axis, fixed = AXIS_RATIO, math.nan
    by_case = (
        {str(k): g for k, g in samples.groupby("case_id", sort=False)}
        if samples is not None and len(samples)
        else {}
    )
    case_x = np.array(
        [{AXIS_D_OUT: r[2], AXIS_D_IN: r[1]}.get(axis, r[1] / r[2]) for r in rows], dtype=float
    )
    rounds = tuple(_round_log_ratios(by_case.get(r[0])) for r in rows)
    case_lr = np.array(
        [
            float(np.median(lr)) if lr.size else math.log(r[3] / r[4])
            for lr, r in zip(rounds, rows, strict=True)
        ]
    )
    x, cases = np.unique(case_x, return_inverse=True)
    return Sweep(
        axis=axis,
        fixed=fixed,
        x=x,
        log_ratio=_mean_by(case_lr, cases, x.size),
        cases=cases,
        case_log_ratio=case_lr,
        rounds=rounds,
        case_x=case_x,
        median_fwd_s=np.array([r[3] for r in rows]),
        median_rev_s=np.array([r[4] for r in rows]),
    )


def _mean_by(values: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Mean of values (shape (..., n)) per group (shape (n,), in 0..k-1); shape (..., k)."""
    onehot = np.zeros((groups.size, k))
    onehot[np.arange(groups.size), groups] = 1.0
    return (values @ onehot) / onehot.sum(axis=0)


def _ties(lx: np.ndarray, ly: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """log x where the interpolated log ratio crosses zero between nodes lo and hi.

    lx: shape (k,); ly: shape (b, k), one curve per row. The midpoint (in log x) of the first and
    last crossing is returned, so a stretch of noise around zero counts once; NaN for a row with
    no crossing. Shape (b,).
    """
    curves = PchipInterpolator(lx, ly, axis=1) if lx.size > 2 else None
    grid = np.linspace(lx[lo], lx[hi], _GRID)
    if curves is None:
        vals = ly[:, :1] + (ly[:, 1:2] - ly[:, :1]) * (grid - lx[0]) / (lx[1] - lx[0])
    else:
        vals = curves(grid)  # shape (b, _GRID)
    pos = vals > 0
    change = pos[:, 1:] != pos[:, :-1]
    has = change.any(axis=1)
    first = np.argmax(change, axis=1)
    last = change.shape[1] - 1 - np.argmax(change[:, ::-1], axis=1)
    rows = np.arange(vals.shape[0])

    def root(i: np.ndarray) -> np.ndarray:
        y0, y1 = vals[rows, i], vals[rows, i + 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(y1 != y0, y0 / (y0 - y1), 0.5)
        return grid[i] + t * (grid[1] - grid[0])

    return np.where(has, 0.5 * (root(first) + root(last)), np.nan)


def _boot_curves(sw: Sweep, n_boot: int, seed: int) -> np.ndarray:
    """Log ratio per axis value for ``n_boot`` resamples of every case's rounds; (n_boot, k)."""
    rng = np.random.default_rng(seed)
    per_case = np.empty((n_boot, sw.case_log_ratio.size))
    for j, lr in enumerate(sw.rounds):
        if lr.size < 2:
            per_case[:, j] = sw.case_log_ratio[j]
        else:
            per_case[:, j] = np.median(lr[rng.integers(0, lr.size, size=(n_boot, lr.size))], axis=1)
    return _mean_by(per_case, sw.cases, sw.x.size)


_NAN_FIELDS = (
    "fixed",
    "axis_min",
    "axis_max",
    "crossover",
    "crossover_low",
    "crossover_high",
    "crossover_ratio",
    "factor_from_textbook",
    "slope_jacfwd",
    "slope_jacrev",
    "slope_ratio",
)


def estimate(
    family: str,
    device: str,
    results: pd.DataFrame,
    samples: pd.DataFrame | None = None,
    *,
    margin: float = 0.1,
    far_factor: float = 4.0,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Crossover:
    """The crossover of one family on one device.

    results: that family's rows of the results table on that device (schema.RESULT_COLUMNS);
    samples: its raw samples (schema.SAMPLE_COLUMNS), or None to use the stored medians only
    (no interval then). margin: the verdicts' practical margin, e.g. 0.1 for ±10%.
    """
    sw = sweep_of(results, samples)
    base: dict[str, Any] = dict.fromkeys(_NAN_FIELDS, math.nan)
    base.update(family=family, device=device, axis=AXIS_RATIO, n_sizes=0, textbook=1.0)
    base.update(far_from_textbook="n/a", confidence=confidence)
    if sw is not None:
        base.update(
            axis=sw.axis,
            fixed=sw.fixed,
            n_sizes=int(sw.x.size),
            axis_min=float(sw.x[0]),
            axis_max=float(sw.x[-1]),
            textbook=textbook_tie(sw.axis, sw.fixed),
            slope_jacfwd=fit_power(sw.case_x, sw.median_fwd_s).slope,
            slope_jacrev=fit_power(sw.case_x, sw.median_rev_s).slope,
            slope_ratio=fit_power(sw.x, np.exp(sw.log_ratio)).slope,
        )
    if sw is None or sw.x.size < 2:
        return Crossover(
            **base,
            outcome=OUTCOME_NA,
            reason="needs at least two sizes with both modes measured along one axis",
        )
    # A size counts for a mode only when the interval of its ratio clears the practical margin,
    # as in the verdicts; sizes in between are ties and do not place the crossover.
    boot = _boot_curves(sw, n_boot, seed) if any(r.size >= 2 for r in sw.rounds) else None
    alpha = 1.0 - confidence
    if boot is None:
        low_lr = high_lr = sw.log_ratio
    else:
        low_lr, high_lr = np.percentile(boot, [50.0 * alpha, 100.0 - 50.0 * alpha], axis=0)
    bound = math.log1p(margin)
    winner = np.where(high_lr < -bound, 1, np.where(low_lr > bound, -1, 0))  # 1: jacfwd
    separated = np.flatnonzero(winner)
    if separated.size == 0:
        return _tied(sw, base, margin, far_factor)
    changes = np.flatnonzero(winner[separated][1:] != winner[separated][:-1])
    if changes.size == 0:
        outcome = FWD if winner[separated[0]] > 0 else REV
        return _throughout(sw, base, outcome, winner, far_factor)
    if changes.size > 1:
        return Crossover(
            **base,
            outcome=OUTCOME_UNCLEAR,
            reason=f"the faster mode changes {changes.size} times along {_where(sw)}; "
            "see the verdicts per case",
        )
    lo, hi = int(separated[changes[0]]), int(separated[changes[0] + 1])
    return _crossover(sw, base, lo, hi, far_factor, boot)


def _where(sw: Sweep) -> str:
    fixed = ""
    if sw.axis != AXIS_RATIO:
        other = "d_in" if sw.axis == AXIS_D_OUT else "d_out"
        fixed = f" ({other} = {_fmt(sw.fixed)})"
    return f"{sw.axis} {_fmt(sw.x[0])}-{_fmt(sw.x[-1])}{fixed}"


def _side(sw: Sweep, i: int) -> str:
    r = math.exp(sw.log_ratio[i])
    mode, speed = (FWD, 1 / r) if r < 1 else (REV, r)
    return f"{_fmt(sw.x[i])} ({mode} {speed:.3g}x faster)"


def _crossover(
    sw: Sweep, base: dict[str, Any], lo: int, hi: int, far_factor: float, boot: np.ndarray | None
) -> Crossover:
    lx = np.log(sw.x)
    log_tie = float(_ties(lx, sw.log_ratio[None, :], lo, hi)[0])
    tie = math.exp(log_tie)
    note = ""
    if boot is not None:
        ties = _ties(lx, boot, lo, hi)
        missing = int(np.isnan(ties).sum())
        alpha = 1.0 - base["confidence"]
        if missing > alpha / 2 * ties.size:
            low, high = 0.0, math.inf
            note = f"; in {missing} of {ties.size} resamples the modes did not cross between them"
        else:
            q = np.nanpercentile(ties, [50.0 * alpha, 100.0 - 50.0 * alpha])
            low, high = float(np.exp(q[0])), float(np.exp(q[1]))
    else:
        low = high = math.nan
        note = "; no raw samples stored, so no interval"
    book = base["textbook"]
    factor = math.exp(abs(log_tie - math.log(book)))
    rising = sw.log_ratio[hi] > sw.log_ratio[lo]  # jacfwd faster below the tie
    if (1 if rising else -1) != textbook_direction(sw.axis):
        far, how = "yes", "the modes swap the other way round from the textbook"
    else:
        if math.isnan(low):
            far_ = factor > far_factor
        else:  # the whole interval beyond the factor
            far_ = low > book * far_factor or high < book / far_factor
        far = "yes" if far_ else "no"
        how = f"textbook {_fmt(book)}, a factor {_fmt(factor)} away"
    interval = "" if math.isnan(low) else f" ({base['confidence']:.0%} CI {_fmt(low)}-{_fmt(high)})"
    reason = (
        f"tie at {sw.axis} = {_fmt(tie)}{interval}, between {_side(sw, lo)} and {_side(sw, hi)}; "
        f"{how}{note}"
    )
    return Crossover(
        **{
            **base,
            "crossover": tie,
            "crossover_low": low,
            "crossover_high": high,
            "crossover_ratio": ratio_at(sw.axis, sw.fixed, tie),
            "factor_from_textbook": factor,
            "far_from_textbook": far,
        },
        outcome=OUTCOME_CROSSOVER,
        reason=reason,
    )


def _span(sw: Sweep) -> str:
    return (
        f"fwd/rev time ratio {_fmt(math.exp(sw.log_ratio[0]))} at {_fmt(sw.x[0])}, "
        f"{_fmt(math.exp(sw.log_ratio[-1]))} at {_fmt(sw.x[-1])}"
    )


def _tied(sw: Sweep, base: dict[str, Any], margin: float, far_factor: float) -> Crossover:
    reason = (
        f"no crossover in the measured range {_where(sw)}: no size separates the modes beyond "
        f"±{margin:.0%} ({_span(sw)})"
    )
    book = base["textbook"]
    strong = [x for x in sw.x if math.exp(abs(math.log(x) - math.log(book))) > far_factor]
    far = "n/a"
    if strong:
        far = "yes"
        modes = sorted({textbook_mode(sw.axis, sw.fixed, x) for x in strong})
        reason += (
            f"; the textbook expects {' and '.join(modes)} to win clearly at {len(strong)} of the "
            "sizes"
        )
    return Crossover(**{**base, "far_from_textbook": far}, outcome=OUTCOME_TIE, reason=reason)


def _throughout(
    sw: Sweep, base: dict[str, Any], outcome: str, winner: np.ndarray, far_factor: float
) -> Crossover:
    # The tie lies outside the range. Where a size is won clearly against the textbook's advice,
    # the measured tie is at least as far from the textbook's as that size.
    book = base["textbook"]
    against = [
        x
        for x, won in zip(sw.x, winner, strict=True)
        if won and textbook_mode(sw.axis, sw.fixed, x) not in (outcome, "either")
    ]
    if against:
        factor = max(math.exp(abs(math.log(x) - math.log(book))) for x in against)
        far = "yes" if factor > far_factor else "no"
        how = (
            f"against the textbook (tie at {_fmt(book)}) at {len(against)} of the sizes, "
            f"so the measured tie is a factor >= {_fmt(factor)} from it"
        )
    else:
        factor, far = math.nan, "no"
        how = f"as the textbook expects (tie at {_fmt(book)})"
    reason = (
        f"no crossover in the measured range {_where(sw)}: {outcome} faster throughout "
        f"({_span(sw)}); {how}"
    )
    return Crossover(
        **{**base, "factor_from_textbook": factor, "far_from_textbook": far},
        outcome=outcome,
        reason=reason,
    )


def crossovers_for(
    results: pd.DataFrame,
    samples: pd.DataFrame | None = None,
    *,
    margin: float = 0.1,
    far_factor: float = 4.0,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One crossover row per (family, device), columns schema.CROSSOVER_COLUMNS.

    results: the results table (schema.RESULT_COLUMNS); samples: the raw samples
    (schema.SAMPLE_COLUMNS) or None. Deterministic for a given seed.
    """
    rows = []
    if len(results):
        groups: dict[Any, pd.DataFrame] = {}
        if samples is not None and len(samples):
            groups = {k: g for k, g in samples.groupby(["family", "device"], sort=False)}
        settings = dict(margin=margin, far_factor=far_factor, confidence=confidence)
        for (family, device), group in results.groupby(["family", "device"], sort=False):
            smp = groups.get((family, device))
            est = estimate(
                str(family), str(device), group, smp, n_boot=n_boot, seed=seed, **settings
            )
            rows.append(est.as_row())
    return pd.DataFrame(rows).reindex(columns=list(schema.CROSSOVER_COLUMNS))
