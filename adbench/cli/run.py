"""`adbench run`: parse the options into a RunRequest, prepare and execute it through
adbench.session (which checks everything, for this door and adbench.run() alike), render the
results, map errors to exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from adbench.cli._common import (
    EXIT_FAILED,
    PLAIN,
    Device,
    EngineName,
    Measure,
    console,
    fail,
    note,
)

if TYPE_CHECKING:  # only for annotations: these modules import jax or pandas
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from adbench.measure.outcome import CaseResult
    from adbench.session.checks import Prepared
    from adbench.session.request import RunRequest
    from adbench.session.sweep import Planned


def run(
    config: Annotated[
        Path | None,
        typer.Argument(
            metavar="CONFIG",
            help="YAML run file. Default: configs/seed.yaml, the classic experiment.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Results directory. Default: results/<name>-<timestamp>, with the shard "
            "(-shard2of3) when sharded.",
        ),
    ] = None,
    device: Annotated[
        Device | None,
        typer.Option(help="Which JAX devices to measure on. Default: the default backend's first."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Measure only the cases missing from an existing --out."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the results in an existing --out.")
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="FAMILY",
            help="Measure only this family of the run file; repeat for several.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List the cases, each one's least memory need and the expected timing "
            "seconds, and stop; nothing is measured or written.",
        ),
    ] = False,
    max_memory: Annotated[
        str | None,
        typer.Option(
            metavar="SIZE|off",
            help="Refuse a case whose memory estimate (XLA's analysis of the compiled Jacobian "
            "plus its host copies) exceeds this, e.g. 8GiB (8 x 2^30 bytes) or 8GB "
            "(8 x 10^9 bytes); 'off' disables the guard. "
            "Default: half the memory available at the start.",
        ),
    ] = None,
    case_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Stop a case that runs longer than this many seconds and record it as "
            "'timeout' (each case then runs in a child process that can be killed).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            metavar="I/N",
            help="I/N: measure only shard I of N, a split of the cases that every machine "
            "computes alike (balanced by estimated cost, independent of the config's order); "
            "join the shards' directories with `adbench merge`.",
        ),
    ] = None,
    engine: Annotated[
        EngineName,
        typer.Option(
            help="local: one case at a time on this machine; ray: on the nodes of a Ray cluster, "
            "one case per node at a time (needs pip install 'jax-adbench\\[ray]').",
        ),
    ] = EngineName.local,
    address: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="With --engine ray: the cluster's address, HOST:PORT. Default: an embedded "
            "local Ray.",
        ),
    ] = None,
    measure: Annotated[
        Measure,
        typer.Option(
            help="time: time every strategy. instructions: compile and check them as usual, "
            "then count each one's instructions per call under valgrind (CPU only, valgrind "
            "needed; one process for the run, minutes): near-deterministic, it sees slowdowns "
            "XLA's flops miss; gate on it with `adbench compare --tier instructions`.",
        ),
    ] = Measure.time,
) -> None:
    """Measure every case of a run file (every strategy of its task by default: six for a
    Jacobian) and store the results. Exit 0: all measured; 1: a case failed (recorded, the run
    went on); 2: bad input or a results directory that cannot be written; 130: Ctrl-C (what was
    whole is kept; the printed command continues it)."""
    from adbench.session.request import DEFAULT, Hooks, RunRequest

    ui = Progress(console(stderr=True), enabled=not quiet)
    request = RunRequest(
        config=config,
        out=out,
        device=device.value if device else None,
        resume=resume,
        force=force,
        only=tuple(only or ()),
        dry_run=dry_run,
        max_memory=DEFAULT if max_memory is None else max_memory,
        case_timeout=case_timeout,
        shard=shard,
        engine=engine.value,
        address=address,
        measure=measure.value,
        hard_exit=True,
        hooks=Hooks(on_start=ui.start, on_done=ui.done, on_note=_note, on_interrupt=_say),
    )
    prepared = checked(request)
    if prepared.plan is not None:
        print_plan(prepared)
        return
    with ui:
        out_dir = measured(prepared)
    show_results(out_dir, counting=measure is Measure.instructions, quiet=quiet)


def _note(text: str) -> None:
    note(f"note: {text}")


def _say(text: str) -> None:
    """The interrupted line: written straight to stderr, as the Ctrl-C thread may call it while
    the main thread holds Rich's console."""
    sys.stderr.write(f"\n{text}\n" if sys.stderr.isatty() else f"{text}\n")
    sys.stderr.flush()


