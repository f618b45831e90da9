"""Which strategy will be fastest, predicted from XLA's cost analysis before anything is timed.

Pure: no JAX, no I/O. The numbers come from compiling each strategy ahead of time
(:mod:`adbench.measure.costs`): ``flops``, ``bytes_accessed`` and ``transcendentals`` from
``compiled.cost_analysis()``, ``temp_bytes`` from ``compiled.memory_analysis()``. They are exact
for a given jax/jaxlib/backend and known in milliseconds, but they are counts, not times: FLOPs are
counted before some optimisations (jax#13956), dots are miscounted on GPU (jax#22249) and a loop
body is counted once (:mod:`adbench.measure.costs` scales chunked strategies by their trip count).
How often the prediction is right is measured, not assumed: benchmarks/auto_accuracy.py.

The cost model, per call:

    predicted_s = overhead_s + flops / flop_rate + max(0, bytes_accessed - cache_bytes) / byte_rate

``overhead_s`` is the same for every strategy, so it only pulls ratios towards 1 for tiny programs
(which then predict a tie, as tiny cases measure). Traffic up to ``cache_bytes`` is treated as
free: it stays in on-chip cache, where it is not what limits the program. That term is what the
plain sum (flops / rate + bytes / rate) misses: on this 2-core CPU the plain sum picked the slower
of jacfwd / jacrev on 2 of 24 decisive cases of benchmarks/auto_accuracy.py (a 100 x 100 softmax
and a 100 x 100 tridiagonal residual, whose extra traffic fits in cache), the cache term on none;
the result held for any cache size from 0.3 to 3 MB and any flop/byte rate ratio from 0.3 to 3
(same script, ``--load`` to re-judge saved timings). The rates rank strategies; the predicted
seconds are not a timing (off by a factor ~3 either way on that suite).

Also here: the two shape rules the prediction is compared with (the textbook rule and lineax's)
and :func:`agreement`, which joins predictions with timed verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from adbench import fmt
from adbench.analysis import decision
from adbench.analysis.decision import FWD, NONE, REV, TIE

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FWD", "NONE", "REV", "TIE", "Costs", "Machine", "Prediction", "agreement", "predict"]
DEFAULT_MARGIN = 0.10
DECISIVE = 1.5  # a timed speedup at least this large is a "decisive" case


@dataclass(frozen=True)
class Costs:
    """XLA's view of one compiled strategy: per call, for one input shape and device.

    ``loop_trips``: how many times the counted loop body runs (1 unless the strategy is chunked);
    ``flops`` and ``bytes_accessed`` are already multiplied by it.
    """

    flops: float
    bytes_accessed: float
    transcendentals: float = 0.0
    temp_bytes: float = math.nan
    output_bytes: float = math.nan
    loop_trips: int = 1


@dataclass(frozen=True)
class Machine:
    """The rates of the cost model (see the module docstring); one per device platform.

    Round values: the CPU's were checked on the built-in suite (benchmarks/auto_accuracy.py),
    the accelerators' are nominal; they weigh costs against each other, they do not claim the
    device's peak rates.
    """

    flop_rate: float  # flop/s
    byte_rate: float  # bytes/s beyond the cache
    overhead_s: float  # seconds per call whatever the program does
    cache_bytes: float = 0.0  # traffic treated as free (stays in cache)


MACHINES: Mapping[str, Machine] = MappingProxyType(
    {
        "cpu": Machine(flop_rate=1e10, byte_rate=1e10, overhead_s=5e-6, cache_bytes=2**20),
        "gpu": Machine(flop_rate=5e13, byte_rate=3e12, overhead_s=10e-6),
        "tpu": Machine(flop_rate=1e14, byte_rate=1e12, overhead_s=10e-6),
    }
)


def machine_for(platform: str) -> Machine:
    """The cost model's rates for "cpu", "gpu" or "tpu" (an unknown platform gets the CPU's)."""
    return MACHINES.get(platform, MACHINES["cpu"])


def predicted_seconds(costs: Costs, machine: Machine) -> float:
    """Predicted seconds per call (NaN if XLA reported no flop or byte count)."""
    flops = 0.0 if math.isnan(costs.flops) else costs.flops
    moved = 0.0 if math.isnan(costs.bytes_accessed) else costs.bytes_accessed
    if math.isnan(costs.flops) and math.isnan(costs.bytes_accessed):
        return math.nan
    beyond = max(0.0, moved - machine.cache_bytes)
    return machine.overhead_s + flops / machine.flop_rate + beyond / machine.byte_rate


@dataclass(frozen=True)
class Prediction:
    """The predicted recommendation among some strategies for one case and device.

    ``predicted``: the cheapest strategy, ``tie`` (runner-up within the margin; ``tie_set`` names
    the strategies within it) or ``none`` (nothing could be costed). ``best`` is the cheapest
    even on a tie (what :func:`adbench.jacobian` uses). ``ratio``: predicted runner-up seconds /
    best seconds, >= 1 (NaN with fewer than two costed strategies).
    """

    predicted: str
    best: str
    tie_set: tuple[str, ...]
    ratio: float
    seconds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    margin: float = DEFAULT_MARGIN

    def reason(self) -> str:
        """One line: each strategy's predicted time, cheapest first."""
        if self.predicted == NONE:
            return "no strategy could be costed"
        order = sorted(self.seconds, key=lambda s: self.seconds[s])
        parts = ", ".join(f"{s} {fmt.seconds(self.seconds[s])}" for s in order)
        if math.isnan(self.ratio):
            return f"only {self.best} costed ({parts})"
        if self.predicted == TIE:
            return (
                f"predicted tie within ±{self.margin:.0%} ({parts}); "
                f"{self.best} cheapest by {self.ratio - 1:.1%}"
            )
        return f"{self.best} predicted {self.ratio:.3g}x faster than the runner-up ({parts})"


