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
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:  # only for annotations: these modules import jax or pandas
    from rich.progress import Progress, TaskID

    from adbench.run.cases import Case
    from adbench.run.config import LoadedConfig
    from adbench.run.engine_ray import RayEngine
    from adbench.run.measure import CaseResult, Settings
    from adbench.run.shard import Shard
    from adbench.run.sweep import Engine, Planned

app = typer.Typer(
    name="adbench",
    help="Should this Jacobian use forward mode (jax.jacfwd) or reverse mode (jax.jacrev)? "
    "Measure both on your functions, sizes and devices, and get a verdict with its evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _console(stderr: bool = False) -> Console:
    # NO_COLOR and non-TTY output are honoured by Rich itself; keep CI logs wide enough to read
    width = None if sys.stdout.isatty() else 160
    return Console(stderr=stderr, width=width, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one line on stderr and exit."""
    from rich.markup import escape

    # the message is the user's text (paths, YAML keys like [d_in, d_out]): never markup
    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


class Device(str, Enum):
    cpu = "cpu"
    gpu = "gpu"
    tpu = "tpu"
    all = "all"


class EngineName(str, Enum):
    local = "local"
    ray = "ray"


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
    from adbench.run import memory

    if text is None:
        return memory.default_budget()
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        return _parse_bytes(text)
    except typer.BadParameter as exc:
        fail(f"--max-memory {exc.message}")


def _resume_command(config: Path, out_dir: Path, options: Mapping[str, object]) -> str:
    """The exact `adbench run ... --resume` that continues this run."""
    import shlex

    words = ["adbench", "run", str(config), "--out", str(out_dir)]
    for flag, value in options.items():
        if value is not None:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in [*words, "--resume"])


def _default_out(name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{name}-{stamp}"


@app.command()
def run(
    config: Annotated[
        Path | None,
        typer.Argument(help="YAML run file. Default: configs/seed.yaml, the classic experiment."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Results directory. Default: results/<name>-<timestamp>."),
    ] = None,
    device: Annotated[
        Device | None,
        typer.Option(help="Which JAX devices to measure on. Default: the default backend's first."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Measure only the cases missing from an existing --out.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace the results in an existing --out.")] = False,
    max_memory: Annotated[
        str | None,
        typer.Option(
            help="Refuse a case whose memory estimate (XLA's analysis of the compiled Jacobian "
            "plus its host copies) exceeds this, e.g. 8GiB; 'off' disables the guard. "
            "Default: half the memory available at the start."
        ),
    ] = None,
    case_timeout: Annotated[
        float | None,
        typer.Option(
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
) -> None:
    """Measure jacfwd against jacrev for every case of a run file and store the results."""
    from adbench.run.cases import expand
    from adbench.run.config import ConfigError, default_config_path, load_config
    from adbench.store.results import ResultsError, count_stored

    if resume and force:
        fail("--resume and --force cannot be combined")
    use_ray = engine is EngineName.ray
    if address is not None and not use_ray:
        fail("--address needs --engine ray")
    if use_ray and case_timeout is not None:
        fail("--case-timeout is not supported with --engine ray yet")
    from adbench.run import shard as sharding

    try:
        chosen = sharding.parse_shard(shard) if shard is not None else None
    except ValueError as exc:
        fail(str(exc))
    budget = _memory_budget(max_memory)
    try:
        loaded = load_config(config if config is not None else default_config_path())
        cases = expand(loaded)
    except ConfigError as exc:
        fail(str(exc))
    meta_extra: dict[str, object] = {}
    if chosen is not None:
        cases, meta_extra["shard"] = _shard_cases(chosen, loaded, cases)
    out_dir = out if out is not None else _default_out(loaded.config.name)

    from adbench.run.sweep import check_target, run_sweep, settings_from

    try:
        check_target(out_dir, loaded, resume=resume, force=force)  # before JAX loads: fail fast
        if resume and (out_dir / "meta.json").is_file():
            from adbench.store.results import read_meta

            why = sharding.check_resume(read_meta(out_dir), chosen)
            if why:
                fail(f"{out_dir}: cannot resume: {why}; use that --shard, or another --out")
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
    }
    remote = None
    try:
        settings = settings_from(loaded, max_memory_bytes=budget)
        run_engine = None
        if use_ray:  # Ray is imported only here (adbench.run.engine_ray)
            remote, devices, run_engine, meta_extra["engine"] = _ray(
                address, device, loaded, settings, default_budget=max_memory is None
            )
        else:
            case_env = dict(os.environ)  # what cases run with (a --case-timeout child too)
            if case_timeout is not None:
                from adbench.run.worker import prepare_parent

                prepare_parent()
            from adbench.run.measure import select_devices

            try:
                devices = select_devices(device.value if device else None)
            except ValueError as exc:
                fail(str(exc))
            from adbench.run.memory import device_report

            if accelerators := device_report(devices, case_env):
                meta_extra["device_memory"] = accelerators
        with progress_ui:
            run_sweep(
                loaded,
                cases,
                devices,
                out_dir,
                settings=settings,
                resume=resume,
                force=force,
                case_timeout_s=case_timeout,
                on_start=progress_ui.start,
                on_done=progress_ui.done,
                on_note=lambda note: err.print(f"note: {note}", markup=False, highlight=False),
                engine=run_engine,
                meta_extra=meta_extra,
            )
    except ResultsError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        kept = count_stored(out_dir, loaded.config.modes) if out_dir.is_dir() else 0
        where = f"{kept} finished case(s) are kept in {out_dir}" if kept else "no case was kept"
        hint = "" if case_timeout else "; if a case hangs, add --case-timeout SECONDS"
        err.print(
            f"interrupted: {where}{hint}. "
            f"Continue with: {_resume_command(loaded.path, out_dir, options)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    finally:
        if remote is not None:
            remote.close()

    from adbench.render.report import failures, verdict_table
    from adbench.store.results import load_results

    try:
        res = load_results(out_dir)
    except ResultsError as exc:
        fail(str(exc))
    if not quiet:
        _console().print(verdict_table(res))
    err.print(f"results: {out_dir}")
    bad = failures(res)
    if bad:
        err.print(f"{len(bad)} mode(s) did not measure cleanly (see 'reason' in results.csv)")
        raise typer.Exit(EXIT_FAILED)


def _shard_cases(
    chosen: Shard, loaded: LoadedConfig, cases: list[Case]
) -> tuple[list[Case], dict[str, object]]:
    """--shard: the shard's cases and what meta.json records about it; exit 2 if empty."""
    from adbench.run import shard as sharding

    mine = sharding.select(
        cases,
        chosen,
        n_strategies=len(loaded.config.modes),
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
    from adbench.run.engine_ray import EngineError, RayEngine

    remote = None
    try:
        remote = RayEngine(address)
        devices: list[Any] = list(remote.devices(device.value if device else None))
    except EngineError as exc:
        if remote is not None:
            remote.close()
        fail(str(exc))
    engine = remote.engine(loaded, settings, loaded.config.modes, node_budget=default_budget)
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
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
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
            self._bar.update(self._task, description=label)
        elif self.enabled:
            self.console.print(f"[{i + 1}/{n}] {label}", highlight=False, markup=False)

    def done(self, planned: Planned, result: CaseResult) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
        bad = [m for m in result.modes if m.status != "ok"]
        # one line per fault: a case-wide fault (the factory raised, a timeout) is said once
        if len(bad) > 1 and len({(m.status, m.reason) for m in bad}) == 1:
            bad = bad[:1]
            label = "/".join(m.mode for m in result.modes)
        else:
            label = ""
        for m in bad:
            self.console.print(
                f"  {planned.case.case_id} {label or m.mode} on {planned.device_id}: "
                f"{m.status}: {m.reason}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )


@app.command()
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
    """Show the verdicts and crossovers of stored results again, without re-running anything."""
    from adbench.render import report as rp
    from adbench.store.results import ResultsError, load_results

    try:
        res = load_results(results_dir)
    except ResultsError as exc:
        fail(str(exc))
    for note in res.notes:  # what an interrupted run left and the loader skipped
        _console(stderr=True).print(f"note: {note}", markup=False, highlight=False)
    if format is Format.table:
        cross = rp.crossovers_of(res)
        if output is not None:
            with output.open("w", encoding="utf-8") as fh:
                plain = Console(file=fh, width=160, no_color=True)
                plain.print(rp.verdict_table(res))
                plain.print(rp.crossover_table(cross))
        else:
            _console().print(rp.verdict_table(res))
            _console().print(rp.crossover_table(cross))
            for line in rp.failures(res):
                _console(stderr=True).print(line, markup=False, highlight=False)
        return
    files: dict[str, bytes] = {}
    if format is Format.md and output is not None:
        text, files = rp.markdown_plots(res, f"{output.stem}_plots")
    else:
        render = {
            Format.md: rp.to_markdown,
            Format.csv: rp.to_csv,
            Format.json: rp.to_json,
            Format.html: rp.to_html,
        }[format]
        text = render(res)
    if output is None:
        sys.stdout.write(text)
        if format is Format.md:
            _console(stderr=True).print("plots: give --output FILE.md to write them beside it")
        return
    for rel, data in files.items():  # names are slugs made by adbench.render.plots: no '..', no '/'
        path = output.parent / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, output)
    if files:
        _console(stderr=True).print(f"{output} and {len(files)} plot(s) in {output.stem}_plots/")


@app.command()
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
    from adbench.store.merge import merge_results
    from adbench.store.results import ResultsError

    try:
        merged = merge_results(dirs, out, force=force)
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


@app.command()
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
            help="METRIC:N% (or METRIC:N, an absolute amount in seconds/flops/bytes); repeat for "
            "several. METRIC: median (timing), flops, bytes_accessed, temp_bytes. Defaults: "
            "median:15%, flops:1%, bytes_accessed:1%, temp_bytes:1%.",
        ),
    ] = None,
    tier: Annotated[
        CompareTier,
        typer.Option(
            help="all, or deterministic: XLA flops/bytes/memory, statuses and cases only, "
            "identical from run to run; a CI gate with it cannot be flaky.",
        ),
    ] = CompareTier.all,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail (exit 1) also when the deterministic tier is not comparable (another jax, "
            "jaxlib or backend than the baseline's) instead of reporting it: a gate that judged "
            "nothing fails.",
        ),
    ] = False,
    min_time: Annotated[
        float,
        typer.Option(
            "--min-time",
            min=0.0,
            help="Seconds. Modes faster than this in the baseline are judged by the "
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
    """Judge CURRENT against BASELINE: regressions, verdict flips, improvements, new and missing
    cases, all listed together. Exit 0: no regression; 1: a regression or a verdict flip; 2: bad
    input. With $GITHUB_STEP_SUMMARY set, the Markdown report is appended to it."""
    from adbench.compare import gate as cp
    from adbench.compare import render as cr
    from adbench.store.results import ResultsError

    try:
        thresholds = cp.parse_thresholds(threshold or [])
    except cp.ThresholdError as exc:
        fail(str(exc))
    try:
        base, cur = cp.load_runs(baseline), cp.load_runs(current)
    except ResultsError as exc:
        fail(str(exc))
    for res in (*base, *cur):
        for note in res.notes:
            _console(stderr=True).print(f"note: {res.path}: {note}", markup=False, highlight=False)
    settings = cp.Settings(
        thresholds=thresholds, scope=cp.Scope(tier.value), min_time_s=min_time, strict=strict
    )
    result = cp.compare(base, cur, settings)
    if format is CompareFormat.table:
        if output is None:
            _console().print(cr.table(result))
        else:
            with output.open("w", encoding="utf-8") as fh:
                Console(file=fh, width=160, no_color=True).print(cr.table(result))
    else:
        text = cr.to_markdown(result) if format is CompareFormat.md else cr.to_json(result)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(cr.to_markdown(result) + "\n")
    raise typer.Exit(EXIT_FAILED if result.failed else EXIT_OK)


class ExportFormat(str, Enum):
    github_action_benchmark = "github-action-benchmark"


@app.command()
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
            "temp_bytes. Default: median, flops, bytes_accessed, temp_bytes.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Write stored results in another tool's format (cleanly measured modes only)."""
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
        output.write_text(text, encoding="utf-8")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
