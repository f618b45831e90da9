"""``adbench run --measure instructions``: every case compiled and checked as for timing, then
its strategies' instructions per call counted under valgrind, in one process for the whole run.

Why: XLA's cost analysis counts a loop body once, so a ``lax.scan`` with 1.5x the steps has the
same flops, bytes and temp memory, and wall time sees the change but moves x1.6-x2.5 between
processes on a shared machine. Instructions counted under callgrind see the extra steps and move
<= 0.85% between processes (benchmarks/instructions_check.py; the measuring engine is
:mod:`adbench.count.instructions`). A run of this kind is what ``adbench compare --tier
instructions`` gates on.

Two halves:

* the parent, :class:`CountingEngine` (an engine of :mod:`adbench.session.sweep`): measures each
  planned case with ``Settings(timed=False)`` — prepared, compiled, XLA's costs read, checked
  against the task's reference, exactly as a timed run minus the timing loop — then counts every
  strategy that passed in ONE valgrind'd process (:func:`count_checked`) and yields each case
  with its counts, so the sweep's writer stores it like any other case. Rows keep the status and
  reason of the check; ``instructions`` (median per call over the repetitions),
  ``instructions_spread`` and ``instructions_reps`` are filled; the timing columns stay empty and
  samples.csv gets nothing (its ``seconds`` are seconds). The per-repetition counts go to
  meta.json (``instructions.per_rep``), with the fingerprint that makes counts comparable
  (``instructions_fingerprint``, see :func:`adbench.count.instructions.fingerprint`).
* the worker, :func:`build`, called inside the valgrind'd process: re-creates the same cases (the
  run file, its factories, the same inputs as :mod:`adbench.measure.case` makes them) and the
  strategies that passed, compiles them and returns one :class:`~adbench.count.instructions.Job`
  per case x strategy, labelled ``"<case_id> <strategy>"``. It must not import typer (the CLI).

Cases are yielded only once the whole run is counted: an interrupted counting keeps no case.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Generator, Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from adbench.config.model import LoadedConfig
from adbench.count import instructions as ins
from adbench.measure.case import Settings
from adbench.measure.outcome import CaseResult
from adbench.store import schema

# meta.json keys of an instructions run (documented in adbench.store.schema)
META_MEASURE = schema.META_MEASURE
META_FINGERPRINT, META_RUN = schema.META_INSTRUCTIONS_FINGERPRINT, schema.META_INSTRUCTIONS

# At most this many calls per counted region (fewer when they would take over 0.5 s under
# callgrind, WorkerSpec.region_s). Tiny calls need many: a region's fixed cost (the client
# requests, the loop) and malloc's noise are spread over its calls. Measured here (mean_squares
# 3000 -> 1 under jacrev, ~56 k instructions per call): with 10 calls, repetitions 0.5-3% apart
# and process medians up to 4% apart; with up to 100 (49-94 fitted), 0.1-0.9% and 0.3%. Calls
# over ~1 M instructions fill the 0.5 s with fewer anyway.
MAX_CALLS = 100
# Seconds the valgrind'd process may take: the JAX import, then per strategy a trace + compile
# and the counting. Measured: 26 case x strategies of configs/ci.yaml in 84-138 s on 2 cores;
# this allows ~10x that before calling it hung.
TIMEOUT_BASE_S, TIMEOUT_PER_JOB_S = 300.0, 60.0


def label(case_id: str, strategy: str) -> str:
    """The region label of one case x strategy in the valgrind'd process."""
    return f"{case_id} {strategy}"


@dataclasses.dataclass(frozen=True)
class Target:
    """One case x strategy to count; ``chunk_size`` as the check chose it (chunked strategies)."""

    case_id: str
    strategy: str
    chunk_size: int | None = None


# --- the worker side ----------------------------------------------------------------------------


