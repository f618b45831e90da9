"""A whole run: cases x devices, measured one at a time and stored as each finishes.

This is `adbench run` without the command line: the CLI parses options and draws progress, this
module decides what is measured and in what order, and hands every finished case to the writer.

Longer than ~400 lines on purpose: the order of a run (ordinary cases, then each searched range
round by round), its resume bookkeeping, the deferral of Ctrl-C around each stored case and the
engine interface share one loop over the writer; the engines themselves are adbench.session.worker
and adbench.session.engine_ray, the shard plan adbench.session.shard, the derived tables
adbench.session.derived.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from adbench.config import search
from adbench.config.cases import Case
from adbench.config.model import LoadedConfig
from adbench.config.search import SizeSearch
from adbench.errors import first_line
from adbench.measure.case import Settings, measure_case, stop_meta
from adbench.measure.devices import cpu_dispatch_in_effect
from adbench.measure.outcome import CaseResult, failed_case, this_host
from adbench.session import resume as resume_rule
from adbench.session.shard import Shard
from adbench.store import schema
from adbench.store.merge import canonical_config_hash
from adbench.store.results import (
    ResultsError,
    ResultsWriter,
    check_out_dir,
    completed_keys,
    read_meta,
    repair,
)
from adbench.version import __version__


def settings_from(loaded: LoadedConfig, *, max_memory_bytes: int | None = None) -> Settings:
    c = loaded.config
    return Settings(
        dtype=c.dtype,
        seed=c.seed,
        jit=c.jit,
        time_budget_s=c.time_budget_s,
        min_sample_s=c.min_sample_s,
        min_rounds=c.min_rounds,
        max_rounds=c.max_rounds,
        stop_early=c.stop_early,
        tie_margin=c.tie_margin,
        warmup=c.warmup,
        rtol=c.rtol,
        atol=c.atol,
        max_case_s=c.max_case_s,
        max_memory_bytes=max_memory_bytes,
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def fingerprint(loaded: LoadedConfig, devices: Sequence[Any]) -> dict[str, Any]:
    """Everything a reader needs to know whether two runs can be compared."""
    import jax
    import jaxlib

    config = loaded.config.model_dump(mode="json")
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "host": this_host(),
        "adbench_version": __version__,
        "jax_version": jax.__version__,
        "jaxlib_version": getattr(jaxlib, "__version__", "?"),
        "backend": jax.default_backend(),
        "devices": [
            {"id": f"{d.platform}:{d.id}", "kind": str(d.device_kind), "platform": d.platform}
            for d in devices
        ],
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "x64": bool(jax.config.read("jax_enable_x64")),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "cpu_dispatch": cpu_dispatch_in_effect(),  # absent in older results: schema.cpu_dispatch
        "git_commit": _git_commit(loaded.path.resolve().parent),
        "config_path": str(loaded.path),
        "config_hash": loaded.text_hash,
        "config": config,
        "config_canonical_hash": canonical_config_hash(config),  # what merge compares
        "settings": {"tie_margin": loaded.config.tie_margin},
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "finished_at": None,
        "command": " ".join(sys.argv),
    }


def searched_families(
    loaded: LoadedConfig, cases: Sequence[Case]
) -> dict[str, tuple[SizeSearch, Case]]:
    """family -> (its size search, a case of it) for each family of `cases` with a size range;
    the case (one of the range's ends) is the template the searched sizes are made from."""
    out: dict[str, tuple[SizeSearch, Case]] = {}
    for c in cases:
        spec = loaded.plan(c.family).search
        if spec is not None and c.family not in out:
            out[c.family] = (spec, c)
    return out


@dataclass(frozen=True)
class Planned:
    case: Case
    device: Any

    @property
    def device_id(self) -> str:
        return f"{self.device.platform}:{self.device.id}"


def plan(
    cases: Sequence[Case], devices: Sequence[Any], done: set[tuple[str, str]]
) -> list[Planned]:
    """Every (case, device) still to measure, devices outermost so one device's sweep is whole."""
    out = []
    for d in devices:
        for c in cases:
            p = Planned(c, d)
            if (c.case_id, p.device_id) not in done:
                out.append(p)
    return out


def check_target(
    out_dir: Path,
    loaded: LoadedConfig,
    *,
    resume: bool,
    force: bool,
    measure: str = "time",
    shard: Shard | None = None,
) -> None:
    """Refuse an --out that this run may not write into (ResultsError), before anything runs:
    a foreign or existing directory without --resume/--force, or a resume the one resume rule
    (adbench.session.resume) refuses."""
    check_out_dir(out_dir, resume=resume, force=force)
    if resume and (out_dir / schema.META_FILE).is_file():
        why = resume_rule.refusal(
            out_dir, read_meta(out_dir), config=loaded.config, measure=measure, shard=shard
        )
        if why:
            raise ResultsError(why)


def _in_process(settings: Settings) -> Callable[[Planned], CaseResult]:
    """Measure in this process. Whatever escapes measure_case (an adbench bug, MemoryError, a
    SystemExit from user code calling sys.exit()) is that case's error, so one case can never
    end the sweep; only Ctrl-C (KeyboardInterrupt) does."""
    import jax

    def measure(p: Planned) -> CaseResult:
        try:
            with jax.default_device(p.device):
                return measure_case(p.case, p.device, settings)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit, GeneratorExit, ... raised inside the case
            why = (
                f"adbench failed on this case: {first_line(exc)}"
                if isinstance(exc, Exception)
                else f"the case raised {first_line(exc)} (user code called sys.exit()?)"
            )
            return failed_case(
                p.case,
                schema.STATUS_ERROR,
                why,
                device=p.device_id,
                device_kind=str(p.device.device_kind),
                platform=str(p.device.platform),
                dtype=settings.dtype,
                jit=settings.jit,
                host=this_host(),
            )

    return measure


@contextlib.contextmanager
def _interruptible() -> Iterator[Callable[[], bool]]:
    """Ctrl-C raises KeyboardInterrupt as usual, and is also remembered: Python swallows an
    exception raised inside a garbage-collection callback (JAX installs one), so the sweep asks
    `interrupted()` after each case and stops then if the raise was lost."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    hit: list[int] = []

    def handler(signum: int, frame: object) -> None:
        hit.append(signum)
        raise KeyboardInterrupt

    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:  # the lost raise: remembered above, not worth a traceback
        if not isinstance(info.exc_value, KeyboardInterrupt):
            previous_hook(info)

    previous = signal.signal(signal.SIGINT, handler)
    sys.unraisablehook = unraisable
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


# An engine measures planned cases and yields each with its result as it finishes, in
# completion order; it calls on_start(planned, i, n) when a case starts (or, where it cannot
# know, just before yielding it). Closing the generator stops it and releases what it holds.
StartHook = Callable[[Planned, int, int], None] | None
Engine = Callable[[Sequence[Planned], StartHook], Generator[tuple[Planned, CaseResult], None, None]]


def local_engine(loaded: LoadedConfig, settings: Settings, case_timeout_s: float | None) -> Engine:
    """One case at a time on this machine: in this process, or in a child process that is
    killed past `case_timeout_s` (adbench.session.worker)."""

    def run(
        todo: Sequence[Planned], on_start: StartHook
    ) -> Generator[tuple[Planned, CaseResult], None, None]:
        measure: Callable[[Planned], CaseResult]
        close: Callable[[], None]
        if case_timeout_s is not None:
            from adbench.session.worker import Worker

            worker = Worker(loaded, settings)
            timeout = case_timeout_s
            measure = lambda p: worker.measure(p.case, p.device, timeout)  # noqa: E731
            close = worker.close
        else:
            measure, close = _in_process(settings), lambda: None
        try:
            for i, p in enumerate(todo):
                if on_start:
                    on_start(p, i, len(todo))
                yield p, measure(p)
        finally:
            close()

    return run


def run_sweep(
    loaded: LoadedConfig,
    cases: Sequence[Case],
    devices: Sequence[Any],
    out_dir: Path,
    *,
    settings: Settings,
    resume: bool = False,
    force: bool = False,
    case_timeout_s: float | None = None,
    on_start: Callable[[Planned, int, int | None], None] | None = None,
    on_done: Callable[[Planned, CaseResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    engine: Engine | None = None,
    meta_extra: Mapping[str, Any] | None = None,
    measure: str = "time",
    shard: Shard | None = None,
) -> Path:
    """Measure what is missing in `out_dir`, appending each case as it ends; write verdicts.

    With `case_timeout_s`, every case runs in a child process that is killed when the case
    takes longer (adbench.worker); otherwise in this process. On --resume, a directory left by
    a killed run is repaired first (adbench.store.results.repair): `on_note` hears what was dropped.
    `engine` measures the planned cases elsewhere (adbench.session.engine_ray); this process stays
    the only writer. `meta_extra` is merged into meta.json (e.g. the shard, the engine), at the
    start and again at the end. `measure` and `shard` are what the resume rule checks a stored
    directory against (adbench.session.resume). Each case is stored under
    adbench.session.interrupt.WRITING, so a hard exit on Ctrl-C never tears it.
    """
    import jax

    from adbench.session.interrupt import WRITING

    if settings.dtype == "float64":
        jax.config.update("jax_enable_x64", True)  # float64 arrays need it; recorded in meta
    # a stored case is complete when it has a row for every strategy its family plans
    planned = loaded.planned_strategies()
    check_target(out_dir, loaded, resume=resume, force=force, measure=measure, shard=shard)
    writer = ResultsWriter(out_dir)
    writer.create(resume=resume, force=force)
    meta = fingerprint(loaded, devices)
    meta["settings"]["max_memory_bytes"] = settings.max_memory_bytes
    meta["settings"]["case_timeout_s"] = case_timeout_s
    meta["settings"].update(stop_meta(settings))
    meta.update(meta_extra or {})
    done: set[tuple[str, str]] = set()
    if resume:
        for note in repair(out_dir, planned):
            if on_note:
                on_note(note)
        writer.drop_derived()
        done = completed_keys(out_dir, planned)
        if (out_dir / schema.META_FILE).is_file():
            previous = read_meta(out_dir)
            meta["started_at"] = previous.get("started_at", meta["started_at"])
            meta["resumed_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    writer.write_meta(meta)
    searched = searched_families(loaded, cases)
    measured = 0  # cases handed to the engine so far: progress counts on across rounds
    run_engine = engine if engine is not None else local_engine(loaded, settings, case_timeout_s)

    def measure_all(todo: Sequence[Planned]) -> None:
        nonlocal measured
        if not todo:
            return
        first, total = measured, measured + len(todo)

        def started(p: Planned, i: int, n: int) -> None:
            # a searched range adds sizes as it goes: no total is promised until it is done
            if on_start:
                on_start(p, first + i, None if searched else first + n)

        results = run_engine(todo, started)
        try:
            with _interruptible() as interrupted:
                for p, result in results:
                    with WRITING:
                        writer.append_case(result.result_rows(), result.sample_rows())
                    if on_done:
                        on_done(p, result)
                    if interrupted():
                        raise KeyboardInterrupt
        finally:
            results.close()
        measured = total

    measure_all(plan([c for c in cases if c.family not in searched], devices, done))
    for d in devices:
        for name, (spec, template) in searched.items():
            outcome = _search(loaded, spec, template, d, measure_all, done, out_dir)
            if on_note:
                on_note(f"{name} on {Planned(template, d).device_id}: {outcome.summary()}")
    from adbench.session.derived import write_derived

    write_derived(writer, loaded.config.tie_margin)
    meta.update(meta_extra or {})  # again: an engine may add what it learnt (adbench.count.engine)
    meta["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    writer.write_meta(meta)
    return out_dir


def _search(
    loaded: LoadedConfig,
    spec: SizeSearch,
    template: Case,
    device: Any,
    measure: Callable[[Sequence[Planned]], None],
    done: set[tuple[str, str]],
    out_dir: Path,
) -> search.Outcome:
    """Search one family's range on one device (adbench.config.search): each size is an ordinary
    case, measured and stored like any other, or found stored (--resume) and not measured
    again. Its verdict is read back from the stored rows with the verdicts' own function, so
    the search acts on exactly what verdicts.csv will say."""
    from adbench.config import families

    fam = next(f for f in loaded.config.families if f.name == template.family)
    rule = families.BUILTINS[fam.builtin] if fam.builtin is not None else None

    def allowed(size: int) -> bool:
        return rule is None or rule.check_sizes(*spec.point(size), fam.params) is None

    def measure_sizes(sizes: Sequence[int]) -> dict[int, str]:
        planned = {}
        for size in sizes:
            d_in, d_out = spec.point(size)
            planned[size] = Planned(replace(template, d_in=d_in, d_out=d_out), device)
        measure([p for p in planned.values() if (p.case.case_id, p.device_id) not in done])
        return _stored_verdicts(out_dir, planned, loaded.config.tie_margin)

    return search.run(spec, measure_sizes, allowed)


def _stored_verdicts(
    out_dir: Path, planned: Mapping[int, Planned], margin: float
) -> dict[int, str]:
    """size -> what its stored case says (search.verdict_of), judged from the stored rows as
    verdicts.csv is (this host's rows first where several hosts measured it)."""
    from adbench.analysis.verdict import judge
    from adbench.store.results import load_results

    stored = load_results(out_dir, with_verdicts=False)
    some = next(iter(planned.values()))
    ids = {p.case.case_id for p in planned.values()}

    def mine(df: Any) -> Any:
        return df[df["case_id"].isin(ids) & (df["device"] == some.device_id)]

    samples = mine(stored.samples) if stored.samples is not None else None
    rows: list[dict[str, Any]] = judge(  # type: ignore[assignment]
        mine(stored.results), samples, margin=margin
    ).verdicts.to_dict("records")
    here = this_host()
    rows.sort(key=lambda r: r.get("host") != here)  # this host's row first
    by_case: dict[str, str] = {}
    for r in rows:
        by_case.setdefault(str(r["case_id"]), search.verdict_of(r, some.case.strategies))
    return {
        size: by_case[p.case.case_id] for size, p in planned.items() if p.case.case_id in by_case
    }
