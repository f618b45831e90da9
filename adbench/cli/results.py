"""Commands that read a results directory: report, show, export, policy."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from adbench.cli._common import (
    PLAIN,
    check_output,
    console,
    fail,
    note,
    plain_text,
    plural,
    write_output,
)

if TYPE_CHECKING:
    from adbench.render.views import Report
    from adbench.store.reader import Results


class Format(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"
    html = "html"


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
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."
        ),
    ] = None,
) -> None:
    """Show the verdicts, rankings and crossovers of stored results again, without re-running
    anything."""
    from adbench.render import views

    check_output(output, [results_dir])
    res = loaded(results_dir)
    rep = views.build(res)
    if format is Format.table:
        from adbench.render import terminal

        tables = terminal.report(rep)
        if output is not None:
            write_output(output, plain_text(*tables), inputs=[results_dir])
            return
        for t in tables:
            console().print(t)
        for line in views.failures(res):
            note(line)
        return
    text, files = _report_text(rep, format, output)
    if output is None:
        sys.stdout.write(text)
        if format is Format.md:
            note("plots: give --output FILE.md to write them beside it")
        return
    write_output(output, text, inputs=[results_dir])  # first: it checks the path
    for rel, blob in files.items():  # names are slugs made by adbench.render.axes: no '..', '/'
        path = output.parent / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"{path.parent}: cannot write: {exc.strerror or exc}")
        write_output(path, blob, inputs=[results_dir])
    if files:
        note(f"{output} and {len(files)} plot(s) in {output.stem}_plots/")


def loaded(results_dir: Path) -> Results:
    """The stored results, exit 2 if they cannot be read; what the loader skipped as notes."""
    from adbench.analysis.results import load_results
    from adbench.store.results import ResultsError

    try:
        res = load_results(results_dir)
    except ResultsError as exc:
        fail(str(exc))
    for line in res.notes:  # what an interrupted run left and the loader skipped
        note(f"note: {line}")
    return res


def _report_text(rep: Report, format: Format, output: Path | None) -> tuple[str, dict[str, bytes]]:
    """The report in `format` (md, html, csv or json), and the plots to write beside it."""
    if format is Format.md:
        from adbench.render import markdown

        if output is not None:
            return markdown.with_plots(rep, f"{output.stem}_plots")
        return markdown.to_markdown(rep), {}
    if format is Format.html:
        from adbench.render.html import to_html

        return to_html(rep), {}
    from adbench.render import data

    return (data.to_csv(rep) if format is Format.csv else data.to_json(rep)), {}


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

    res = loaded(results_dir)
    try:
        lines = sh.overview(res) if case is None else sh.case_detail(res, case)
    except sh.UnknownCase as exc:
        fail(str(exc))
    out = console()
    for line in lines:
        out.print(line, **PLAIN)


class ExportFormat(str, Enum):
    github_action_benchmark = "github-action-benchmark"


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
            metavar="METRIC",
            help="What to export; repeat for several: median, compile, flops, bytes_accessed, "
            "temp_bytes, instructions. Default: all of them but compile (a metric a run did "
            "not measure, e.g. instructions of a timed run, is left out).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."
        ),
    ] = None,
) -> None:
    """Write stored results in another tool's format, one entry per case x strategy x metric
    (cleanly measured strategies only)."""
    import json

    from adbench.analysis.results import load_results
    from adbench.render.export import DEFAULT_METRICS, github_action_benchmark
    from adbench.store.results import ResultsError

    check_output(output, [results_dir])
    try:
        res = load_results(results_dir)
        entries = github_action_benchmark(res, metric or DEFAULT_METRICS)
    except (ResultsError, ValueError) as exc:
        fail(str(exc))
    text = json.dumps(entries, indent=2, allow_nan=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        write_output(output, text, inputs=[results_dir])


def policy(
    results_dir: Annotated[Path, typer.Argument(help="A results directory from `adbench run`.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the policy JSON here instead of stdout."
        ),
    ] = None,
) -> None:
    """The run's decisions as a small versioned JSON to commit: per family, task and device kind,
    the recommended strategy per size region. Use it with
    adbench.jacobian(f, policy="policy.json", family="name")."""
    from adbench.analysis import policy as pol
    from adbench.analysis.results import load_results
    from adbench.store.results import ResultsError

    check_output(output, [results_dir])
    try:
        res = load_results(results_dir)
        made = pol.from_tables(res.results, res.verdicts, res.meta, source=str(results_dir))
    except (ResultsError, pol.PolicyError) as exc:
        fail(str(exc))
    text = made.to_json()
    if output is None:
        sys.stdout.write(text)
        return
    write_output(output, text, inputs=[results_dir])
    regions = sum(len(e.regions) for e in made.entries)
    note(f"{output}: {plural(len(made.entries), 'entry', 'entries')}, {plural(regions, 'region')}")
