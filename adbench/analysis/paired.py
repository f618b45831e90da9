"""One case's rounds, paired between strategies: the evidence behind every decision.

Samples of all strategies of a case with the same ``round`` were taken back to back, so the
per-round ratio ``t(a) / t(b)`` cancels most of the machine's drift. :class:`CasePairs` holds one
case's rounds and gives the ratio of any two strategies with its bootstrap interval
(:func:`adbench.analysis.stats.paired_bootstrap`). Each pair is resampled once, in one fixed
orientation (the order of ``schema.ALL_STRATEGIES``), and read in the other orientation as the
reciprocal: so the verdict, the ranking and the crossover, which all ask through here, can never
get two different intervals for the same two strategies of the same case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adbench.analysis import stats
from adbench.store import schema

_ORDER = {name: i for i, name in enumerate(schema.ALL_STRATEGIES)}


def _canonical(a: str, b: str) -> bool:
    """True when (a, b) is the orientation a pair is resampled in."""
    return (_ORDER.get(a, len(_ORDER)), a) <= (_ORDER.get(b, len(_ORDER)), b)


def with_keys(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with missing text in the key columns read as "": a host written empty comes back
    as NaN, and NaN keys never match each other when tables are grouped and looked up."""
    cols = [c for c in ("case_id", "family", "task", "host", "device") if c in df.columns]
    return df.assign(**{c: df[c].fillna("") for c in cols}) if len(df) else df


def rounds_by_strategy(case_samples: pd.DataFrame | None) -> dict[str, pd.Series]:
    """Seconds per call of each strategy, indexed by round (the median where a round holds more
    than one sample, e.g. a case stored twice); only positive, finite values.

    case_samples: the samples.csv rows of one case on one host and device (SAMPLE_COLUMNS).
    """
    if case_samples is None or case_samples.empty:
        return {}
    secs = pd.to_numeric(case_samples["seconds"], errors="coerce")
    ok = np.isfinite(secs) & (secs > 0)
    df = case_samples.assign(seconds=secs)[ok]
    return {
        str(name): g.groupby("round")["seconds"].median().sort_index()
        for name, g in df.groupby("strategy", sort=False)
    }


@dataclass(frozen=True, eq=False)
class Pair:
    """``t(a) / t(b)`` of one case: the estimate and its resampled values, shape (n_boot,)
    (empty when fewer than two rounds were paired; then the interval is a point or NaN)."""

    a: str
    b: str
    estimate: stats.RatioEstimate
    boot: np.ndarray

    def inverted(self) -> Pair:
        """``t(b) / t(a)``: the same resamples, reciprocal (the interval's ends swap)."""
        e = self.estimate
        with np.errstate(divide="ignore"):
            boot = 1.0 / self.boot
        return Pair(
            self.b,
            self.a,
            stats.RatioEstimate(1.0 / e.ratio, 1.0 / e.ci_high, 1.0 / e.ci_low, e.n),
            boot,
        )


@dataclass(eq=False)
class CasePairs:
    """Pairs of one case, computed on first use and kept.

    rounds: from :func:`rounds_by_strategy`; medians: each strategy's stored median seconds, the
    point estimate used (without an interval) where no rounds were paired.
    """

    rounds: Mapping[str, pd.Series]
    medians: Mapping[str, float] = field(default_factory=dict)
    confidence: float = 0.95
    n_boot: int = 2000
    seed: int = 0
    _cache: dict[tuple[str, str], Pair] = field(default_factory=dict)

    def get(self, a: str, b: str) -> Pair:
        """The ratio t(a) / t(b) over the rounds both were timed in."""
        if not _canonical(a, b):
            return self.get(b, a).inverted()
        if (a, b) not in self._cache:
            self._cache[(a, b)] = self._compute(a, b)
        return self._cache[(a, b)]

    def _compute(self, a: str, b: str) -> Pair:
        ra, rb = self.rounds.get(a), self.rounds.get(b)
        if ra is not None and rb is not None:
            common = ra.index.intersection(rb.index)
            if len(common):
                est, boot = stats.paired_bootstrap(
                    ra.loc[common].to_numpy(),
                    rb.loc[common].to_numpy(),
                    confidence=self.confidence,
                    n_boot=self.n_boot,
                    seed=self.seed,
                )
                return Pair(a, b, est, boot)
        # no paired rounds (e.g. a directory without samples.csv): a point, no interval
        ma, mb = self.medians.get(a, math.nan), self.medians.get(b, math.nan)
        point = ma / mb if ma > 0 and mb > 0 else math.nan
        return Pair(a, b, stats.RatioEstimate(point, math.nan, math.nan, 0), np.empty(0))

    def faster(self, a: str, b: str, margin: float) -> str | None:
        """a or b when the interval of their ratio clears the margin (stats.decide), else None.

        Decided in the pair's resampled orientation, so the answer never depends on which of
        the two is asked about first.
        """
        if not _canonical(a, b):
            return self.faster(b, a, margin)
        side = stats.decide(self.get(a, b).estimate, margin)
        return a if side == stats.A_FASTER else b if side == stats.B_FASTER else None