def build(
    config_path: str, targets: Sequence[Sequence[Any]], settings: Mapping[str, Any]
) -> list[ins.Job]:
    """The worker's builder: ``targets`` ([case_id, strategy, chunk_size], ...) of the run file at
    ``config_path``, each compiled on the CPU with ``settings`` (a :class:`Settings` as a dict),
    called once, and returned as a Job calling it and blocking until ready.

    A case's input x, shape (d_in,) or (batch, d_in), is made as the measuring code makes it
    (same factory, seed and dtype), so the counted call is the checked one.
    """
    import jax

    from adbench.config.cases import expand
    from adbench.config.model import load_config
    from adbench.measure import case as measure
    from adbench.strategies import registry as strategies

    s = Settings(**dict(settings))
    if s.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    cases = {c.case_id: c for c in expand(load_config(Path(config_path)))}
    device = jax.devices("cpu")[0]
    inputs: dict[str, tuple[Any, Any]] = {}
    jobs = []
    for case_id, strategy, chunk in targets:
        case = cases[case_id]
        if case_id not in inputs:
            built = measure._build(case, s, device)  # the one place inputs are made
            if isinstance(built, str):
                raise RuntimeError(f"{case_id}: {built}")
            inputs[case_id] = built
        fn, x = inputs[case_id]
        prepared = strategies.get(case.task, strategy).prepare(
            fn, x, chunk_size=chunk, batch=case.batch > 1
        )
        target = jax.jit(prepared.fn).lower(x).compile() if s.jit else prepared.fn
        jax.block_until_ready(target(x))

        def run(target: Any = target, x: Any = x) -> Any:
            return jax.block_until_ready(target(x))

        jobs.append(ins.Job(label(case_id, strategy), run))
    return jobs


# --- the parent side ----------------------------------------------------------------------------


def targets_of(results: Iterable[CaseResult]) -> list[Target]:
    """Every strategy that measured cleanly, in run order: what is worth counting."""
    return [
        Target(r.case.case_id, m.strategy, m.info.get("chunk_size"))
        for r in results
        for m in r.strategies
        if m.status == schema.STATUS_OK
    ]


def with_counts(
    result: CaseResult, counts: Mapping[str, ins.InstructionCount], failure: str | None
) -> CaseResult:
    """``result`` with each clean strategy's count filled in; an error when counting failed
    (``failure``, one line) or its label is missing from ``counts``."""
    out = []
    for m in result.strategies:
        if m.status == schema.STATUS_OK:
            c = counts.get(label(result.case.case_id, m.strategy))
            if c is not None:
                m = dataclasses.replace(
                    m,
                    instructions=c.median,
                    instructions_spread=c.spread,
                    instructions_reps=float(c.reps),
                )
            else:
                why = failure or "instruction counting returned no count for it"
                m = dataclasses.replace(m, status=schema.STATUS_ERROR, reason=why)
        out.append(m)
    return dataclasses.replace(result, strategies=tuple(out))


def count_checked(
    loaded: LoadedConfig,
    settings: Settings,
    targets: Sequence[Target],
    *,
    reps: int = 3,
    calls: int = MAX_CALLS,
    timeout_s: float | None = None,
    valgrind: str = "valgrind",
) -> ins.Counted:
    """Count ``targets`` of ``loaded`` in one valgrind'd process. Its files (spec, callgrind's
    output, valgrind's log: 13-21 MB for configs/ci.yaml) are deleted after a success and kept
    after a failure, whose message then names the directory. Raises
    :class:`~adbench.count.instructions.InstructionsUnavailable` (no valgrind) and
    :class:`~adbench.count.instructions.InstructionsFailed`."""
    spec = ins.WorkerSpec(
        builder="adbench.count.engine:build",
        kwargs={
            "config_path": str(loaded.path.absolute()),
            "targets": [[t.case_id, t.strategy, t.chunk_size] for t in targets],
            "settings": dataclasses.asdict(settings),
        },
        reps=reps,
        calls=calls,
        # the parent's import path, so a family's `module:name` imports in the worker as here
        sys_path=tuple(p or os.getcwd() for p in sys.path),
    )
    limit = timeout_s or TIMEOUT_BASE_S + TIMEOUT_PER_JOB_S * len(targets)
    workdir = Path(tempfile.mkdtemp(prefix="adbench-count-"))
    try:
        counted = ins.run_under_valgrind(spec, workdir=workdir, timeout=limit, valgrind=valgrind)
    except ins.InstructionsFailed as exc:
        raise ins.InstructionsFailed(f"{exc} (its files are in {workdir})") from None
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    return counted


