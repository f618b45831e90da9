"""Where do jacfwd and jacrev tie? A crossover estimate per family and device (pure; no I/O).

Along a family's sweep the time ratio ``t(jacfwd) / t(jacrev)`` moves with the sizes: forward
mode costs about one JVP per input, reverse mode one VJP per output. Each case contributes its
ratio, the median over the rounds in which both modes ran back to back, placed at what the sweep
varies (d_out, d_in, d_in / d_out, or n when every case is square: :mod:`adbench.analysis.axis`).

The modes tie where the log ratio crosses zero. A size counts for a mode only when the bootstrap
interval of its ratio clears the practical margin: the verdict's own interval and decision
(``stats.decide``), so a size's winner here is always its case's ``fwd_rev`` verdict (cases at
one x of a d_in/d_out grid are averaged first). The tie is then found by a monotone (PCHIP)
interpolation of the log ratio against log x between the last size won by one mode and the
first size won by the other. So the estimate always lies between two measured sizes that
disagree, and a smooth overhead-then-power-law curve (which one straight log-log line fits
badly) is followed. Where the curve wanders across zero more than once between them (sizes in
between that tie), the estimate is the midpoint, in log x, of the first and the last crossing,
so a stretch of noise around zero counts once. Its interval comes from the same bootstrap over
the stored raw samples: the resamples behind each case's interval are combined and the tie found
again in each. The interval is the statistical uncertainty of that estimate; the bracketing
sizes, which the reason names, are what the data say without any interpolation.

Without a bracket the answer is which mode was faster throughout the measured range (the tie
lies outside it), a tie (no size separates the modes beyond the margin), "unclear" (the
winner changes more than once), or "undecided" (no size rests on the paired rounds a decision
needs, :data:`adbench.analysis.decision.MIN_ROUNDS`; a size short of them counts for neither).
The textbook rule (forward when d_in < d_out) puts the tie at d_in = d_out; a family is
flagged ``far_from_textbook`` when the whole interval lies more than ``far_factor`` (default 4)
from it, when the modes swap the other way round, or when a size more than ``far_factor`` from
the textbook tie is won by the mode the textbook advises against.
A square family (every case n -> n) has no d_in/d_out crossover and no textbook tie (the rule
says "either" at every size): its sizes are placed along n, the same rules find where the modes
trade places there, and ``far_from_textbook`` is "n/a".

Longer than ~400 lines on purpose: the point estimate and its bootstrap interval must run the very
same bracket-and-interpolate rule (two copies drifted once), and the outcome words (crossover, tie,
unclear, undecided) are decided by that rule's steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from adbench import fmt
from adbench.analysis import decision, stats
from adbench.analysis.axis import (
    AXIS_D_OUT,
    AXIS_RATIO,
    AXIS_SQUARE,
    FWD,
    REV,
    Sweep,
    axis_word,
    boot_curves,
    fit_power,
    ratio_at,
    sizes,
    sweep_of,
    textbook_direction,
    textbook_mode,
    textbook_tie,
)
from adbench.analysis.paired import with_keys
from adbench.store import schema

OUTCOME_CROSSOVER = "crossover"  # the modes tie inside the measured range
# otherwise FWD or REV: that mode faster (or tied) throughout the measured range
OUTCOME_TIE = decision.TIE  # no size separates the modes beyond the margin
OUTCOME_UNDECIDED = decision.UNDECIDED  # no size has the paired rounds a decision needs
OUTCOME_UNCLEAR = "unclear"  # the winner changes more than once along the axis
OUTCOME_NA = "n/a"  # fewer than two sizes with both modes measured

SQUARE_NOTE = (
    "every case is square (d_in = d_out): there is no d_in/d_out crossover, and the textbook "
    "rule says either mode at every size"
)
_GRID = 512  # points per bracket at which the interpolant is evaluated; refined linearly


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


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The slopes of the monotone piecewise-cubic Hermite interpolant (PCHIP: Fritsch and
    Carlson's rule, Moler's one-sided ends) through nodes x (shape (k,), k >= 3, increasing) of
    curves y (shape (k, b)). Zero at a node where the data turn or stay flat, so no curve
    overshoots its data. The arithmetic of scipy.interpolate.PchipInterpolator (its oracle in
    tests/analysis/test_crossover.py); adbench's own because scipy.interpolate takes 0.7 s to
    import, a twentieth of the default run."""
    h = (x[1:] - x[:-1])[:, None]
    m = (y[1:] - y[:-1]) / h
    sign = np.sign(m)
    flat_or_turning = (sign[1:] != sign[:-1]) | (m[1:] == 0) | (m[:-1] == 0)
    w1 = 2 * h[1:] + h[:-1]
    w2 = h[1:] + 2 * h[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 / m[:-1] + w2 / m[1:]) / (w1 + w2)
        inner = np.where(flat_or_turning, 0.0, 1.0 / harmonic)
    d = np.zeros_like(y)
    d[1:-1] = inner

    def end(h0: np.ndarray, h1: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
        e = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        wrong_way = np.sign(e) != np.sign(m0)
        too_steep = (np.sign(m0) != np.sign(m1)) & (np.abs(e) > 3.0 * np.abs(m0))
        return np.where(wrong_way, 0.0, np.where(too_steep, 3.0 * m0, e))

    d[0] = end(h[0], h[1], m[0], m[1])
    d[-1] = end(h[-1], h[-2], m[-1], m[-2])
    return d


def _pchip(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """PCHIP through nodes x (shape (k,), k >= 3) of curves y (shape (b, k)), evaluated at ``at``
    (shape (g,), inside [x[0], x[-1]]): shape (b, g). Each piece is the cubic in powers of the
    distance from its left node, summed term by term as scipy's PPoly sums it."""
    yt = y.T  # (k, b)
    d = _pchip_slopes(x, yt)
    h = (x[1:] - x[:-1])[:, None]
    slope = (yt[1:] - yt[:-1]) / h
    t = (d[:-1] + d[1:] - 2 * slope) / h
    c3, c2, c1, c0 = t / h, (slope - d[:-1]) / h - t, d[:-1], yt[:-1]  # (k-1, b) each
    piece = np.clip(np.searchsorted(x, at, side="right") - 1, 0, x.size - 2)
    s = (at - x[piece])[:, None]  # (g, 1)
    z = s
    out = c0[piece] + c1[piece] * z
    z = z * s
    out = out + c2[piece] * z
    z = z * s
    out = out + c3[piece] * z
    return np.asarray(out.T)


def _ties(lx: np.ndarray, ly: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """log x where the interpolated log ratio crosses zero between nodes lo and hi.

    lx: shape (k,); ly: shape (b, k), one curve per row. The midpoint (in log x) of the first and
    last crossing is returned, so a stretch of noise around zero counts once; NaN for a row with
    no crossing. Shape (b,).
    """
    grid = np.linspace(lx[lo], lx[hi], _GRID)
    if lx.size <= 2:
        vals = ly[:, :1] + (ly[:, 1:2] - ly[:, :1]) * (grid - lx[0]) / (lx[1] - lx[0])
    else:
        vals = _pchip(lx, ly, grid)  # shape (b, _GRID)
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
    samples: its raw samples (schema.SAMPLE_COLUMNS). Without them no size has paired rounds, so,
    as in the verdicts, the outcome is undecided and says why; so it is when no size has
    decision.MIN_ROUNDS of them (a size short of them counts for neither mode). margin: the
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
    boot = boot_curves(sw)
    won = sizes(sw, margin, boot, confidence)
    if all(s.winner == decision.UNDECIDED for s in won):
        fewest = min(s.ratio.n for s in won)
        why = "no raw samples stored" if boot is None else decision.too_few(fewest)
        return Crossover(
            **base,
            outcome=OUTCOME_UNDECIDED,
            reason=f"undecided along {_where(sw)}: no size has {decision.MIN_ROUNDS} paired "
            f"rounds ({why}){_square_note(sw)}",
        )
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
            f"see the verdicts per case{_square_note(sw)}",
        )
    lo, hi = int(separated[changes[0]]), int(separated[changes[0] + 1])
    return _crossover(sw, base, lo, hi, far_factor, boot)


def _where(sw: Sweep) -> str:
    fixed = ""
    if sw.axis == AXIS_SQUARE:
        fixed = " (d_in = d_out)"
    elif sw.axis != AXIS_RATIO:
        other = "d_in" if sw.axis == AXIS_D_OUT else "d_out"
        fixed = f" ({other} = {fmt.size(sw.fixed)})"
    return f"{axis_word(sw.axis)} {fmt.size(sw.x[0])}-{fmt.size(sw.x[-1])}{fixed}"


def _square_note(sw: Sweep) -> str:
    return f"; {SQUARE_NOTE}" if sw.axis == AXIS_SQUARE else ""


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
    factor = math.exp(abs(log_tie - math.log(book)))  # NaN on a square family: no textbook tie
    rising = sw.log_ratio[hi] > sw.log_ratio[lo]  # jacfwd faster below the tie
    if sw.axis == AXIS_SQUARE:
        far, how = "n/a", SQUARE_NOTE
    elif (1 if rising else -1) != textbook_direction(sw.axis):
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
        f"tie at {axis_word(sw.axis)} = {fmt.size(tie)}{interval}, between {_side(sw, lo)} and "
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
    if sw.axis == AXIS_SQUARE:
        reason += f"; {SQUARE_NOTE}"
    elif strong:
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
    if sw.axis == AXIS_SQUARE:
        factor, far, how = math.nan, "n/a", SQUARE_NOTE
    elif against:
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
