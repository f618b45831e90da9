"""Where do jacfwd and jacrev tie? A crossover estimate per family and device (pure; no I/O).

Along a family's sweep the time ratio ``t(jacfwd) / t(jacrev)`` moves with the sizes: forward
mode costs about one JVP per input, reverse mode one VJP per output. Each case contributes its
log ratio, the median over the rounds in which both modes ran back to back (as in the verdict),
placed at ``x``, what the sweep varies (the case's own pair, :mod:`adbench.analysis.paired`):

    axis "d_out"       d_in fixed, d_out varies      x = d_out
    axis "d_in"        d_out fixed, d_in varies      x = d_in
    axis "d_in/d_out"  both vary (a grid, points)    x = d_in / d_out (cases at one x averaged)

The modes tie where the log ratio crosses zero. A size counts for a mode only when the
bootstrap interval of its ratio clears the practical margin: the verdict's own interval and
decision (``stats.decide``), so a size's winner here is always its case's ``fwd_rev`` verdict
(cases at one x of a d_in/d_out grid are averaged first); the tie is
then found by a monotone (PCHIP) interpolation of the log ratio against log x between the last
size won by one mode and the first size won by the other. So the estimate always lies between
two measured sizes that disagree, and a smooth overhead-then-power-law curve (which one straight
log-log line fits badly) is followed. Its interval comes from the same bootstrap over the stored
raw samples: the resamples behind each case's interval are combined and the tie found again in
each. Where the interpolated curve wanders across zero more than once between the two sizes
(sizes in between that tie), the estimate is the midpoint, in log x, of the first and the last
crossing, so a stretch of noise around zero counts once. The interval is the
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

from adbench import fmt
from adbench.analysis import stats
from adbench.analysis.paired import CasePairs, Pair, rounds_by_strategy, with_keys
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
    """The crossover estimate of one family on one host and device; fields are
    schema.CROSSOVER_COLUMNS."""

    family: str
    host: str
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
class Size:
    """One axis value of a sweep: its cases, the interval of t(jacfwd) / t(jacrev) there and the
    mode it counts for ("jacfwd", "jacrev" or "tie"). With one case at x (every one-axis sweep)
    ``ratio`` and ``winner`` are that case's verdict's ``fwd_rev*`` values, computed once."""

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
    d_ins = {r[1] for r in rows}
    d_outs = {r[2] for r in rows}
    if len(d_ins) == 1 and len(d_outs) > 1:
        axis, fixed = AXIS_D_OUT, float(rows[0][1])
    elif len(d_outs) == 1 and len(d_ins) > 1:
        axis, fixed = AXIS_D_IN, float(rows[0][2])
    else:
        axis, fixed = AXIS_RATIO, math.nan
    case_x = np.array(
        [{AXIS_D_OUT: r[2], AXIS_D_IN: r[1]}.get(axis, r[1] / r[2]) for r in rows], dtype=float
    )
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


def _boot_curves(sw: Sweep) -> np.ndarray | None:
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
    """Each axis value with its interval and the mode it counts for (stats.decide)."""
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
        winner = FWD if side == stats.A_FASTER else REV if side == stats.B_FASTER else OUTCOME_TIE
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
    return sizes(sw, margin, _boot_curves(sw), confidence)


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
    host: str = "",
    margin: float = 0.1,
    far_factor: float = 4.0,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Crossover:
    """The crossover of one family on one host and device.

    results: that family's rows of the results table there (schema.RESULT_COLUMNS);
    samples: its raw samples (schema.SAMPLE_COLUMNS). Without them no size has an interval, so,
    as in the verdicts, none is separated and the outcome is a tie that says why. margin: the
    verdicts' practical margin, e.g. 0.1 for ±10%.
    """
    sw = sweep_of(results, samples, confidence=confidence, n_boot=n_boot, seed=seed)
    base: dict[str, Any] = dict.fromkeys(_NAN_FIELDS, math.nan)
    base.update(family=family, host=host, device=device, axis=AXIS_RATIO, n_sizes=0)
    base.update(textbook=1.0, far_from_textbook="n/a", confidence=confidence)
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
    boot = _boot_curves(sw)
    won = sizes(sw, margin, boot, confidence)
    winner = np.array([{FWD: 1, REV: -1}.get(s.winner, 0) for s in won])
    separated = np.flatnonzero(winner)
    if separated.size == 0:
        return _tied(sw, base, margin, far_factor, raw=boot is not None)
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
        fixed = f" ({other} = {fmt.size(sw.fixed)})"
    return f"{sw.axis} {fmt.size(sw.x[0])}-{fmt.size(sw.x[-1])}{fixed}"


def _side(sw: Sweep, i: int) -> str:
    r = math.exp(sw.log_ratio[i])
    mode, speed = (FWD, 1 / r) if r < 1 else (REV, r)
    return f"{fmt.size(sw.x[i])} ({mode} {fmt.factor(speed)} faster)"


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
            q = stats.percentile_interval(ties, base["confidence"])
            low, high = math.exp(q[0]), math.exp(q[1])
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
        how = f"textbook {fmt.size(book)}, a factor {fmt.size(factor)} away"
    conf = f"{base['confidence']:.0%} CI"
    interval = "" if math.isnan(low) else f" ({conf} {fmt.size(low)}-{fmt.size(high)})"
    reason = (
        f"tie at {sw.axis} = {fmt.size(tie)}{interval}, between {_side(sw, lo)} and "
        f"{_side(sw, hi)}; {how}{note}"
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
        f"fwd/rev time ratio {fmt.size(math.exp(sw.log_ratio[0]))} at {fmt.size(sw.x[0])}, "
        f"{fmt.size(math.exp(sw.log_ratio[-1]))} at {fmt.size(sw.x[-1])}"
    )


def _tied(
    sw: Sweep, base: dict[str, Any], margin: float, far_factor: float, *, raw: bool = True
) -> Crossover:
    reason = (
        f"no crossover in the measured range {_where(sw)}: no size separates the modes beyond "
        f"±{margin:.0%} ({_span(sw)})"
    )
    if not raw:
        reason += "; no raw samples stored, so no size has an interval to separate them"
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
            f"against the textbook (tie at {fmt.size(book)}) at {len(against)} of the sizes, "
            f"so the measured tie is a factor >= {fmt.size(factor)} from it"
        )
    else:
        factor, far = math.nan, "no"
        how = f"as the textbook expects (tie at {fmt.size(book)})"
    reason = (
        f"no crossover in the measured range {_where(sw)}: {outcome} faster throughout "
        f"({_span(sw)}); {how}"
    )
    return Crossover(
        **{**base, "factor_from_textbook": factor, "far_from_textbook": far},
        outcome=outcome,
        reason=reason,
    )


GROUP = ("family", "host", "device")


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
    """One crossover row per Jacobian family x host x device, columns schema.CROSSOVER_COLUMNS.

    results: the results table (schema.RESULT_COLUMNS); samples: the raw samples
    (schema.SAMPLE_COLUMNS) or None. Deterministic for a given seed.
    """
    rows = []
    jac = with_keys(results)
    if len(jac):
        jac = jac[jac["task"].isin(("jacobian", ""))]
    if len(jac):
        groups: dict[Any, pd.DataFrame] = {}
        if samples is not None and len(samples):
            groups = dict(iter(with_keys(samples).groupby(list(GROUP), sort=False)))
        settings = dict(margin=margin, far_factor=far_factor, confidence=confidence)
        for (family, host, device), group in jac.groupby(list(GROUP), sort=False):
            est = estimate(
                str(family),
                str(device),
                group,
                groups.get((family, host, device)),
                host=str(host),
                n_boot=n_boot,
                seed=seed,
                **settings,
            )
            rows.append(est.as_row())
    return pd.DataFrame(rows).reindex(columns=list(schema.CROSSOVER_COLUMNS))
