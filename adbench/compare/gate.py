"""Baseline run vs current run -> findings. Loaded results in, values out (``load_runs`` aside).

Every finding is collected first and reported together (improvements too); the comparison fails
when any finding is a regression or a verdict flip (with ``strict``, also when the deterministic
tier is not comparable). Four questions, four tiers:

deterministic  flops, bytes accessed and temp memory from XLA's cost and memory analysis. They are
               identical from process to process, so an increase beyond a small tolerance (default
               1%) is a regression even on a noisy machine. They are compared only when the
               environment fingerprint (jax, jaxlib, backend) matches; otherwise the tier says "not
               comparable" instead of guessing.
timing         per case x mode: current / baseline median, corrected for the drift of the whole
               run, against a noise floor measured across cases, with a significance test; see
               adbench/compare_timing.py for the method and why. Several runs per side (repeated
               processes) vote out a case that jumped in one process.
verdict        the recommended mode changed between jacfwd and jacrev (a flip). Changes to or from
               "tie" are notes, not flips: a ratio near the tie margin crosses it on noise alone.
status/cases   a mode that measured cleanly now fails (regression), or the reverse (improvement);
               cases new in the current run or missing from it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import pandas as pd

from adbench.store import schema
from adbench.store.results import Results, ResultsError, load_results

FINGERPRINT_KEYS = ("jax_version", "jaxlib_version", "backend")
ROW_IDENTITY = ("dtype", "jit", "device_kind")  # per row: must match for the deterministic tier
TIMING_METRICS = ("median",)
DETERMINISTIC_METRICS = ("flops", "bytes_accessed", "temp_bytes")
METRICS = TIMING_METRICS + DETERMINISTIC_METRICS


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
    TIMING = "timing"
    VERDICT = "verdict"
    STATUS = "status"
    CASES = "cases"


class Scope(str, Enum):
    """What to judge. ``deterministic`` skips timing and verdicts: it cannot be flaky (CI gates)."""

    ALL = "all"
    DETERMINISTIC = "deterministic"


class ThresholdError(ValueError):
    """A threshold string that cannot be parsed; the message says what would."""


_THRESHOLD_RE = re.compile(r"^\s*([a-z_]+)\s*:\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*(%?)\s*$")


@dataclass(frozen=True)
class Threshold:
    """How much worse ``metric`` may get: a fraction (``median:15%`` -> 0.15) or an absolute amount
    in the metric's unit (``temp_bytes:4096``: bytes; ``median:0.001``: seconds)."""

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
    min_timed: int = 6  # timed case x modes per device needed to estimate drift and noise
    alpha: float = 0.01  # Mann-Whitney significance level
    # The noise floor, in robust standard deviations of log(r / D). None: derived per device so
    # that a whole comparison of identical code fails with probability ~familywise_alpha, however
    # many case x modes are timed (one-sided Bonferroni on a Student t with noise_df degrees of
    # freedom: x10.6 sigma for 16 timed case x modes, x13.4 for 32; see
    # compare_timing.floor_sigmas). The noise is heavy-tailed (a whole case jumps x1.6-x2.5 when
    # a neighbour takes a core), so a fixed Gaussian-style 5 sigma failed 8-16% of same-code
    # comparisons of 16 case x modes here although only 0.5-2% of case x modes.
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
    mode: str = ""
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
        return (_KIND_ORDER[self.kind], self.case_id != "", self.case_id, self.device, self.mode)

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
    """How the timed case x modes of one device moved together between the two runs."""

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
    untimed: tuple[str, ...] = ()  # "case_id mode device" judged by the deterministic tier only
    checked: Mapping[str, int] = field(default_factory=dict)  # tier -> number of comparisons

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


# --- the comparison -----------------------------------------------------------------------------

Key = tuple[str, str, str]  # (case_id, device, mode)