def checked(request: RunRequest) -> Prepared:
    """adbench.session.checks.prepare, its refusals as `error:` lines and exit 2."""
    from adbench.config.model import ConfigError
    from adbench.session.checks import prepare
    from adbench.session.request import RequestError
    from adbench.store.results import ResultsError

    try:
        return prepare(request)
    except ConfigError as exc:
        fail(exc.problems)
    except RequestError as exc:
        fail(list(exc.problems))
    except ResultsError as exc:
        fail(str(exc))


def measured(prepared: Prepared) -> Path:
    """adbench.session.runner.execute; a write failure says what was kept and how to continue."""
    from adbench.session.request import RequestError
    from adbench.session.runner import execute, interrupted_note, kept_note
    from adbench.store.results import ResultsError, WriteError
    from adbench.store.schema import META_FILE

    out_dir = prepared.out_dir
    try:
        return execute(prepared)
    except WriteError as exc:  # disk full, a file-size limit, a read-only directory
        started = (out_dir / META_FILE).is_file()  # else nothing to continue: run it again
        fail(str(exc), then=kept_note(prepared, out_dir) if started else None)
    except (ResultsError, RequestError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # only where no hard exit could be set up (not the main thread)
        _say(f"interrupted: {interrupted_note(prepared, out_dir)}")
        raise typer.Exit(130) from None


def show_results(out_dir: Path, *, counting: bool, quiet: bool) -> None:
    """The stored results' table (or the counts'), the directory, exit 1 if a case failed."""
    from adbench.analysis.results import load_results
    from adbench.render import terminal, views
    from adbench.store.results import ResultsError

    try:
        res = load_results(out_dir)
    except ResultsError as exc:
        fail(str(exc))
    for line in res.notes:
        _note(line)
    if not quiet and counting:
        from adbench.render.counts import instructions_table

        console().print(instructions_table(res))
    elif not quiet:
        console().print(terminal.verdict_table(views.build(res)))
    note(f"results: {out_dir}")
    bad = views.failures(res)
    if bad:
        note(f"{len(bad)} strategy run(s) did not measure cleanly (see 'reason' in results.csv)")
        raise typer.Exit(EXIT_FAILED)


def print_plan(prepared: Prepared) -> None:
    """`run --dry-run`: the cases, each one's least memory need, the expected timing seconds."""
    from adbench.render.show import plan_lines

    assert prepared.plan is not None
    out = console()
    loaded = prepared.loaded
    out.print(
        f"run file {loaded.path} (name {loaded.config.name}); results {prepared.out_dir}", **PLAIN
    )
    for line in plan_lines(prepared.plan):
        out.print(line, **PLAIN)
    for name, described, more in prepared.searches():
        out.print(
            f"family {name}: searches {described}: its two ends above, then up to "
            f"{more} more sizes where the verdict changes",
            **PLAIN,
        )


class Progress:
    """A Rich progress bar on a terminal; one plain line per case elsewhere (CI logs)."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def start(self, planned: Planned, i: int, n: int | None) -> None:
        """Case i (0-based) of n; n is None while a size range is searched (the search adds
        sizes as it goes, adbench.config.search), so no total is shown that would change."""
        label = f"{planned.case.case_id} on {planned.device_id}"
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task(label, total=n)
            self._bar.update(self._task, description=label, total=n)
        elif self.enabled:
            count = f"{i + 1}" if n is None else f"{i + 1}/{n}"
            self.console.print(f"[{count}] {label}", highlight=False, markup=False)

    def done(self, planned: Planned, result: CaseResult) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
        bad = [m for m in result.strategies if m.status not in ("ok", "skipped")]
        # one line per fault: a case-wide fault (the factory raised, a timeout) is said once
        if len(bad) > 1 and len({(m.status, m.reason) for m in bad}) == 1:
            label = "/".join(m.strategy for m in bad)
            bad = bad[:1]
        else:
            label = ""
        for m in bad:
            self.console.print(
                f"  {planned.case.case_id} {label or m.strategy} on {planned.device_id}: "
                f"{m.status}: {m.reason}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
