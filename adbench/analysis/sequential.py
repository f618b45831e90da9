"""When a case's timing may stop early: a few preset looks, each asking whether the verdict is
settled, with the error rate spent across the looks (pure; numpy, scipy and pandas only).

Checking after every round and stopping at the first interval that clears the margin would turn
a 2.5% one-sided error into a much larger one (each look is another chance to be fooled). So the
timing loop (adbench.measure.timing) asks only at preset round counts, :func:`looks`, and each look
uses a stricter interval than the verdict's 95%: Bonferroni, the total interim error ``ALPHA``
split evenly over the K looks (confidence ``1 - ALPHA / K``). The looks ask through the verdict's
own pairs (:class:`adbench.analysis.paired.CasePairs`, seed 0, 2000 resamples) and decision
(:func:`adbench.analysis.stats.decide`), so a case stopped as decided is decided the same way by
the 95% verdict read from the same rounds (a 99.9% interval contains the 95% one).

Why these numbers (benchmarks/sequential.py measures them, README "How a case is measured"):

- The percentile bootstrap of a median cannot be wider than [min, max] of the rounds, and over n
  rounds that interval misses the true median with probability 2 * 0.5**n: 25% at n = 3, 3% at
  n = 6. At a true ratio on the margin's edge, a first look at 3 rounds called ~13% of cases
  decisive against ~2% for the full budget; a first look at 6, 2x the full budget's rate. The
  first look is therefore at ``FIRST_LOOK`` = 10 rounds, then 20, 40, ... below ``max_rounds``.
- ``ALPHA`` = 0.002: the bootstrap at n = 10-40 covers less than it claims, so the nominal 5% of
  the verdict spent over the looks (98.3% each) doubled the decisive rate at the edge; at 0.002
  (99.93% per look with three looks) the sequential rule's rate stayed within noise of the full
  budget's. A stricter look costs rounds only for cases near the margin; a x1000 case still
  stops at the first look.

Racing (successive elimination, as F-race and Hoeffding races do): at each look, before asking
whether the case is settled, :func:`eliminated` names the strategies whose interval against the
current fastest (the verdict's own choice, :func:`adbench.analysis.verdict.fastest`) lies beyond
the margin at the look's strict confidence, the same alpha-spent interval a stop with a decision
needs. They get no more rounds (the timing loop keeps their samples; the verdict ranks them from
the rounds they had); the rest share the budget, so a x100-behind strategy no longer eats the
contenders' rounds. The settled test then asks about the contenders alone. benchmarks/
sequential.py measures the error rate with elimination against the full budget's and the rounds
it saves (docs/evidence.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adbench.analysis import decision, stats
from adbench.analysis.paired import CasePairs
from adbench.analysis.verdict import fastest

FIRST_LOOK = 10
# a futility stop needs the margin's edge within this share of the projected interval's half
# width of the estimate (see futile)
FUTILITY_SHARE = 0.5
ALPHA = 0.002  # spent by the looks on stopping with a decision (a recommendation)
ALPHA_TIE = 0.05  # spent on stopping with a tie inside the margin (no recommendation)


def looks(min_rounds: int, max_rounds: int, first: int = FIRST_LOOK) -> tuple[int, ...]:
    """Round counts after which the verdict is checked: ``first``, then doubling, each at least
    ``min_rounds`` (the floor) and below ``max_rounds`` (where the loop ends anyway).

    looks(5, 50) == (10, 20, 40); looks(3, 6) == () (the loop ends before the first look).
    """
    out = []
    n = max(1, first)
    while n < max_rounds:
        if n >= min_rounds:
            out.append(n)
        n *= 2
    return tuple(out)


def look_confidence(n_looks: int, alpha: float = ALPHA) -> float:
    """The confidence of each of ``n_looks`` looks: Bonferroni, ``1 - alpha / n_looks``."""
    return 1.0 - alpha / max(1, n_looks)


def resamples(confidence: float, n_boot: int = 2000) -> int:
    """Resamples enough for a percentile interval at ``confidence`` to mean it: at least
    ``n_boot``, and at least five resamples beyond each end. With 2000, anything past 99.75%
    is the extreme resamples themselves, whatever the confidence asked for: a 99.93% look
    would really be a ~98% one (at 10 rounds, about [2nd, 9th] smallest of the rounds); with
    15000 its tails hold five resamples each. The first 2000 of them are the verdict's own
    (same seed), so the look's interval still contains the verdict's.
    """
    return max(n_boot, math.ceil(10.0 / (1.0 - confidence)))


def _candidates(names: Sequence[str], pairs: CasePairs, margin: float) -> list[str]:
    """The strategies no other one beats beyond the margin: the candidates for the fastest."""
    return [s for s in names if not any(pairs.faster(s, t, margin) == t for t in names if t != s)]


def settled(
    rounds: Mapping[str, Sequence[float]],
    *,
    margin: float,
    confidence: float,
    tie_confidence: float | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> bool:
    """True when more rounds would not be expected to change what the verdict separates.

    rounds: seconds per call of each strategy, shape (n,) each, entry i of all taken in round i.
    A pair is *resolved* when its interval at ``confidence`` clears the margin
    (:func:`stats.decide`) or its interval at ``tie_confidence`` (default: ``confidence``) lies
    inside it (:func:`stats.within_margin`); each interval from :func:`resamples` resamples
    (``n_boot`` at least, seed ``seed``: the verdict's). The strategies no
    other one beats beyond the margin are the candidates for the fastest; the case is settled
    when every pair involving a candidate is resolved. With two strategies: the ratio is
    decisive, or a tie inside the margin. With more, it covers the verdict's cases: one
    strategy ahead of all (decisive), all within the margin of each other (a settled tie), and
    a tie set clearly ahead of the rest. An interval that straddles the margin's edge leaves
    the case unsettled; so does a cycle of wins (no candidate), and fewer than two rounds (one
    round's "interval" is a point). Fewer than two strategies: the verdict has nothing to
    separate, so it is settled.
    """
    names = list(rounds)
    if len(names) < 2:
        return True
    if min(len(v) for v in rounds.values()) < 2:
        return False
    series = {s: pd.Series(np.asarray(v, dtype=np.float64)) for s, v in rounds.items()}
    pairs = CasePairs(
        series, confidence=confidence, n_boot=resamples(confidence, n_boot), seed=seed
    )
    tie_pairs = pairs
    if tie_confidence is not None and tie_confidence != confidence:
        tie_pairs = CasePairs(
            series, confidence=tie_confidence, n_boot=resamples(tie_confidence, n_boot), seed=seed
        )
    candidates = _candidates(names, pairs, margin)
    if not candidates:
        return False
    for s in candidates:
        for t in names:
            if t == s or pairs.faster(s, t, margin) is not None:
                continue
            if not stats.within_margin(tie_pairs.get(s, t).estimate, margin):
                return False
    return True


def eliminated(
    rounds: Mapping[str, Sequence[float]],
    *,
    margin: float,
    confidence: float,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[str, ...]:
    """The strategies the race may stop timing: those the current fastest beats beyond the
    margin at ``confidence`` (:func:`stats.decide` on their pair's interval, as the verdict
    decides, resampled as :func:`settled` does).

    rounds: seconds per call of each strategy still timed, shape (n,) each, entry i of all taken
    in round i. The fastest is never named, so at least one strategy is always left. Nothing is
    named below decision.MIN_ROUNDS rounds (no decision rests on fewer).
    """
    names = list(rounds)
    if len(names) < 2 or min(len(v) for v in rounds.values()) < decision.MIN_ROUNDS:
        return ()
    series = {s: pd.Series(np.asarray(v, dtype=np.float64)) for s, v in rounds.items()}
    pairs = CasePairs(
        series,
        {s: float(np.median(v)) for s, v in series.items()},
        confidence=confidence,
        n_boot=resamples(confidence, n_boot),
        seed=seed,
    )
    best = fastest(names, pairs)
    return tuple(s for s in names if s != best and pairs.faster(s, best, margin) == best)


def futile(
    rounds: Mapping[str, Sequence[float]],
    *,
    margin: float,
    max_rounds: int,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> bool:
    """True when even ``max_rounds`` rounds would leave the verdict where it is now: a tie that
    the evidence cannot place inside or outside the margin (a futility stop, non-binding).

    rounds: seconds per call of each strategy still timed, shape (n,) each, entry i of all taken
    in round i. Read at the verdict's own ``confidence`` (its 95% pairs, the interval the final
    verdict reads): every pair of a candidate (as :func:`settled` names them) that is neither
    decided nor within the margin straddles an edge of the margin; its interval is projected to
    ``max_rounds`` by shrinking each side about the estimate by ``sqrt(n / max_rounds)`` (the
    median's interval narrows as one over the root of the rounds). If every such projection
    still holds the edge it straddles, more rounds are not expected to move the verdict off
    "tie" and the case may stop; if any would clear the edge (to a decision or to a tie inside
    the margin), it goes on. A futility stop never makes a decision, so it cannot add a wrong
    one; what it may cost is a decision the full budget would have reached, which
    benchmarks/sequential.py counts (its "disagree" column). Measured on the default run: the
    near-ties of power 1 -> 10 / 100 and mean_squares 10 / 100 -> 1 ran all 50 rounds
    (0.7 s each) to end as the same tie they were at round 10.
    """
    names = list(rounds)
    if len(names) < 2:
        return False
    n = min(len(v) for v in rounds.values())
    if n < decision.MIN_ROUNDS or n >= max_rounds:
        return False
    series = {s: pd.Series(np.asarray(v, dtype=np.float64)) for s, v in rounds.items()}
    pairs = CasePairs(series, confidence=confidence, n_boot=n_boot, seed=seed)
    candidates = _candidates(names, pairs, margin)
    if not candidates:
        return False
    shrink = math.sqrt(n / max_rounds)
    edges = (-math.log1p(margin), math.log1p(margin))
    open_pairs = 0
    for s in candidates:
        for t in names:
            if t == s or pairs.faster(s, t, margin) is not None:
                continue
            est = pairs.get(s, t).estimate
            if stats.within_margin(est, margin):
                continue
            if not (est.ci_low > 0 and est.ci_high > 0 and est.ratio > 0):
                return False
            c, lo, hi = math.log(est.ratio), math.log(est.ci_low), math.log(est.ci_high)
            lo, hi = c - (c - lo) * shrink, c + (hi - c) * shrink
            # the edge within the share of the projected half facing it
            if not any(
                (lo < e <= c and c - e < FUTILITY_SHARE * (c - lo))
                or (c <= e < hi and e - c < FUTILITY_SHARE * (hi - c))
                for e in edges
            ):
                return False  # more rounds may resolve this pair
            open_pairs += 1
    return open_pairs > 0


@dataclass(frozen=True)
class StopRule:
    """The stopping rule of one run: where to look, how sure each look must be to stop with a
    decision (``confidence``) or with a tie inside the margin (``tie_confidence``), the margin,
    and the rounds the case may run to (``max_rounds``: None, no futility stop)."""

    looks: tuple[int, ...]
    confidence: float
    tie_confidence: float
    margin: float
    max_rounds: int | None = None

    def settled(self, rounds: Mapping[str, Sequence[float]]) -> bool:
        """:func:`settled` of ``rounds`` under this rule, or :func:`futile` up to its
        ``max_rounds``: either way more rounds are not expected to change the verdict."""
        if settled(
            rounds,
            margin=self.margin,
            confidence=self.confidence,
            tie_confidence=self.tie_confidence,
        ):
            return True
        if self.max_rounds is None:
            return False
        return futile(rounds, margin=self.margin, max_rounds=self.max_rounds)

    def eliminate(self, rounds: Mapping[str, Sequence[float]]) -> tuple[str, ...]:
        """:func:`eliminated` of ``rounds`` at this rule's (strict, decision) confidence."""
        return eliminated(rounds, margin=self.margin, confidence=self.confidence)


def rule(min_rounds: int, max_rounds: int, margin: float) -> StopRule:
    """The default rule for these settings: :func:`looks`, each alpha split evenly over them
    (Bonferroni)."""
    at = looks(min_rounds, max_rounds)
    return StopRule(
        at,
        look_confidence(len(at), ALPHA),
        look_confidence(len(at), ALPHA_TIE),
        margin,
        max_rounds,
    )
