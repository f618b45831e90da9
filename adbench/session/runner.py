"""Measure a prepared run: the engine, the caller's progress hooks, the writer, the lock.

:func:`execute` takes what :func:`adbench.session.checks.prepare` checked and measures it into
its results directory, holding the directory's lock throughout, and returns the directory.
Both doors call it, and so can code that built its cases itself::

    from adbench.session import RunRequest, prepare, execute
    prepared = prepare(RunRequest(loaded=loaded, cases=(case,), out=Path("out")))
    out_dir = execute(prepared)          # then adbench.store.results.load_results(out_dir)

Raises ResultsError (LockedError: another run holds the directory; WriteError: a file could
not be written), RequestError (Ray missing or unreachable) and, unless the request asked for a
hard exit (the command line: adbench.session.interrupt), KeyboardInterrupt. A case's own
faults never raise: they are recorded in its rows.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from adbench.session import interrupt
from adbench.session.checks import Prepared
from adbench.session.request import RequestError


def resume_command(p: Prepared, out_dir: Path) -> str:
    """The exact `adbench run ... --resume` that continues this run."""
    words = ["adbench", "run", str(p.loaded.path), "--out", str(out_dir)]
    for flag, value in p.request.resume_options().items():
        if value is not None:
            words += [flag, str(value)]
    for family in p.request.only:
        words += ["--only", family]
    return " ".join(shlex.quote(w) for w in [*words, "--resume"])


def kept_note(p: Prepared, out_dir: Path, *, hint: str = "") -> str:
    """What an interrupted or failed run kept, and the command that continues it."""
    from adbench.store.repair import count_stored

    kept = count_stored(out_dir, p.loaded.planned_strategies()) if out_dir.is_dir() else 0
    where = f"{kept} finished case(s) are kept in {out_dir}" if kept else "no case was kept"
    return f"{where}{hint}. Continue with: {resume_command(p, out_dir)}"


def interrupted_note(p: Prepared, out_dir: Path) -> str:
    hint = "" if p.request.case_timeout else "; if a case hangs, add --case-timeout SECONDS"
    return kept_note(p, out_dir, hint=hint)


def execute(p: Prepared) -> Path:
    """Measure `p` into its results directory and return that directory."""
    if p.plan is not None:
        raise ValueError("a dry run measures nothing: prepare it without dry_run")
    from adbench.session.sweep import settings_from

    req, out_dir = p.request, p.out_dir
    settings = settings_from(p.loaded, max_memory_bytes=p.budget)
    meta: dict[str, Any] = {**p.meta_extra, "measure": req.measure}
    try:
        with _engine(p, settings, meta) as (devices, engine), contextlib.ExitStack() as stack:
            stop: Callable[[], None] | None = None
            if req.hard_exit:
                say = req.hooks.on_interrupt or _stderr_line
                stop = stack.enter_context(
                    interrupt.guard(lambda: interrupted_note(p, out_dir), say)
                )
            _measure(p, out_dir, devices, settings, engine, meta, stop)
    finally:
        if p.out_is_default:  # made by prepare: removed again if nothing was stored
            with contextlib.suppress(OSError):
                out_dir.rmdir()
    return out_dir


def _stderr_line(text: str) -> None:
    sys.stderr.write(text + "\n")


def _measure(
    p: Prepared,
    out_dir: Path,
    devices: list[Any],
    settings: Any,
    engine: Any,
    meta: dict[str, Any],
    stop: Callable[[], None] | None,
) -> None:
    """The sweep under the directory's lock. On Ctrl-C with a hard exit, `stop` ends the
    process inside the lock: the kernel releases it only when the process is gone."""
    from adbench.session.sweep import run_sweep
    from adbench.store.writer import locked

    req, hooks = p.request, p.request.hooks
    with locked(out_dir):
        try:
            if p.counting:
                engine = _counting_engine(p, settings, devices, out_dir, meta)
            run_sweep(
                p.loaded,
                p.cases,
                devices,
                out_dir,
                settings=settings,
                resume=req.resume,
                force=req.force,
                case_timeout_s=req.case_timeout,
                on_start=hooks.on_start,
                on_done=hooks.on_done,
                on_note=hooks.on_note,
                engine=engine,
                meta_extra=meta,
                measure=req.measure,
                shard=p.shard,
            )
        except KeyboardInterrupt:
            if stop is not None:
                stop()  # does not return
            raise


@contextlib.contextmanager
def _engine(p: Prepared, settings: Any, meta: dict[str, Any]) -> Iterator[tuple[list[Any], Any]]:
    """(devices, engine) for the run: this machine's (None: the sweep's local engine), or Ray's
    nodes, connected here and closed on the way out. Ray is imported only for --engine ray."""
    if not p.use_ray:
        yield list(p.devices), p.request.engine_override
        return
    from adbench.session.engine_ray import EngineError, RayEngine

    remote = None
    try:
        remote = RayEngine(p.request.address)
        devices: list[Any] = list(remote.devices(p.request.device))
    except EngineError as exc:
        if remote is not None:
            remote.close()
        raise RequestError(str(exc)) from None
    try:
        node_budget = p.budget_is_default  # without --max-memory each node takes its own
        engine = remote.engine(p.loaded, settings, node_budget=node_budget)
        meta["engine"] = remote.describe(node_budget=node_budget)
        yield devices, p.request.engine_override or engine
    finally:
        remote.close()


def _counting_engine(
    p: Prepared, settings: Any, devices: list[Any], out_dir: Path, meta: dict[str, Any]
) -> Any:
    """--measure instructions: the engine of adbench.count.engine; a resumed run keeps the
    counts' record."""
    from adbench.count import engine as count
    from adbench.session.sweep import local_engine
    from adbench.store import schema
    from adbench.store.reader import read_meta

    if p.request.resume and (out_dir / schema.META_FILE).is_file():
        previous: Mapping[str, Any] = read_meta(out_dir)
        for key in (count.META_FINGERPRINT, count.META_RUN):
            if key in previous:
                meta[key] = previous[key]
    check = local_engine(p.loaded, count.CountingEngine.untimed(settings), p.request.case_timeout)
    return count.CountingEngine(
        p.loaded,
        settings,
        meta,
        check=check,
        case_timeout_s=p.request.case_timeout,
        on_note=p.request.hooks.on_note,
    )
