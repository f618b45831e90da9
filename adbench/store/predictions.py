"""predictions.csv and predictions.json: what ``adbench predict`` writes, and how it is read back.

A predictions file sits in a directory of its own or beside a run's results (then ``report`` can
put predicted and measured side by side). Its meta goes to ``predictions.json``, never to
``meta.json``: a run directory's meta.json stays the run's, and a directory holding only
predictions is not mistaken for a results directory (``run --resume`` would try to extend it).

Columns: PREDICTION_COLUMNS, then per strategy of the run ``<strategy>_flops``,
``<strategy>_bytes``, ``<strategy>_temp_bytes``, ``<strategy>_predicted_s`` (XLA's counts per call;
the cost model's seconds, see adbench.analysis.predict). ``predicted_ratio`` is the predicted
runner-up time / best time (>= 1); ``predicted`` is ``tie`` when it is below 1 + margin.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adbench.store import schema

if TYPE_CHECKING:
    import pandas as pd

PREDICTIONS_FILE = "predictions.csv"
PREDICTIONS_META_FILE = "predictions.json"
PREDICTIONS_VERSION = 1  # history: 1 first format

PREDICTION_COLUMNS = (
    *schema.CASE_KEY,
    "device_kind",
    "dtype",
    "candidates",  # the strategies compiled, joined by "|"
    "predicted",  # a strategy, "tie" or "none"
    "predicted_best",  # the cheapest strategy, also on a tie
    "predicted_ratio",
    "tie_set",
    "margin",
    "status",  # ok, or error (a strategy or the whole case could not be compiled)
    "reason",
)
PER_STRATEGY = ("flops", "bytes", "temp_bytes", "predicted_s")


class PredictionsError(Exception):
    """--out cannot take predictions, or a predictions file cannot be read; one line."""


def columns(strategies: Sequence[str]) -> list[str]:
    return [*PREDICTION_COLUMNS, *(f"{s}_{m}" for s in strategies for m in PER_STRATEGY)]


def check_target(directory: Path, *, force: bool) -> None:
    """Refuse a --out that predictions may not go into, before anything is compiled.

    Fine: a missing or empty directory, a run's results directory (predictions go beside them),
    or a directory with predictions when ``force``. Anything else is refused.
    """
    if directory.exists() and not directory.is_dir():
        raise PredictionsError(f"{directory}: exists and is not a directory; choose another --out")
    if not directory.is_dir():
        return
    names = {p.name for p in directory.iterdir()}
    if not names:
        return
    if PREDICTIONS_FILE in names and not force:
        raise PredictionsError(
            f"{directory}: already holds {PREDICTIONS_FILE}; add --force to replace it"
        )
    if schema.RESULTS_FILE in names or PREDICTIONS_FILE in names:
        return
    raise PredictionsError(
        f"{directory}: not empty and not an adbench results directory; choose another --out"
    )


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return " ".join(value.splitlines())
    return value


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write(
    directory: Path,
    rows: Iterable[Mapping[str, Any]],
    strategies: Sequence[str],
    meta: Mapping[str, Any],
) -> Path:
    """Write predictions.csv, then predictions.json, each atomically; returns the CSV's path."""
    cols = columns(strategies)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in cols})
    directory.mkdir(parents=True, exist_ok=True)
    _atomic(directory / PREDICTIONS_FILE, buf.getvalue())
    body = {"predictions_version": PREDICTIONS_VERSION, **meta}
    _atomic(directory / PREDICTIONS_META_FILE, json.dumps(body, indent=2, default=str) + "\n")
    return directory / PREDICTIONS_FILE


def read(directory: Path) -> pd.DataFrame | None:
    """predictions.csv of ``directory`` as a DataFrame, or None when there is none."""
    import pandas as pd

    path = directory / PREDICTIONS_FILE
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path, dtype={"case_id": str, "host": str, "device": str})
    except (OSError, ValueError) as exc:
        raise PredictionsError(f"{path}: cannot be read ({exc})") from None
    missing = [c for c in ("case_id", "device", "predicted", "predicted_ratio") if c not in table]
    if missing:
        raise PredictionsError(f"{path}: not a predictions file (no column {missing[0]!r})")
    return table
