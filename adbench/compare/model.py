"""The values of a comparison: what is judged (thresholds, settings) and what is found
(findings, drift, the comparison). Plain frozen dataclasses and enums; no pandas, no I/O, so the
tiers (:mod:`adbench.compare.gate`, :mod:`adbench.compare.timing`) and the renderers
(:mod:`adbench.compare.render`) all import from here and never from each other's internals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

TIMING_METRICS = ("median",)
DETERMINISTIC_METRICS = ("flops", "bytes_accessed", "temp_bytes")
INSTRUCTION_METRICS = ("instructions",)  # per call, counted under valgrind
METRICS = TIMING_METRICS + DETERMINISTIC_METRICS + INSTRUCTION_METRICS
# per row: must match for a count to be compared (the same jax may compile differently for
# another dtype, jit setting or accelerator)
ROW_IDENTITY = ("dtype", "jit", "device_kind")

Key = tuple[str, str, str]  # (case_id, device, strategy); device as "host/device" across hosts


class Kind(str, Enum):
    REGRESSION = "regression"
    FLIP = "flip"
    INCONCLUSIVE = "inconclusive"
    NOT_COMPARABLE = "not comparable"
    IMPROVEMENT = "improvement"
    MISSING = "missing"
    NEW = "new"
    NOTE = "note"


FAILING = frozenset({Kind.REGRESSION, Kind.FLIP})
_KIND_ORDER = {k: i for i, k in enumerate(Kind)}


class Tier(str, Enum):
    DETERMINISTIC = "deterministic"
    INSTRUCTIONS = "instructions"
    TIMING = "timing"
    VERDICT = "verdict"
    STATUS = "status"
    CASES = "cases"


class Scope(str, Enum):
    """What to judge, besides statuses and cases. ``deterministic`` skips timing and verdicts: it
    cannot be flaky (CI gates). ``instructions`` judges instruction counts alone (runs of
    ``adbench run --measure instructions``); a side without counts is "not comparable"."""

    ALL = "all"
    DETERMINISTIC = "deterministic"
    INSTRUCTIONS = "instructions"


class ThresholdError(ValueError):
    """A threshold string that cannot be parsed; the message says what would."""


_THRESHOLD_RE = re.compile(r"^\s*([a-z_]+)\s*:\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*(%?)\s*$")


@dataclass(frozen=True)
class Threshold:
    """How much worse ``metric`` may get: a fraction (``median:15%`` -> 0.15) or an absolute amount
    in the metric's unit (``temp_bytes:4096``: bytes; ``median:0.001``: seconds;
    ``instructions:50000``: instructions per call)."""

    metric: str
    limit: float
    relative: bool = True

    @classmethod
    def parse(cls, text: str) -> Threshold:
        m = _THRESHOLD_RE.match(text.lower())
        if not m or m.group(1) not in METRICS:
            raise ThresholdError(
                f"bad threshold {text!r}: expected METRIC:N% or METRIC:N (an absolute amount), "
                f"METRIC one of {', '.join(METRICS)}; e.g. median:15% or temp_bytes:0%"
            )
        value = float(m.group(2)) * 10.0 ** int(m.group(3) or 0)
        relative = m.group(4) == "%"
        return cls(m.group(1), value / 100.0 if relative else value, relative)

    def compute(self, current: float, baseline: float) -> float:
        """How much worse current is, in the threshold's unit (0.2 = 20% more when relative)."""
        if self.relative:
            if baseline == 0:
                return 0.0 if current == 0 else math.inf
            return current / baseline - 1.0
        return current - baseline

    def exceeded(self, current: float, baseline: float) -> bool:
        """Worse by more than the limit (bigger is worse for every metric)."""
        return self.compute(current, baseline) > self.limit

    def improved(self, current: float, baseline: float) -> bool:
        """Better by more than the limit: the mirror image of :meth:`exceeded`."""
        return self.compute(baseline, current) > self.limit

    def __str__(self) -> str:
        return (
            f"{self.metric}:{self.limit * 100:g}%"
            if self.relative
            else f"{self.metric}:{self.limit:g}"
        )


DEFAULT_THRESHOLDS = (
    Threshold("median", 0.15),
    Threshold("flops", 0.01),
    Threshold("bytes_accessed", 0.01),
    Threshold("temp_bytes", 0.01),
    # Counts of the same code moved <= 0.85% between processes and <= 0.58% within one
    # (benchmarks/instructions_check.py); 5% leaves x6 room, and a loop with 1.5x the steps
    # counts +45% (benchmarks/instructions_gate.py).
    Threshold("instructions", 0.05),
)


def parse_thresholds(texts: Iterable[str]) -> tuple[Threshold, ...]:
    """The defaults, with each metric named in ``texts`` replaced (the last one given wins)."""
    by_metric = {t.metric: t for t in DEFAULT_THRESHOLDS}
    for text in texts:
        t = Threshold.parse(text)
        by_metric[t.metric] = t
    return tuple(by_metric[m] for m in METRICS)


