"""Results directories of schema version 2, built through the real writer.

Tests describe cases (strategies, their time per call, status, XLA numbers) and get back the rows
adbench's measuring code would produce (``rows``), a whole directory written by
``adbench.store.results.ResultsWriter`` with its derived tables computed as ``adbench run`` does
(``write_run``), or a stand-in for the measurer of ``adbench run`` (``FakeMeasurer``). Timings
are exact: every strategy of a round is scaled by the same per-round drift (which interleaving
cancels) and by a fixed spread, so medians, ratios and verdicts are known in advance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adbench.analysis import stats
from adbench.store import schema
from adbench.store.results import ResultsWriter, load_results

# per-round drift shared by every strategy of the round, and a per-sample spread (median 1)
DRIFT = (1.0, 1.3, 0.9, 1.1, 1.2, 0.95, 1.05, 1.15, 0.85)
SPREAD = (1.0, 1.01, 0.99, 1.02, 0.98, 1.005, 0.995, 1.015, 0.985)


@dataclass(frozen=True)
class S:
    """One strategy of a case: seconds per call (None: not timed), status and XLA numbers."""

    name: str
    seconds: float | None = None
    status: str = schema.STATUS_OK
    reason: str = ""
    flops: float = 1e6
    temp_bytes: float = 1e4
    bytes_accessed: float = 1e5
    compile_s: float = 0.05
    lower_s: float = 0.01
    setup_s: float = 0.0
    spread: Sequence[float] = SPREAD
    instructions: float | None = None  # per call, as `run --measure instructions` stores it
    instructions_spread: float = 0.002


@dataclass(frozen=True)
class C:
    """One case: family, sizes, task and its strategies."""

    family: str
    d_in: int
    d_out: int
    strategies: tuple[S, ...]
    task: str = "jacobian"
    batch: int = 1
    host: str = "h0"
    device: str = "cpu:0"
    rounds: int = 9

    @property
    def case_id(self) -> str:
        return schema.case_id(self.family, self.d_in, self.d_out, self.batch)

    @property
    def key(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "family": self.family,
            "task": self.task,
            "d_in": self.d_in,
            "d_out": self.d_out,
            "batch": self.batch,
            "host": self.host,
            "device": self.device,
        }


def samples_of(case: C, s: S) -> list[float]:
    """The per-call seconds of one strategy, one per round (empty when not timed). Each
    strategy reads the spread from its own offset, so per-round ratios vary by a few percent."""
    if s.seconds is None or s.status != schema.STATUS_OK:
        return []
    k = 2 * [x.name for x in case.strategies].index(s.name)
    n = len(s.spread)
    return [s.seconds * DRIFT[i % len(DRIFT)] * s.spread[(i + k) % n] for i in range(case.rounds)]


def rows(case: C) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(results rows, samples rows) of one case, with every schema column present."""
    result_rows, sample_rows = [], []
    timed = [s.name for s in case.strategies if samples_of(case, s)]
    for s in case.strategies:
        secs = samples_of(case, s)
        summ = stats.summarize(secs)
        row: dict[str, Any] = {
            **case.key,
            "strategy": s.name,
            "source": f"builtin:{case.family}",
            "device_kind": "cpu",
            "platform": "cpu",
            "dtype": "float32",
            "jit": True,
            "status": s.status,
            "reason": s.reason,
            "n_inner": 10 if secs else math.nan,
            "n_samples": summ.n,
            "median_s": summ.median,
            "mean_s": summ.mean,
            "std_s": summ.std,
            "min_s": summ.min,
            "max_s": summ.max,
            "q1_s": summ.q1,
            "q3_s": summ.q3,
            "iqr_s": summ.iqr,
            "ci_low_s": summ.ci_low,
            "ci_high_s": summ.ci_high,
            "outliers": summ.outliers,
            "lower_s": s.lower_s,
            "compile_s": s.compile_s,
            "setup_s": s.setup_s,
            "first_call_s": 2 * s.seconds if s.seconds else math.nan,
            "flops": s.flops,
            "transcendentals": 0.0,
            "bytes_accessed": s.bytes_accessed,
            "temp_bytes": s.temp_bytes,
            "argument_bytes": 4.0 * case.d_in,
            "output_bytes": 4.0 * case.d_in * case.d_out,
            "generated_code_bytes": 0.0,
            "max_abs_diff": 0.0,
            "max_abs": 1.0,
            "instructions": s.instructions if s.instructions is not None else math.nan,
            "instructions_spread": s.instructions_spread
            if s.instructions is not None
            else math.nan,
            "instructions_reps": 3 if s.instructions is not None else math.nan,
            "started_at": 1.7e9,
            "ended_at": 1.7e9 + 1,
        }
        result_rows.append({c: row.get(c, math.nan) for c in schema.RESULT_COLUMNS})
        for i, t in enumerate(secs):
            order = timed[i % len(timed) :] + timed[: i % len(timed)]  # rotated every round
            sample_rows.append(
                {
                    **case.key,
                    "strategy": s.name,
                    "round": i,
                    "position": order.index(s.name),
                    "n_inner": 10,
                    "seconds": t,
                }
            )
    return result_rows, sample_rows