def run_record(
    counted: ins.Counted, previous: Mapping[str, Any] | None, *, reps: int, calls: int
) -> dict[str, Any]:
    """meta.json's ``instructions``: how the counting ran and every repetition's count per call,
    ``per_rep[label] = {"per_call": [...], "calls": n}``; merged into ``previous`` (a resumed
    run's record) so every stored row keeps its repetitions."""
    per_rep = dict((previous or {}).get("per_rep", {}))
    for lab, c in counted.counts.items():
        per_rep[lab] = {"per_call": list(c.per_call), "calls": c.calls}
    processes = list((previous or {}).get("processes", []))
    processes.append(
        {
            "wall_s": round(counted.wall_s, 3),
            "seconds": {k: round(v, 3) for k, v in counted.seconds.items()},
            "counted": len(counted.counts),
        }
    )
    return {
        "tool": "callgrind",
        "valgrind_flags": list(ins.VALGRIND_FLAGS),
        "reps": reps,
        "max_calls": calls,
        "processes": processes,
        "per_rep": per_rep,
    }


class CountingEngine:
    """An engine for :func:`adbench.session.sweep.run_sweep` that checks every planned case in this
    process (or, with ``case_timeout_s``, in the killable child of adbench.session.worker), counts
    the clean strategies under valgrind, and yields every case with its counts.

    ``meta``: the run's ``meta_extra`` dict, which the sweep merges into meta.json at the start
    and again at the end; the engine adds ``instructions_fingerprint`` and ``instructions`` to it
    once it has counted (the CPU valgrind presents is known only then). ``on_note`` hears one
    line before the counting starts, which takes minutes. ``check``: the engine that measures
    each case untimed (the session's local engine, built with :meth:`untimed` settings); it is
    passed in so that this package never imports the session that runs it.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        settings: Settings,
        meta: MutableMapping[str, Any],
        *,
        check: Callable[[Sequence[Any], Any], Iterable[tuple[Any, CaseResult]]],
        case_timeout_s: float | None = None,
        on_note: Callable[[str], None] | None = None,
        reps: int = 3,
        calls: int = MAX_CALLS,
        valgrind: str = "valgrind",
    ) -> None:
        self.loaded = loaded
        self.settings = self.untimed(settings)
        self.check = check
        self.meta = meta
        self.case_timeout_s = case_timeout_s
        self.on_note = on_note
        self.reps, self.calls, self.valgrind = reps, calls, valgrind

    @staticmethod
    def untimed(settings: Settings) -> Settings:
        """`settings` for the check: compiled and checked as for timing, never timed."""
        return dataclasses.replace(settings, timed=False)

    def __call__(
        self, todo: Sequence[Any], on_start: Callable[[Any, int, int], None] | None
    ) -> Generator[tuple[Any, CaseResult], None, None]:
        checked = list(self.check(todo, on_start))
        targets = targets_of(r for _, r in checked)
        counts: Mapping[str, ins.InstructionCount] = {}
        failure = None
        if targets:
            if self.on_note:
                self.on_note(
                    f"counting instructions of {len(targets)} case x strategies under valgrind "
                    "in one process (JAX's import and every compile included: minutes)"
                )
            try:
                counted = count_checked(
                    self.loaded,
                    self.settings,
                    targets,
                    reps=self.reps,
                    calls=self.calls,
                    valgrind=self.valgrind,
                )
            except ins.InstructionsFailed as exc:
                failure = f"instruction counting failed: {exc}"
            else:
                counts = counted.counts
                self._record(counted)
        for planned, result in checked:
            yield planned, with_counts(result, counts, failure)

    def _record(self, counted: ins.Counted) -> None:
        fp = ins.fingerprint(counted.cpu_seen, self.valgrind)
        before = self.meta.get(META_FINGERPRINT)
        if isinstance(before, Mapping) and self.on_note:
            changed = [k for k in ins.COMPARABLE_KEYS if before.get(k) != fp.get(k)]
            if changed:
                self.on_note(
                    f"the counts stored before were made with another {', '.join(changed)}: "
                    "this directory now mixes environments; rerun with --force for one"
                )
        previous = self.meta.get(META_RUN)
        self.meta[META_FINGERPRINT] = fp
        self.meta[META_RUN] = run_record(
            counted,
            previous if isinstance(previous, Mapping) else None,
            reps=self.reps,
            calls=self.calls,
        )
