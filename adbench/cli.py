"""The `adbench` command. The only module that imports typer.

Reads top to bottom as the data flow: config -> cases -> measure (sweep) -> results -> verdict
-> report. Heavy imports (jax, pandas) happen inside the commands, so `--help` is instant.
Exit codes: 0 success; 1 some case failed (run) or a regression was found (compare);
2 bad input (config, options, results directory).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:  # only for annotations: these modules import jax or pandas
    from rich.progress import Progress, TaskID

    from adbench.config.cases import Case
    from adbench.config.model import LoadedConfig
    from adbench.measure.case import CaseResult, Settings
    from adbench.session.engine_ray import RayEngine
    from adbench.session.shard import Shard
    from adbench.session.sweep import Engine, Planned

app = typer.Typer(
    name="adbench",
    help="Should this Jacobian use forward mode (jax.jacfwd) or reverse mode (jax.jacrev)? "
    "Measure both on your functions, sizes and devices, and get a verdict with its evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: typer's rich panels print a `<bool>` placeholder beside every flag
    rich_markup_mode=None,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _version(value: bool) -> None:
    if value:
        from adbench import __version__

        typer.echo(f"adbench {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Should this Jacobian use forward mode (jax.jacfwd) or reverse mode (jax.jacrev)? Measure
    both on your functions, sizes and devices, and get a verdict with its evidence."""


NATURAL_WIDTH = 1000  # "as wide as the content": tables take their natural width, no padding


def _console(stderr: bool = False) -> Console:
    """stdout's (or stderr's) console. On a terminal (as Rich sees it: a TTY, or FORCE_COLOR):
    its width and styles. Elsewhere (a pipe, a file, a CI log): COLUMNS when set, else each table
    at its natural width (the reasons wrapped at terminal.PROSE_MAX), never cut to a guessed
    width nor padded to one. NO_COLOR (any non-empty value): no ANSI styles at all, bold and
    italic included, not only colours (Rich alone drops only the colours)."""
    plain = os.environ.get("NO_COLOR", "") != ""
    console = Console(stderr=stderr, highlight=False, color_system=None if plain else "auto")
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console.width = NATURAL_WIDTH
    return console


def fail(
    message: str | Sequence[str], code: int = EXIT_USAGE, *, then: str | None = None
) -> NoReturn:
    """Print the message (or each of several, e.g. every problem of a run file) as one `error:`
    line on stderr, then `then` as is, and exit."""
    from rich.markup import escape

    err = _console(stderr=True)
    # the message is the user's text (paths, YAML keys like [d_in, d_out]): never markup
    for line in [message] if isinstance(message, str) else message:
        err.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    if then:
        err.print(then, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class Device(str, Enum):
    cpu = "cpu"
    gpu = "gpu"
    tpu = "tpu"
    all = "all"


class EngineName(str, Enum):
    local = "local"
    ray = "ray"


class Measure(str, Enum):
    time = "time"
    instructions = "instructions"


class Format(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"
    html = "html"


def _parse_bytes(text: str) -> int:
    units = {
        "": 1,
        "b": 1,
        "k": 2**10,
        "kb": 2**10,
        "kib": 2**10,
        "m": 2**20,
        "mb": 2**20,
        "mib": 2**20,
        "g": 2**30,
        "gb": 2**30,
        "gib": 2**30,
        "t": 2**40,
        "tb": 2**40,
        "tib": 2**40,
    }
    s = text.strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num) :]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if value <= 0 or unit not in units:
        raise typer.BadParameter(f"{text!r}: expected a size such as 8GiB, 512MiB or 2e9")
    return int(value * units[unit])


def _positive_seconds(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value:g}: expected a number of seconds > 0")
    return value


def _memory_budget(text: str | None) -> int | None:
    """--max-memory: None means the default (a share of available memory), 'off' no guard."""
    from adbench.measure import memory

    if text is None:
        return memory.default_budget()
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        return _parse_bytes(text)
    except typer.BadParameter as exc:
        fail(f"--max-memory {exc.message}")