META: dict[str, Any] = {
    "schema_version": schema.SCHEMA_VERSION,
    "host": "h0",
    "adbench_version": "0.1.0",
    "jax_version": "0.10.2",
    "jaxlib_version": "0.10.2",
    "backend": "cpu",
    "devices": [{"id": "cpu:0", "kind": "cpu", "platform": "cpu"}],
    "cpu_model": "builder CPU",
    "python": "3.11.2",
    "platform": "Linux",
    "x64": False,
    "xla_flags": "",
    "git_commit": None,
    "config_path": "built.yaml",
    "config_hash": "0000000000000000",
    "config": {"name": "built"},
    "settings": {"tie_margin": 0.1},
    "started_at": "2026-01-01T00:00:00+00:00",
    "finished_at": "2026-01-01T00:01:00+00:00",
    "command": "adbench run built.yaml",
}


def write_run(
    directory: Path, cases: Iterable[C], *, meta: dict[str, Any] | None = None, margin: float = 0.1
) -> Path:
    """A results directory holding ``cases``, with verdicts, ranking and crossovers written at
    the end as ``adbench run`` writes them."""
    from adbench.analysis.crossover import crossovers_for
    from adbench.analysis.verdict import judge

    writer = ResultsWriter(directory)
    writer.create()
    writer.write_meta({**META, **(meta or {}), "settings": {"tie_margin": margin}})
    for case in cases:
        writer.append_case(*rows(case))
    stored = load_results(directory, with_verdicts=False)
    judged = judge(stored.results, stored.samples, margin=margin)
    writer.write_verdicts(judged.verdicts)
    writer.write_ranking(judged.ranking)
    writer.write_crossovers(crossovers_for(stored.results, stored.samples, margin=margin))
    return directory


@dataclass
class FakeMeasurer:
    """Stands in for the measuring function `adbench run` calls per case (see
    adbench.session.sweep._in_process): returns the rows of the case spec with that case_id."""

    cases: dict[str, C]
    seen: list[str] = field(default_factory=list)

    def __call__(self, planned: Any) -> _FakeResult:
        self.seen.append(planned.case.case_id)
        return _FakeResult(self.cases[planned.case.case_id])


@dataclass(frozen=True)
class _FakeResult:
    case: C

    @property
    def strategies(self) -> tuple[()]:  # what the progress line reads: nothing to print
        return ()

    @property
    def failed(self) -> bool:
        return any(s.status != schema.STATUS_OK for s in self.case.strategies)

    def result_rows(self) -> list[dict[str, Any]]:
        return rows(self.case)[0]

    def sample_rows(self) -> list[dict[str, Any]]:
        return rows(self.case)[1]


def dump(directory: Path) -> dict[str, str]:
    """Every file of a directory as text (for golden comparisons)."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.iterdir())}