def _rows(df: pd.DataFrame) -> dict[Key, dict[str, Any]]:
    """results.csv rows by key; a key stored twice (a resumed run) keeps its last row."""
    records: list[dict[str, Any]] = df.to_dict("records")  # type: ignore[assignment]
    return {(str(r["case_id"]), str(r["device"]), str(r["strategy"])): r for r in records}


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def fingerprint(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {k: meta.get(k) for k in FINGERPRINT_KEYS}


def load_runs(path: str | os.PathLike[str]) -> list[Results]:
    """One results directory, or a directory of them (repeated runs of one config), loaded.

    The only I/O here: a side of a comparison may be several processes' runs, e.g.
    ``results/base/1``, ``results/base/2``, ``results/base/3`` given as ``results/base``.
    """
    p = Path(path)
    if p.is_dir() and not (p / schema.META_FILE).exists():
        subs = sorted(d for d in p.iterdir() if d.is_dir() and (d / schema.META_FILE).is_file())
        if subs:
            runs = [load_results(d) for d in subs]
            if len({r.meta.get("config_hash") for r in runs}) > 1:
                raise ResultsError(
                    f"{p}: its runs come from different run files; compare like with like"
                )
            return runs
    return [load_results(p)]


def _label(runs: Sequence[Results]) -> str:
    return str(runs[0].path) if len(runs) == 1 else f"{runs[0].path.parent} ({len(runs)} runs)"


def compare(
    baseline: Results | Sequence[Results],
    current: Results | Sequence[Results],
    settings: Settings | None = None,
) -> Comparison:
    """Judge ``current`` against ``baseline``: every finding, sorted worst first.

    Either side may be several runs of the same config (repeated processes): their timings are
    pooled; statuses, XLA numbers and verdicts are read from the first run of each side.
    """
    from adbench.compare import timing as compare_timing

    s = settings or Settings()
    baselines = [baseline] if isinstance(baseline, Results) else list(baseline)
    currents = [current] if isinstance(current, Results) else list(current)
    if not baselines or not currents:
        raise ValueError("compare needs at least one run on each side")
    baseline, current = baselines[0], currents[0]
    b_rows, c_rows = _rows(baseline.results), _rows(current.results)
    common = sorted(b_rows.keys() & c_rows.keys())
    fb, fc = fingerprint(baseline.meta), fingerprint(current.meta)
    comparable = all(fb[k] is not None and fb[k] == fc[k] for k in FINGERPRINT_KEYS)

    findings: list[Finding] = []
    findings += _cases(b_rows, c_rows)
    findings += _status(common, b_rows, c_rows, s)
    checked = {"cases": len(common)}
    if not common:  # nothing was compared: never an "OK"; --strict fails it
        findings.append(
            Finding(
                Kind.NOT_COMPARABLE,
                Tier.CASES,
                "no case x strategy x device is in both runs: nothing was compared",
            )
        )
    if comparable:
        det, n = _deterministic(common, b_rows, c_rows, s)
        findings += det
        checked["deterministic"] = n
    else:
        diff = ", ".join(f"{k} {fb[k]} -> {fc[k]}" for k in FINGERPRINT_KEYS if fb[k] != fc[k])
        findings.append(
            Finding(
                Kind.NOT_COMPARABLE,
                Tier.DETERMINISTIC,
                f"environment differs ({diff or 'fingerprint missing'}): XLA's numbers are only "
                "comparable for the same jax, jaxlib and backend; record a new baseline here",
            )
        )
    drifts: tuple[Drift, ...] = ()
    untimed: tuple[str, ...] = ()
    if s.scope is Scope.ALL:
        cpu_b, cpu_c = baseline.meta.get("cpu_model"), current.meta.get("cpu_model")
        if cpu_b != cpu_c:
            findings.append(
                Finding(
                    Kind.NOTE,
                    Tier.TIMING,
                    f"measured on different CPUs ({cpu_b} -> {cpu_c}): timing compares the "
                    "machines as well as the code",
                )
            )
        timing, drifts, untimed = compare_timing.judge(
            common, b_rows, c_rows, baselines, currents, s
        )
        findings += timing
        checked["timing"] = sum(d.n_timed for d in drifts)
        flips, n = _verdicts(baseline.verdicts, current.verdicts)
        findings += flips
        checked["verdict"] = n
    return Comparison(
        baseline=_label(baselines),
        current=_label(currents),
        settings=s,
        findings=tuple(sorted(findings, key=Finding.sort_key)),
        fingerprint={k: (fb[k], fc[k]) for k in FINGERPRINT_KEYS},
        comparable=comparable,
        drifts=drifts,
        untimed=untimed,
        checked=checked,
    )


def _cases(b_rows: Mapping[Key, Any], c_rows: Mapping[Key, Any]) -> list[Finding]:
    out = []
    b_cases = {k[:2] for k in b_rows}
    c_cases = {k[:2] for k in c_rows}
    for kind, mine, other, where in (
        (Kind.MISSING, b_rows, c_rows, "in the baseline, not in the current run"),
        (Kind.NEW, c_rows, b_rows, "in the current run, not in the baseline"),
    ):
        whole = (b_cases - c_cases) if kind is Kind.MISSING else (c_cases - b_cases)
        for cid, dev in sorted(whole):
            out.append(Finding(kind, Tier.CASES, f"case {where}", cid, dev))
        for key in sorted(mine.keys() - other.keys()):
            if key[:2] not in whole:
                out.append(Finding(kind, Tier.CASES, f"mode {where}", *key))
    return out


def _status(
    common: Sequence[Key], b_rows: Mapping[Key, Any], c_rows: Mapping[Key, Any], s: Settings
) -> list[Finding]:
    out = []
    for key in common:
        sb, sc = _text(b_rows[key]["status"]), _text(c_rows[key]["status"])
        if sb == sc:
            continue
        why = _text(c_rows[key].get("reason"))
        if sb == schema.STATUS_OK and sc == schema.STATUS_TIMEOUT:
            # how long a case takes depends on the machine: not a deterministic regression
            kind, msg = Kind.INCONCLUSIVE, f"now times out ({why or 'no reason given'})"
        elif sb == schema.STATUS_OK:
            kind, msg = Kind.REGRESSION, f"measured cleanly before, now {sc}: {why or '?'}"
        elif sc == schema.STATUS_OK:
            kind, msg = Kind.IMPROVEMENT, f"measures cleanly now (was {sb})"
        else:
            kind, msg = Kind.NOTE, f"status {sb} -> {sc}: {why or '?'}"
        out.append(Finding(kind, Tier.STATUS, msg, *key, metric="status", baseline=sb, current=sc))
    return out


def _deterministic(
    common: Sequence[Key], b_rows: Mapping[Key, Any], c_rows: Mapping[Key, Any], s: Settings
) -> tuple[list[Finding], int]:
    out, n = [], 0
    for key in common:
        b, c = b_rows[key], c_rows[key]
        # the same jax may compile differently for another dtype, jit setting or accelerator
        differs = [k for k in ROW_IDENTITY if _text(b.get(k)) != _text(c.get(k))]
        if differs:
            what = ", ".join(f"{k} {_text(b.get(k))} -> {_text(c.get(k))}" for k in differs)
            out.append(Finding(Kind.NOT_COMPARABLE, Tier.DETERMINISTIC, f"{what}", *key))
            continue
        for metric in DETERMINISTIC_METRICS:
            vb, vc = _num(b.get(metric)), _num(c.get(metric))
            if math.isnan(vb) or math.isnan(vc):
                continue
            n += 1
            t = s.threshold(metric)
            ratio = vc / vb if vb else (1.0 if vc == 0 else math.inf)
            if t.exceeded(vc, vb):
                kind, msg = Kind.REGRESSION, f"{metric} up x{ratio:.3g} (limit {t})"
            elif t.improved(vc, vb):
                kind, msg = Kind.IMPROVEMENT, f"{metric} down x{ratio:.3g}"
            else:
                continue
            out.append(
                Finding(
                    kind,
                    Tier.DETERMINISTIC,
                    msg,
                    *key,
                    metric,
                    baseline=vb,
                    current=vc,
                    ratio=ratio,
                )
            )
    return out, n


def _verdicts(bv: pd.DataFrame, cv: pd.DataFrame) -> tuple[list[Finding], int]:
    def index(df: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
        records: list[dict[str, Any]] = df.to_dict("records")  # type: ignore[assignment]
        return {(str(r["case_id"]), str(r["device"])): r for r in records}

    b, c = index(bv), index(cv)
    decisive = {"jacfwd", "jacrev"}
    out, n = [], 0
    for key in sorted(b.keys() & c.keys()):
        rb, rc = _text(b[key]["recommended"]), _text(c[key]["recommended"])
        if not ({rb, rc} <= decisive | {"tie"}):
            continue  # a mode failed: the status tier says so
        n += 1
        if rb == rc:
            continue
        ratios = (
            f"fwd/rev time {_num(b[key]['fwd_rev_ratio']):.3g} -> "
            f"{_num(c[key]['fwd_rev_ratio']):.3g}"
        )
        if rb in decisive and rc in decisive:
            kind, msg = Kind.FLIP, f"recommended {rb} -> {rc} ({ratios})"
        else:
            kind, msg = (
                Kind.NOTE,
                f"recommended {rb} -> {rc}, not a flip: near the tie margin ({ratios})",
            )
        out.append(
            Finding(kind, Tier.VERDICT, msg, *key, metric="recommended", baseline=rb, current=rc)
        )
    return out, n
