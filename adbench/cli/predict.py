"""`adbench predict`: each case's fastest strategy from XLA's costs alone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from adbench.cli._common import EXIT_FAILED, Device, console, fail, note


def predict(
    config: Annotated[
        Path | None,
        typer.Argument(metavar="CONFIG", help="YAML run file. Default: configs/seed.yaml."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
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
    from adbench.config.cases import expand
    from adbench.config.model import ConfigError, default_config_path, load_config
    from adbench.session.checks import default_out
    from adbench.session.predict import predict_all
    from adbench.store import predictions as pst

    try:
        loaded = load_config(config if config is not None else default_config_path())
        cases = expand(loaded)
    except ConfigError as exc:
        fail(str(exc))
    out_dir = out if out is not None else default_out(f"{loaded.config.name}-predict", None)
    try:
        pst.check_target(out_dir, force=force)
    except pst.PredictionsError as exc:
        fail(str(exc))
    try:
        made = predict_all(loaded, cases, device.value if device else None)
    except ValueError as exc:
        fail(str(exc))
    path = pst.write(out_dir, list(made.rows), made.names, made.meta)
    if not quiet:
        console().print(_prediction_table(list(made.rows), made.names))
    note(f"predictions: {path}")
    bad = [r for r in made.rows if r["status"] != "ok"]
    if bad:
        note(f"{len(bad)} case(s) could not be fully predicted (see 'reason' in {path.name})")
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
            *(fmt_seconds(r.get(f"{n}_predicted_s", math.nan)) for n in names),
        )
    return table
