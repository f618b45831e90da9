"""What measuring a case produced, and the rows of the results tables it becomes.

``CaseResult`` holds one ``StrategyResult`` per planned strategy of a case on one device; the
measuring code (adbench.measure.case), the worker process (adbench.session.worker, which sends them
through a pipe) and the sweep (which hands their rows to the writer) share these value types.
Rows have exactly the columns of ``schema.RESULT_COLUMNS`` and ``schema.SAMPLE_COLUMNS``.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adbench.analysis import stats
from adbench.config.cases import Case
from adbench.store import schema

# columns filled from Prepared.info; its other keys (the colouring's kind) are not stored
INFO_COLUMNS = ("chunk_size", "colors", "sparse_mode", "nnz", *schema.ESTIMATOR_COLUMNS)


@dataclass(frozen=True)
class CaseShape:
    """What a case was measured as, when its factory returned (fn, args): d_in and d_out
    measured (total sizes of the differentiated leaves and of the output), the leaf shapes in
    words, the differentiated arguments ("0", "0,2") and the per-example argument with how it
    was known ("declared" or "detected"). Fills schema.STRUCTURE_COLUMNS."""

    d_in: int
    d_out: int
    in_tree: str = ""
    out_tree: str = ""
    argnums: str = ""
    per_example: int | None = None
    per_example_how: str = ""


@dataclass(frozen=True)
class StrategyResult:
    """What one strategy of one case produced. ``samples`` are seconds per call, one per round;
    ``positions`` the strategy's place in each round's order (0 = first). ``info``: what the
    strategy chose (INFO_COLUMNS: chunk size; colours, direction and non-zeros of a sparse one).
    ``instructions``: instructions per call counted under valgrind (adbench.count.engine): the
    median over ``instructions_reps`` repetitions, with their ``instructions_spread``; NaN when
    the run measured time.
    """

    strategy: str
    status: str = schema.STATUS_OK
    reason: str = ""
    n_inner: int = 0
    samples: tuple[float, ...] = ()
    positions: tuple[int, ...] = ()
    lower_s: float = math.nan
    compile_s: float = math.nan
    setup_s: float = math.nan
    first_call_s: float = math.nan
    cost: Mapping[str, float] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    max_abs_diff: float = math.nan
    max_abs: float = math.nan
    instructions: float = math.nan
    instructions_spread: float = math.nan
    instructions_reps: float = math.nan
    # the case's measured shape, repeated on each strategy so that it survives any path that
    # rebuilds a CaseResult from its strategies (the --case-timeout worker sends only those)
    case_shape: CaseShape | None = None


@dataclass(frozen=True)
class CaseResult:
    """All strategies of one case on one device; turns itself into rows of the results tables.
    ``shape``: set for a factory's (fn, args); its measured sizes are the rows' d_in, d_out."""

    case: Case
    device: str
    device_kind: str
    platform: str
    dtype: str
    jit: bool
    strategies: tuple[StrategyResult, ...]
    host: str = ""
    started_at: float = math.nan  # seconds since the epoch, this host's clock
    ended_at: float = math.nan
    shape: CaseShape | None = None

    @property
    def measured(self) -> CaseShape | None:
        """``shape``, or the one its strategies carry (see StrategyResult.case_shape)."""
        if self.shape is not None:
            return self.shape
        return next((m.case_shape for m in self.strategies if m.case_shape is not None), None)

    def _key(self) -> dict[str, Any]:
        """The schema.CASE_KEY columns every row of this case starts with."""
        sh = self.measured
        return {
            "case_id": self.case.case_id,
            "family": self.case.family,
            "task": self.case.task,
            "d_in": sh.d_in if sh else self.case.d_in,
            "d_out": sh.d_out if sh else self.case.d_out,
            "batch": self.case.batch,
            "host": self.host,
            "device": self.device,
        }

    def result_rows(self) -> list[dict[str, Any]]:
        rows = []
        for m in self.strategies:
            s = stats.summarize(m.samples)
            row: dict[str, Any] = {
                **self._key(),
                "strategy": m.strategy,
                "source": self.case.source,
                "device_kind": self.device_kind,
                "platform": self.platform,
                "dtype": self.dtype,
                "jit": self.jit,
                "status": m.status,
                "reason": m.reason,
                "n_inner": m.n_inner,
                "n_samples": s.n,
                "median_s": s.median,
                "mean_s": s.mean,
                "std_s": s.std,
                "min_s": s.min,
                "max_s": s.max,
                "q1_s": s.q1,
                "q3_s": s.q3,
                "iqr_s": s.iqr,
                "ci_low_s": s.ci_low,
                "ci_high_s": s.ci_high,
                "outliers": s.outliers,
                "lower_s": m.lower_s,
                "compile_s": m.compile_s,
                "setup_s": m.setup_s,
                "first_call_s": m.first_call_s,
                "max_abs_diff": m.max_abs_diff,
                "max_abs": m.max_abs,
                "instructions": m.instructions,
                "instructions_spread": m.instructions_spread,
                "instructions_reps": m.instructions_reps,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
            }
            row.update(self._structure())
            row.update(m.cost)
            row.update({k: v for k, v in m.info.items() if k in INFO_COLUMNS})
            # columns this measurement does not fill are present and empty
            rows.append({c: row.get(c, math.nan) for c in schema.RESULT_COLUMNS})
        return rows

    def _structure(self) -> dict[str, Any]:
        """schema.STRUCTURE_COLUMNS: empty for a flat function without named sizes."""
        out: dict[str, Any] = {"sizes": schema.sizes_text(self.case.sizes)}
        sh = self.measured
        if sh is not None:
            out.update(
                in_tree=sh.in_tree,
                out_tree=sh.out_tree,
                argnums=sh.argnums,
                per_example=math.nan if sh.per_example is None else sh.per_example,
                per_example_how=sh.per_example_how,
            )
        return out

    def sample_rows(self) -> list[dict[str, Any]]:
        return [
            {
                **self._key(),
                "strategy": m.strategy,
                "round": i,
                "position": m.positions[i] if i < len(m.positions) else math.nan,
                "n_inner": m.n_inner,
                "seconds": t,
            }
            for m in self.strategies
            for i, t in enumerate(m.samples)
        ]

    @property
    def failed(self) -> bool:
        return any(
            m.status not in (schema.STATUS_OK, schema.STATUS_SKIPPED) for m in self.strategies
        )


def this_host() -> str:
    """The machine's name as rows record it, so rows from several machines never collide."""
    return socket.gethostname() or "localhost"


def failed_case(case: Case, status: str, reason: str, **where: Any) -> CaseResult:
    """Every planned strategy of `case` with one status and reason (a timeout, a dead worker,
    an adbench bug); `where`: CaseResult's device, device_kind, platform, dtype, jit, host."""
    return CaseResult(
        case=case,
        strategies=tuple(StrategyResult(n, status, reason) for n in case.strategies),
        **where,
    )