@dataclass(frozen=True)
class Settings:
    thresholds: tuple[Threshold, ...] = DEFAULT_THRESHOLDS
    scope: Scope = Scope.ALL
    min_time_s: float = 100e-6  # below this a median is judged by the deterministic tier only
    min_samples: int = 5  # per side; fewer cannot reach significance with Mann-Whitney
    min_timed: int = 6  # timed case x strategies per device to estimate drift and noise
    alpha: float = 0.01  # Mann-Whitney significance level
    # The noise floor, in robust standard deviations of log(r / D). None: derived per device so
    # that a whole comparison of identical code fails with probability ~familywise_alpha, however
    # many case x strategies are timed (one-sided Bonferroni on a Student t with noise_df degrees
    # of freedom: x10.6 sigma for 16 timed case x strategies, x13.4 for 32; see
    # adbench.compare.timing.floor_sigmas). The noise is heavy-tailed (a whole case jumps
    # x1.6-x2.5 when a neighbour takes a core), so a fixed Gaussian-style 5 sigma failed 8-16% of
    # same-code comparisons of 16 case x modes here although only 0.5-2% of case x modes.
    noise_sigmas: float | None = None
    familywise_alpha: float = 0.01
    noise_df: float = 3.0
    strict: bool = False  # a "not comparable" finding fails too: a gate that judged nothing fails

    def threshold(self, metric: str) -> Threshold:
        found = [t for t in self.thresholds if t.metric == metric]
        return found[-1] if found else next(t for t in DEFAULT_THRESHOLDS if t.metric == metric)


@dataclass(frozen=True)
class Finding:
    """One thing worth telling. ``case_id`` is empty for a finding about the whole run."""

    kind: Kind
    tier: Tier
    message: str
    case_id: str = ""
    device: str = ""
    strategy: str = ""
    metric: str = ""
    baseline: float | str | None = None
    current: float | str | None = None
    ratio: float | None = None  # current / baseline; timing: drift-corrected
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None

    @property
    def failing(self) -> bool:
        return self.kind in FAILING

    def sort_key(self) -> tuple[Any, ...]:
        return (
            _KIND_ORDER[self.kind],
            self.case_id != "",
            self.case_id,
            self.device,
            self.strategy,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if isinstance(v, Enum):
                v = v.value
            elif isinstance(v, float) and not math.isfinite(v):
                v = None
            d[k] = v
        return d


@dataclass(frozen=True)
class Drift:
    """How the timed case x strategies of one device moved together between the two runs."""

    device: str
    n_timed: int
    factor: float  # D: geometric median of current/baseline medians; NaN without enough cases
    noise: float  # robust sigma of log(r / D) across cases
    floor: float  # smallest r / D that can be told from noise: exp(noise_sigmas * noise)
    runs: tuple[int, int] = (1, 1)  # processes pooled: (baseline, current)


@dataclass(frozen=True)
class Comparison:
    baseline: str
    current: str
    settings: Settings
    findings: tuple[Finding, ...]
    fingerprint: Mapping[str, tuple[Any, Any]]  # key -> (baseline, current)
    comparable: bool  # deterministic tier applicable
    drifts: tuple[Drift, ...] = ()
    untimed: tuple[str, ...] = ()  # "case_id strategy (device)" judged by deterministic tier only
    checked: Mapping[str, int] = field(default_factory=dict)  # tier -> number of comparisons
    # the instructions tier: its fingerprint (adbench.count.instructions.COMPARABLE_KEYS) and
    # whether it compared; None when it did not apply (neither run counted instructions)
    instructions_fingerprint: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    instructions_comparable: bool | None = None

    @property
    def failed(self) -> bool:
        return any(
            f.failing or (self.settings.strict and f.kind is Kind.NOT_COMPARABLE)
            for f in self.findings
        )

    def count(self, kind: Kind) -> int:
        return sum(f.kind is kind for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "baseline": self.baseline,
            "current": self.current,
            "failed": self.failed,
            "summary": {k.value: self.count(k) for k in Kind},
            "settings": {
                "scope": s.scope.value,
                "thresholds": [str(t) for t in s.thresholds],
                "min_time_s": s.min_time_s,
                "alpha": s.alpha,
                "noise_sigmas": s.noise_sigmas,
                "strict": s.strict,
            },
            "fingerprint": {
                k: {"baseline": b, "current": c} for k, (b, c) in self.fingerprint.items()
            },
            "deterministic_comparable": self.comparable,
            "instructions": {
                "comparable": self.instructions_comparable,
                "fingerprint": {
                    k: {"baseline": b, "current": c}
                    for k, (b, c) in self.instructions_fingerprint.items()
                },
            },
            "timing": [
                {
                    k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                    for k, v in d.__dict__.items()
                }
                for d in self.drifts
            ],
            "untimed": list(self.untimed),
            "checked": dict(self.checked),
            "findings": [f.to_dict() for f in self.findings],
        }


def cell_number(v: Any) -> float:
    """A results cell as a float; NaN for an empty or non-numeric cell."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def cell_text(v: Any) -> str:
    """A results cell as text; "" for an empty (NaN) cell."""
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
