"""Commands about run files: validate, schema, init."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from adbench.cli._common import PLAIN, console, fail


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
    console().print(f"{config}: valid; {families} families, {len(cases)} cases", **PLAIN)


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
    console().print(
        f"wrote {', '.join(str(p) for p in files)}. Next: adbench run {run_file} --dry-run, "
        f"then adbench run {run_file}",
        **PLAIN,
    )
