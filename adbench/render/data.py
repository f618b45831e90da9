"""A report for programs: JSON (everything) and CSV (the verdicts, each with its family's
crossover). Full precision; returns text, never writes."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from adbench.render.views import Report

# verdict CSV column -> crossover table column
CSV_CROSSOVER_COLUMNS = {
    "crossover_axis": "axis",
    "crossover_outcome": "outcome",
    "crossover": "crossover",
    "crossover_low": "crossover_low",
    "crossover_high": "crossover_high",
    "crossover_textbook": "textbook",
    "crossover_far_from_textbook": "far_from_textbook",
}
_JOIN = ["family", "host", "device"]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                v = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
            elif hasattr(v, "item"):
                v = v.item()
            clean[str(k)] = v
        out.append(clean)
    return out


def to_json(rep: Report) -> str:
    """Verdicts, ranking, crossovers, per-strategy results and the environment, one document."""
    doc = {
        "meta": rep.res.meta,
        "verdicts": _records(rep.verdicts),
        "ranking": _records(rep.ranking),
        "crossovers": _records(rep.crossovers),
        "results": _records(rep.res.results),
    }
    return json.dumps(doc, indent=2, default=str) + "\n"


def to_csv(rep: Report) -> str:
    """The verdicts table as CSV (schema.VERDICT_COLUMNS), each row followed by its family's
    crossover: CSV_CROSSOVER_COLUMNS, each the crossover table's column of (mostly) the same
    name, prefixed where it would clash; empty for families without one."""
    cross = rep.crossovers[[*_JOIN, *CSV_CROSSOVER_COLUMNS.values()]]
    cross = cross.rename(columns={v: k for k, v in CSV_CROSSOVER_COLUMNS.items()})
    verdicts = rep.verdicts.assign(_host=rep.verdicts["host"].fillna(""))
    cross = cross.assign(_host=cross["host"].fillna("")).drop(columns="host")
    table = verdicts.merge(
        cross,
        left_on=["family", "_host", "device"],
        right_on=["family", "_host", "device"],
        how="left",
    )
    return table.drop(columns="_host").to_csv(index=False, float_format="%.17g")
