"""`adbench compare`: judge a run against a baseline run (adbench.compare)."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from adbench.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    check_output,
    console,
    fail,
    note,
    plain_text,
    write_output,
)


class CompareFormat(str, Enum):
    table = "table"
    md = "md"
    json = "json"


class CompareTier(str, Enum):
    all = "all"
    deterministic = "deterministic"
    instructions = "instructions"


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
            metavar="METRIC:N%",
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
            metavar="SECONDS",
            min=0.0,
            help="Seconds. Strategies faster than this in the baseline are judged by the "
            "deterministic tier only.",
        ),
    ] = 100e-6,
    format: Annotated[
        CompareFormat, typer.Option("--format", "-f", help="table (terminal), md or json.")
    ] = CompareFormat.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."
        ),
    ] = None,
) -> None:
    """Judge CURRENT against BASELINE per case x strategy: regressions, verdict flips (the
    recommended strategy changed decisively), improvements, new and missing cases, all listed
    together. Exit 0: no regression; 1: a regression or a verdict flip; 2: bad
    input. With $GITHUB_STEP_SUMMARY set, the Markdown report is appended to it."""
    from adbench.compare import gate
    from adbench.compare import model as cm
    from adbench.store.results import ResultsError

    check_output(output, [baseline, current])
    try:
        thresholds = cm.parse_thresholds(threshold or [])
    except cm.ThresholdError as exc:
        fail(str(exc))
    try:
        base, cur = gate.load_runs(baseline), gate.load_runs(current)
    except ResultsError as exc:
        fail(str(exc))
    for res in (*base, *cur):
        for line in res.notes:
            note(f"note: {res.path}: {line}")
    settings = cm.Settings(
        thresholds=thresholds, scope=cm.Scope(tier.value), min_time_s=min_time, strict=strict
    )
    result = gate.compare(base, cur, settings)
    if not result.checked.get("cases") and not strict:
        note(
            "warning: the two runs have no case in common: nothing was compared "
            "(--strict fails such a comparison)"
        )
    _emit(result, format, output, [baseline, current])
    if _same_directory(baseline, current):  # said last: a bad --output is the one error
        note(
            f"warning: {baseline} and {current} are the same directory: every case is compared "
            "with itself, so nothing can regress"
        )
    raise typer.Exit(EXIT_FAILED if result.failed else EXIT_OK)


def _same_directory(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _emit(result: Any, format: CompareFormat, output: Path | None, inputs: list[Path]) -> None:
    """The report on stdout or in `output`; with $GITHUB_STEP_SUMMARY, its Markdown there too."""
    from adbench.compare import render as cr

    if format is CompareFormat.table:
        if output is None:
            console().print(cr.table(result))
        else:
            write_output(output, plain_text(cr.table(result)), inputs=inputs)
    else:
        text = cr.to_markdown(result) if format is CompareFormat.md else cr.to_json(result)
        if output is None:
            sys.stdout.write(text)
        else:
            write_output(output, text, inputs=inputs)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(cr.to_markdown(result) + "\n")