def predict(
    costs: Mapping[str, Costs],
    machine: Machine,
    *,
    margin: float = DEFAULT_MARGIN,
    order: Sequence[str] | None = None,
) -> Prediction:
    """The predicted recommendation among ``costs`` (strategy -> Costs).

    Equal predicted times go to the strategy listed first in ``order`` (default: the mapping's
    order), so a choice never depends on dictionary order or float noise.
    """
    names = list(order) if order is not None else list(costs)
    seconds = {s: predicted_seconds(costs[s], machine) for s in names if s in costs}
    ok = [s for s in names if s in seconds and not math.isnan(seconds[s])]
    if not ok:
        return Prediction(NONE, "", (), math.nan, MappingProxyType(seconds), margin)
    ranked = sorted(ok, key=lambda s: (seconds[s], names.index(s)))
    best = ranked[0]
    if len(ranked) == 1:
        return Prediction(best, best, (best,), math.nan, MappingProxyType(seconds), margin)
    t0 = seconds[best]
    ratio = seconds[ranked[1]] / t0 if t0 > 0 else math.inf
    tie_set = tuple(s for s in ranked if t0 <= 0 or seconds[s] / t0 < 1.0 + margin)
    if len(tie_set) == 0:
        tie_set = (best,)
    predicted = TIE if ratio < 1.0 + margin else best
    return Prediction(predicted, best, tie_set, ratio, MappingProxyType(seconds), margin)


# --- shape rules the prediction is compared with ---------------------------------------------


def textbook_rule(d_in: int, d_out: int) -> str:
    """Forward when there are fewer inputs than outputs, reverse otherwise (ties to forward)."""
    return FWD if d_in <= d_out else REV


def lineax_rule(d_in: int, d_out: int) -> str:
    """lineax's choice for a Jacobian, as its documentation describes it: forward mode when the
    input has fewer than 100 elements or at most 1.5 times as many as the output, else reverse.
    (Implemented here from that description; no lineax code is used.)"""
    return FWD if d_in < 100 or d_in <= 1.5 * d_out else REV


# --- predictions against timed verdicts ------------------------------------------------------

AGREEMENT_COLUMNS = (
    "case_id",
    "host",
    "device",
    "predicted",
    "predicted_best",
    "predicted_ratio",
    "measured",
    "measured_speedup",
    "decisive",
    "agrees",
)


def agreement(
    predictions: pd.DataFrame, verdicts: pd.DataFrame, *, decisive: float = DECISIVE
) -> pd.DataFrame:
    """One row per case x device present in both tables: prediction beside the timed verdict.

    predictions: predictions.csv (columns ``case_id``, ``device``, ``predicted``,
    ``predicted_best``, ``predicted_ratio``; ``host`` optional); verdicts: verdicts.csv
    (``recommended``, ``speedup``). ``decisive`` is "yes" when the measured speedup of the fastest
    over the runner-up is >= ``decisive`` and the verdict names one strategy. ``agrees``: "yes"
    when the predicted cheapest strategy is the measured fastest, "no" otherwise, "n/a" when the
    verdict names no single strategy (tie, none, undecided, n/a: decision.names_one).
    Columns: AGREEMENT_COLUMNS.
    """
    import pandas as pd

    keys = ["case_id", "device"]
    if "host" in predictions.columns and "host" in verdicts.columns:
        keys.insert(1, "host")
    left = predictions.copy()
    if "predicted_best" not in left.columns:
        left["predicted_best"] = left["predicted"]
    left = left[[*keys, "predicted", "predicted_best", "predicted_ratio"]]
    right = verdicts[[*keys, "recommended", "speedup"]].rename(
        columns={"recommended": "measured", "speedup": "measured_speedup"}
    )
    joined = left.merge(right, on=keys, how="inner")
    if joined.empty:
        return pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    single = joined["measured"].map(decision.names_one)
    speed = pd.to_numeric(joined["measured_speedup"], errors="coerce")
    joined["decisive"] = [
        "yes" if s and v >= decisive else "no" for s, v in zip(single, speed, strict=True)
    ]
    joined["agrees"] = [
        ("yes" if str(b) == str(m) else "no") if s else "n/a"
        for s, b, m in zip(single, joined["predicted_best"], joined["measured"], strict=True)
    ]
    if "host" not in joined.columns:
        joined["host"] = ""
    return joined.reindex(columns=list(AGREEMENT_COLUMNS))


@dataclass(frozen=True)
class Accuracy:
    """How well a chooser did on decisive cases: ``agreed`` of ``decisive`` picked the fastest;
    ``geomean_slowdown``: geometric mean of t(picked) / t(fastest) over them (1.0 = perfect)."""

    decisive: int
    agreed: int
    geomean_slowdown: float

    @property
    def rate(self) -> float:
        return self.agreed / self.decisive if self.decisive else math.nan


def accuracy(picked_over_best: Sequence[float]) -> Accuracy:
    """Accuracy from t(picked) / t(fastest) per decisive case (1.0 where the pick was fastest)."""
    values = [float(v) for v in picked_over_best if not math.isnan(float(v))]
    if not values:
        return Accuracy(0, 0, math.nan)
    agreed = sum(1 for v in values if v <= 1.0)
    geo = math.exp(sum(math.log(v) for v in values) / len(values))
    return Accuracy(len(values), agreed, geo)