def _resume_command(
    config: Path, out_dir: Path, options: Mapping[str, object], only: Sequence[str] | None = None
) -> str:
    """The exact `adbench run ... --resume` that continues this run."""
    import shlex

    words = ["adbench", "run", str(config), "--out", str(out_dir)]
    for flag, value in options.items():
        if value is not None:
            words += [flag, str(value)]
    for family in only or ():
        words += ["--only", family]
    return " ".join(shlex.quote(w) for w in [*words, "--resume"])


def _write_output(path: Path, data: str | bytes, *, protect: Path | None = None) -> None:
    """--output of report/compare/export: written whole, or one error line and exit 2 (a missing
    directory, a directory, a full disk, a results directory's own file)."""
    from adbench.store.results import ResultsError, write_output

    try:
        write_output(path, data, protect=protect)
    except ResultsError as exc:
        fail(str(exc))


def _plain_text(*renderables: Any) -> str:
    """Rich tables as plain text for a file: no ANSI codes, each at its natural width."""
    import io

    buf = io.StringIO()
    console = Console(file=buf, width=NATURAL_WIDTH, color_system=None)
    for r in renderables:
        console.print(r)
    return buf.getvalue()


def _default_out(name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{name}-{stamp}"


@app.command(short_help="Measure every case of a run file and store the results.")
def run(
    config: Annotated[
        Path | None,
        typer.Argument(
            metavar="[CONFIG]",
            help="YAML run file. Default: configs/seed.yaml, the classic experiment.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Results directory. Default: results/<name>-<timestamp>.",
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
            "plus its host copies) exceeds this, e.g. 8GiB; 'off' disables the guard. "
            "Default: half the memory available at the start.",
        ),
    ] = None,
    case_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Stop a case that runs longer than this many seconds and record it as "
            "'timeout' (each case then runs in a child process that can be killed).",
            callback=_positive_seconds,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no table.")] = False,
    shard: Annotated[
        str | None,
        typer.Option(
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
            help="With --engine ray: the cluster's address, HOST:PORT. Default: an embedded "
            "local Ray."
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
    """Measure every case of a run file (jacfwd against jacrev by default) and store the
    results. Exit 0: all measured; 1: a case failed (recorded, the run went on); 2: bad input
    or a results directory that cannot be written."""
    from adbench import api
    from adbench.config.cases import expand
    from adbench.config.model import ConfigError, default_config_path, load_config
    from adbench.store.repair import count_stored
    from adbench.store.results import ResultsError, WriteError
    from adbench.store.schema import META_FILE

    if resume and force:
        fail("--resume and --force cannot be combined")
    use_ray = engine is EngineName.ray
    if address is not None and not use_ray:
        fail("--address needs --engine ray")
    if use_ray and case_timeout is not None:
        fail("--case-timeout is not supported with --engine ray yet")
    counting = measure is Measure.instructions
    if counting and device not in (None, Device.cpu):
        fail(
            f"--measure instructions counts CPU instructions under valgrind, not on "
            f"--device {device.value if device else ''}: use --device cpu or leave it out"
        )
    if counting and use_ray:
        fail("--measure instructions counts on this machine, in one process: not with --engine ray")
    from adbench.session import shard as sharding

    try:
        chosen = sharding.parse_shard(shard) if shard is not None else None
    except ValueError as exc:
        fail(str(exc))
    budget = _memory_budget(max_memory)
    try:
        loaded = load_config(config if config is not None else default_config_path())
        cases = api.select_families(loaded, expand(loaded), only or [])
    except ConfigError as exc:
        fail(exc.problems)
    # absolute from here on: a factory that changes directory cannot move the results
    loaded = api.absolute(loaded)
    if chosen is not None or use_ray:
        from adbench.session.sweep import searched_families

        if searched := searched_families(loaded, cases):
            how = f"--shard {chosen}" if chosen is not None else "--engine ray"
            name, (first, _) = next(iter(searched.items()))
            fail(
                f"{loaded.where(name, first.axis)}: a searched size range chooses each size "
                f"from the ones measured before it, so it cannot run with {how}; "
                "run it on one machine (--only FAMILY)"
            )
    meta_extra: dict[str, object] = {}
    if chosen is not None:
        cases, meta_extra["shard"] = _shard_cases(chosen, loaded, cases)
    out_dir = (out if out is not None else _default_out(loaded.config.name)).absolute()

    if dry_run:
        _print_plan(loaded, cases, out_dir, budget, resume=resume)
        return

    from adbench.session.sweep import check_target, settings_from

    if counting:
        from adbench.count.instructions import InstructionsUnavailable, require_valgrind

        try:
            require_valgrind()
        except InstructionsUnavailable as exc:
            fail(str(exc))
    try:
        check_target(out_dir, loaded, resume=resume, force=force)  # before JAX loads: fail fast
        if resume and (out_dir / "meta.json").is_file():
            from adbench.count.engine import resume_conflict
            from adbench.store.results import read_meta

            stored = read_meta(out_dir)
            why = sharding.check_resume(stored, chosen)
            if why:
                fail(f"{out_dir}: cannot resume: {why}; use that --shard, or another --out")
            why = resume_conflict(stored, measure.value)
            if why:
                fail(f"{out_dir}: cannot resume: {why}; use --force, or another --out")
    except ResultsError as exc:
        fail(str(exc))
    err = _console(stderr=True)
    progress_ui = _Progress(err, enabled=not quiet)
    options = {
        "--device": device.value if device else None,
        "--max-memory": max_memory,
        "--case-timeout": f"{case_timeout:g}" if case_timeout else None,
        "--shard": str(chosen) if chosen else None,
        "--engine": "ray" if use_ray else None,
        "--address": address,
        "--measure": measure.value if counting else None,
    }

    def continue_with() -> str:
        kept = count_stored(out_dir, loaded.planned_strategies()) if out_dir.is_dir() else 0
        where = f"{kept} finished case(s) are kept in {out_dir}" if kept else "no case was kept"
        return f"{where}. Continue with: {_resume_command(loaded.path, out_dir, options, only)}"

    remote = None
    try:
        settings = settings_from(loaded, max_memory_bytes=budget)
        run_engine = None
        if use_ray:  # Ray is imported only here (adbench.session.engine_ray)
            remote, devices, run_engine, meta_extra["engine"] = _ray(
                address, device, loaded, settings, default_budget=max_memory is None
            )
        else:
            case_env = dict(os.environ)  # what cases run with (a --case-timeout child too)
            if case_timeout is not None:
                from adbench.session.worker import prepare_parent

                prepare_parent()
            from adbench.measure.case import select_devices

            try:
                devices = select_devices("cpu" if counting else device.value if device else None)
            except ValueError as exc:
                fail(str(exc))
            devices = devices[:1] if counting else devices  # one process counts one CPU
            from adbench.measure.memory import device_report

            if accelerators := device_report(devices, case_env):
                meta_extra["device_memory"] = accelerators
        with progress_ui:
            api.execute(
                loaded,
                cases,
                out_dir,
                devices=devices,
                settings=settings,
                resume=resume,
                force=force,
                case_timeout_s=case_timeout,
                on_start=progress_ui.start,
                on_done=progress_ui.done,
                on_note=lambda note: err.print(f"note: {note}", markup=False, highlight=False),
                engine=run_engine,
                meta_extra=meta_extra,
                measure=measure.value,
            )
    except WriteError as exc:  # disk full, a file-size limit, a read-only directory
        started = (out_dir / META_FILE).is_file()  # else nothing to continue: run it again
        fail(str(exc), then=continue_with() if started else None)
    except ResultsError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        hint = "" if case_timeout else "; if a case hangs, add --case-timeout SECONDS"
        kept = continue_with().replace(". Continue with:", f"{hint}. Continue with:", 1)
        err.print(f"interrupted: {kept}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    finally:
        if remote is not None:
            remote.close()

    from adbench.render import terminal, views
    from adbench.store.results import load_results

    try:
        res = load_results(out_dir)
    except ResultsError as exc:
        fail(str(exc))
    for note in res.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if not quiet and counting:
        from adbench.render.counts import instructions_table

        _console().print(instructions_table(res))
    elif not quiet:
        _console().print(terminal.verdict_table(views.build(res)))
    err.print(f"results: {out_dir}", markup=False, highlight=False, soft_wrap=True)
    bad = views.failures(res)
    if bad:
        err.print(
            f"{len(bad)} strategy run(s) did not measure cleanly (see 'reason' in results.csv)"
        )
        raise typer.Exit(EXIT_FAILED)


def _print_plan(
    loaded: LoadedConfig, cases: Sequence[Case], out_dir: Path, budget: int | None, *, resume: bool
) -> None:
    """`run --dry-run`: the cases, each one's least memory need, the expected timing seconds."""
    from adbench import api
    from adbench.render.show import plan_lines
    from adbench.store.repair import completed_keys

    done = (
        completed_keys(out_dir, loaded.planned_strategies())
        if resume and out_dir.is_dir()
        else set()
    )
    plan = api.plan_run(loaded, cases, budget_bytes=budget, done=done)
    out = _console()
    out.print(f"run file {loaded.path} (name {loaded.config.name}); results {out_dir}", **_PLAIN)
    for line in plan_lines(plan):
        out.print(line, **_PLAIN)
    from adbench.session.sweep import searched_families

    for name, (search, _) in searched_families(loaded, cases).items():
        out.print(
            f"family {name}: searches {search.describe()}: its two ends above, then up to "
            f"{search.max_cases - 2} more sizes where the verdict changes",
            **_PLAIN,
        )


_PLAIN: dict[str, Any] = {"markup": False, "highlight": False, "soft_wrap": True}


def _shard_cases(
    chosen: Shard, loaded: LoadedConfig, cases: list[Case]
) -> tuple[list[Case], dict[str, object]]:
    """--shard: the shard's cases and what meta.json records about it; exit 2 if empty."""
    from adbench.session import shard as sharding

    mine = sharding.select(
        cases,
        chosen,
        time_budget_s=loaded.config.time_budget_s,
    )
    if not mine:
        fail(f"--shard {chosen}: no case falls in this shard ({len(cases)} case(s) in all)")
    return mine, sharding.describe(chosen, mine, len(cases))


def _ray(
    address: str | None,
    device: Device | None,
    loaded: LoadedConfig,
    settings: Settings,
    *,
    default_budget: bool,
) -> tuple[RayEngine, list[Any], Engine, dict[str, Any]]:
    """--engine ray: connect (exit 2 if Ray is missing or unreachable), pick the platforms, and
    build the engine; without --max-memory each node takes its own default budget."""
    from adbench.session.engine_ray import EngineError, RayEngine

    remote = None
    try:
        remote = RayEngine(address)
        devices: list[Any] = list(remote.devices(device.value if device else None))
    except EngineError as exc:
        if remote is not None:
            remote.close()
        fail(str(exc))
    engine = remote.engine(loaded, settings, node_budget=default_budget)
    return remote, devices, engine, remote.describe(node_budget=default_budget)


class _Progress:
    """A Rich progress bar on a terminal; one plain line per case elsewhere (CI logs)."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> _Progress:
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

    def start(self, planned: Planned, i: int, n: int) -> None:
        label = f"{planned.case.case_id} on {planned.device_id}"
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task(label, total=n)
            # n grows while a size range is searched (adbench.config.search)
            self._bar.update(self._task, description=label, total=n)
        elif self.enabled:
            self.console.print(f"[{i + 1}/{n}] {label}", highlight=False, markup=False)

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


@app.command(short_help="Show stored verdicts and crossovers again, as a table or a file.")
def report(
    results_dir: Annotated[Path, typer.Argument(help="A results directory from `adbench run`.")],
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            "-f",
            help="table (terminal), md (with --output, plots as PNG files in FILE_plots/ "
            "beside it), csv, json, or html (one self-contained page with the plots).",
        ),
    ] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Show the verdicts, rankings and crossovers of stored results again, without re-running
    anything."""
    from adbench.render import views
    from adbench.store.results import ResultsError, load_results

    try:
        res = load_results(results_dir)
    except ResultsError as exc:
        fail(str(exc))
    for note in res.notes:  # what an interrupted run left and the loader skipped
        _console(stderr=True).print(f"note: {note}", markup=False, highlight=False)
    rep = views.build(res)
    if format is Format.table:
        from adbench.render import terminal

        tables = terminal.report(rep)
        if output is not None:
            _write_output(output, _plain_text(*tables), protect=results_dir)
        else:
            for t in tables:
                _console().print(t)
            for line in views.failures(res):
                _console(stderr=True).print(line, markup=False, highlight=False)
        return
    files: dict[str, bytes] = {}
    if format is Format.md:
        from adbench.render import markdown

        if output is not None:
            text, files = markdown.with_plots(rep, f"{output.stem}_plots")
        else:
            text = markdown.to_markdown(rep)
    elif format is Format.html:
        from adbench.render.html import to_html

        text = to_html(rep)
    else:
        from adbench.render import data

        text = data.to_csv(rep) if format is Format.csv else data.to_json(rep)
    if output is None:
        sys.stdout.write(text)
        if format is Format.md:
            _console(stderr=True).print("plots: give --output FILE.md to write them beside it")
        return
    _write_output(output, text, protect=results_dir)  # first: it checks the path
    for rel, blob in files.items():  # names are slugs made by adbench.render.axes: no '..', '/'
        path = output.parent / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"{path.parent}: cannot write: {exc.strerror or exc}")
        _write_output(path, blob, protect=results_dir)
    if files:
        _console(stderr=True).print(f"{output} and {len(files)} plot(s) in {output.stem}_plots/")


@app.command(short_help="Join results directories of one config from shards or machines.")
def merge(
    dirs: Annotated[
        list[Path],
        typer.Argument(help="Results directories of one config: shards, machines, or both."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The merged results directory.")],
    force: Annotated[
        bool, typer.Option(help="Replace the results directory already at --out.")
    ] = False,
) -> None:
    """Join results directories of the same config (shards of a sweep, or runs on several
    machines) into one; every row keeps its host, verdicts and crossovers are recomputed."""
    from adbench.session.derived import write_derived
    from adbench.store.merge import merge_results
    from adbench.store.results import ResultsError

    try:
        merged = merge_results(dirs, out, derive=write_derived, force=force)
    except ResultsError as exc:
        fail(str(exc))
    err = _console(stderr=True)
    for note in merged.notes:
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    err.print(
        f"merged {len(merged.sources)} directories: {merged.cases} case x device(s) from "
        f"{len(merged.hosts)} host(s) ({', '.join(h or '?' for h in merged.hosts)}) into "
        f"{merged.out}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


class CompareFormat(str, Enum):
    table = "table"
    md = "md"
    json = "json"


class CompareTier(str, Enum):
    all = "all"
    deterministic = "deterministic"
    instructions = "instructions"


@app.command(short_help="Judge a run against a baseline run: exit 1 on a regression.")
def compare(
    baseline: Annotated[
        Path,
        typer.Argument(
            help="The baseline results directory (e.g. results/baselines/ci), or a directory of "
            "several runs of one config, pooled (repeated processes vote out a noisy one)."
        ),
    ],
    current: Annotated[
        Path, typer.Argument(help="The results directory (or directory of runs) to judge.")
    ],
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            "-t",
            help="METRIC:N% (or METRIC:N, an absolute amount in seconds/flops/bytes/instructions); "
            "repeat for several. METRIC: median (timing), flops, bytes_accessed, temp_bytes, "
            "instructions (per call, from run --measure instructions). Defaults: median:15%, "
            "flops:1%, bytes_accessed:1%, temp_bytes:1%, instructions:5%.",
        ),
    ] = None,
    tier: Annotated[
        CompareTier,
        typer.Option(
            help="all; deterministic: XLA flops/bytes/memory, statuses and cases only, identical "
            "from run to run, so a CI gate with it cannot be flaky; instructions: instructions "
            "per call (runs of `adbench run --measure instructions`), statuses and cases only: "
            "near-deterministic, and it sees slowdowns XLA's counts miss (a loop with more "
            "steps).",
        ),
    ] = CompareTier.all,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail (exit 1) also when a tier is not comparable (deterministic: another jax, "
            "jaxlib or backend than the baseline's; instructions: another valgrind, CPU under "
            "valgrind, Python, jax, jaxlib, glibc or XLA_FLAGS, or no counts) instead of "
            "reporting it: a gate that judged nothing fails.",
        ),
    ] = False,
    min_time: Annotated[
        float,
        typer.Option(
            "--min-time",
            min=0.0,
            help="Seconds. Strategies faster than this in the baseline are judged by the "
            "deterministic tier only.",
        ),
    ] = 100e-6,
    format: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="table (terminal), md or json.")
    ] = CompareFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Judge CURRENT against BASELINE per case x strategy: regressions, verdict flips (the
    recommended strategy changed decisively), improvements, new and missing cases, all listed
    together. Exit 0: no regression; 1: a regression or a verdict flip; 2: bad
    input. With $GITHUB_STEP_SUMMARY set, the Markdown report is appended to it."""
    from adbench.compare import gate
    from adbench.compare import model as cm
    from adbench.compare import render as cr
    from adbench.store.results import ResultsError

    try:
        thresholds = cm.parse_thresholds(threshold or [])
    except cm.ThresholdError as exc:
        fail(str(exc))
    try:
        base, cur = gate.load_runs(baseline), gate.load_runs(current)
    except ResultsError as exc:
        fail(str(exc))
    for res in (*base, *cur):
        for note in res.notes:
            _console(stderr=True).print(f"note: {res.path}: {note}", markup=False, highlight=False)
    settings = cm.Settings(
        thresholds=thresholds, scope=cm.Scope(tier.value), min_time_s=min_time, strict=strict
    )
    result = gate.compare(base, cur, settings)
    if not result.checked.get("cases") and not strict:
        _console(stderr=True).print(
            "warning: the two runs have no case in common: nothing was compared "
            "(--strict fails such a comparison)",
            **_PLAIN,
        )
    if format is CompareFormat.table:
        if output is None:
            _console().print(cr.table(result))
        else:
            _write_output(output, _plain_text(cr.table(result)))
    else:
        text = cr.to_markdown(result) if format is CompareFormat.md else cr.to_json(result)
        if output is None:
            sys.stdout.write(text)
        else:
            _write_output(output, text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(cr.to_markdown(result) + "\n")
    raise typer.Exit(EXIT_FAILED if result.failed else EXIT_OK)


class ExportFormat(str, Enum):
    github_action_benchmark = "github-action-benchmark"


@app.command(short_help="Write stored results in another tool's format.")
def export(
    results_dir: Annotated[Path, typer.Argument(help="A results directory from `adbench run`.")],
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format", "-f", help="github-action-benchmark: its customSmallerIsBetter JSON."
        ),
    ] = ExportFormat.github_action_benchmark,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="What to export; repeat for several: median, compile, flops, bytes_accessed, "
            "temp_bytes, instructions. Default: all of them but compile (a metric a run did "
            "not measure, e.g. instructions of a timed run, is left out).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Write stored results in another tool's format, one entry per case x strategy x metric
    (cleanly measured strategies only)."""
    import json

    from adbench.render.export import DEFAULT_METRICS, github_action_benchmark
    from adbench.store.results import ResultsError, load_results

    try:
        res = load_results(results_dir)
        entries = github_action_benchmark(res, metric or DEFAULT_METRICS)
    except (ResultsError, ValueError) as exc:
        fail(str(exc))
    text = json.dumps(entries, indent=2, allow_nan=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        _write_output(output, text, protect=results_dir)


@app.command(short_help="Check a run file and list every problem, without running it.")
def validate(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="YAML run file to check.")],
) -> None:
    """Check a run file: every problem is listed (file, line, key), nothing is measured. The
    modules named by `callable:` keys are imported (that runs their code) to check that each
    factory exists and accepts its params; no factory is called. Exit 0: valid; 2: not."""
    from adbench.config.cases import expand
    from adbench.config.model import ConfigError, load_config

    try:
        loaded = load_config(config)
        cases = expand(loaded)
    except ConfigError as exc:
        fail(exc.problems)
    families = len(loaded.config.families)
    _console().print(f"{config}: valid; {families} families, {len(cases)} cases", **_PLAIN)


@app.command(short_help="Print the run file's JSON Schema (for editors and checkers).")
def schema() -> None:
    """Print the JSON Schema of a run file: every key, its type, default and meaning. Point an
    editor's YAML support at it for completion and checking as you type."""
    import json

    from adbench.config.model import RunConfig

    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **RunConfig.model_json_schema(),
    }
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


@app.command(short_help="Write a commented run file and a factory stub to start from.")
def init(
    directory: Annotated[
        Path, typer.Argument(metavar="[DIR]", help="Where to write them. Default: here.")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Write run.yaml (commented, every first-needed key) and my_functions.py (a factory stub)
    into DIR; they run as they are: `adbench run DIR/run.yaml`."""
    from adbench.config.starter import starter_files
    from adbench.store.writer import WriteError, atomic_write_text

    files = starter_files(directory)
    existing = [str(p) for p in files if p.exists()]
    if existing and not force:
        fail(f"{', '.join(existing)}: exists; use --force to overwrite, or another DIR")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            atomic_write_text(path, text)
    except WriteError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{directory}: cannot write: {exc.strerror or exc}")
    run_file = next(iter(files))
    _console().print(
        f"wrote {', '.join(str(p) for p in files)}. Next: adbench run {run_file} --dry-run, "
        f"then adbench run {run_file}",
        **_PLAIN,
    )


@app.command(short_help="Show one stored case in full, or list the stored cases.")
def show(
    results_dir: Annotated[
        Path, typer.Argument(metavar="DIR", help="A results directory from `adbench run`.")
    ],
    case: Annotated[
        str | None,
        typer.Argument(
            metavar="[CASE]", help="A case id such as power/1x10000. Default: list the cases."
        ),
    ] = None,
) -> None:
    """Show one case in full: every strategy's status and failure reason, run time with its
    interval, one-off costs (lower, compile, setup, first call), XLA's counts, and the verdict.
    Without CASE, one line per stored case."""
    from adbench.render import show as sh
    from adbench.store.results import ResultsError, load_results

    try:
        res = load_results(results_dir)
    except ResultsError as exc:
        fail(str(exc))
    for note in res.notes:
        _console(stderr=True).print(f"note: {note}", **_PLAIN)
    try:
        lines = sh.overview(res) if case is None else sh.case_detail(res, case)
    except sh.UnknownCase as exc:
        fail(str(exc))
    out = _console()
    for line in lines:
        out.print(line, **_PLAIN)


@app.command(short_help="Predict each case's fastest strategy from XLA's costs alone.")
def predict(
    config: Annotated[
        Path | None,
        typer.Argument(help="YAML run file. Default: configs/seed.yaml."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for predictions.csv and predictions.json: a new one, or a run's "
            "results directory (they go beside its files, its meta.json untouched). "
            "Default: results/<name>-predict-<timestamp>.",
        ),
    ] = None,
    device: Annotated[
        Device | None,
        typer.Option(
            help="Which JAX devices to predict for. Default: the default backend's first."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace predictions already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table.")] = False,
) -> None:
    """Predict each case's fastest strategy from XLA's cost analysis: compile only, run nothing."""
    import time

    from adbench.config.cases import expand
    from adbench.config.model import ConfigError, default_config_path, load_config
    from adbench.store import predictions as pst

    started = dt.datetime.now(dt.timezone.utc).isoformat()
    try:
        loaded = load_config(config if config is not None else default_config_path())
        cases = expand(loaded)
    except ConfigError as exc:
        fail(str(exc))
    out_dir = out if out is not None else _default_out(f"{loaded.config.name}-predict")
    try:
        pst.check_target(out_dir, force=force)
    except pst.PredictionsError as exc:
        fail(str(exc))
    import socket

    import jax

    from adbench.analysis.predict import machine_for
    from adbench.measure import costs

    try:
        devices = costs.devices_for(device.value if device else None)
    except ValueError as exc:
        fail(str(exc))
    cfg = loaded.config
    # every strategy any case is predicted for, in first-seen order (the table's columns)
    names = tuple(dict.fromkeys(n for case in cases for n in case.strategies))
    host = socket.gethostname() or "localhost"  # as adbench run records it
    start = time.perf_counter()
    rows = []
    for case in cases:
        for dev in devices:
            with jax.default_device(dev):
                p = costs.predict_case(
                    case,
                    dev,
                    task=case.task,
                    strategies=case.strategies,
                    dtype=cfg.dtype,
                    margin=cfg.tie_margin,
                    host=host,
                )
            rows.append(p.row())
    meta = {
        "host": host,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [
            {"id": f"{d.platform}:{d.id}", "kind": str(d.device_kind), "platform": d.platform}
            for d in devices
        ],
        "config_path": str(loaded.path),
        "config_hash": loaded.text_hash,
        "config": cfg.model_dump(mode="json"),
        "cost_model": {d.platform: vars(machine_for(d.platform)) for d in devices},
        "started_at": started,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "wall_s": time.perf_counter() - start,
        "command": " ".join(sys.argv),
    }
    path = pst.write(out_dir, rows, names, meta)
    if not quiet:
        _console().print(_prediction_table(rows, names))
    _console(stderr=True).print(f"predictions: {path}", markup=False, highlight=False)
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        _console(stderr=True).print(
            f"{len(bad)} case(s) could not be fully predicted (see 'reason' in {path.name})",
            markup=False,
        )
        raise typer.Exit(EXIT_FAILED)


def _prediction_table(rows: list[dict[str, object]], names: tuple[str, ...]) -> object:
    from rich.table import Table

    from adbench.fmt import seconds as fmt_seconds

    table = Table(title="Predicted from XLA's cost analysis (nothing timed)")
    for col in ("case", "device", "predicted", "ratio", *names):
        table.add_column(col, justify="left" if col in ("case", "device", "predicted") else "right")
    for r in rows:
        ratio = float(r["predicted_ratio"])  # type: ignore[arg-type]
        table.add_row(
            str(r["case_id"]),
            str(r["device"]),
            str(r["predicted"]),
            "" if ratio != ratio else f"{ratio:.3g}x",
            *(fmt_seconds(r[f"{n}_predicted_s"]) for n in names),
        )
    return table


@app.command(short_help="Turn stored verdicts into a policy file for adbench.jacobian.")
def policy(
    results_dir: Annotated[Path, typer.Argument(help="A results directory from `adbench run`.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the policy JSON here instead of stdout."),
    ] = None,
) -> None:
    """The run's decisions as a small versioned JSON to commit: per family, task and device kind,
    the recommended strategy per size region. Use it with
    adbench.jacobian(f, policy="policy.json", family="name")."""
    from adbench.analysis import policy as pol
    from adbench.store.results import ResultsError, load_results

    if output is not None and not output.parent.is_dir():
        fail(f"--output {output}: directory {output.parent} does not exist")
    try:
        res = load_results(results_dir)
        made = pol.from_tables(res.results, res.verdicts, res.meta, source=str(results_dir))
    except (ResultsError, pol.PolicyError) as exc:
        fail(str(exc))
    text = made.to_json()
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, output)
    regions = sum(len(e.regions) for e in made.entries)
    _console(stderr=True).print(
        f"{output}: {len(made.entries)} entries, {regions} regions", markup=False, highlight=False
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
