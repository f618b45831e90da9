"""`adbench merge`: join results directories of one config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adbench.cli._common import fail, note, plural


def merge(
    dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="DIR", help="Results directories of one config: shards, machines, or both."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="The merged results directory.")
    ],
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
    for line in merged.notes:
        note(f"note: {line}")
    hosts = ", ".join(h or "?" for h in merged.hosts)
    note(
        f"merged {plural(len(merged.sources), 'directory', 'directories')}: {merged.cases} case x "
        f"device(s) from {plural(len(merged.hosts), 'host')} ({hosts}) into {merged.out}"
    )
