"""Measurements <-> files. The only module that writes into a results directory.

A run appends to ``results.csv`` and ``samples.csv`` as each case finishes, flushing and syncing
the files, so a killed process keeps every completed case. ``meta.json`` is written at the start
and rewritten (atomically) at the end; ``verdicts.csv`` is written at the end, and can always be
recomputed from the other files.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adbench import schema


class ResultsError(Exception):
    """A results directory is missing, partial, corrupted or of an incompatible schema."""


@dataclass
class Results:
    """One results directory, loaded. Tables have the columns listed in :mod:`adbench.schema`."""

    path: Path
    results: pd.DataFrame
    samples: pd.DataFrame
    verdicts: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


def _format(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision, round-trips exactly
    return value


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check_out_dir(d: Path, *, resume: bool, force: bool) -> None:
    """Refuse to write into something that is not ours to overwrite."""
    if d.exists() and not d.is_dir():
        raise ResultsError(f"{d}: exists and is not a directory")
    if d.is_dir() and any(d.iterdir()) and not (resume or force):
        raise ResultsError(
            f"{d}: results already exist; use --resume to measure only the missing cases, "
            "--force to replace them, or choose another --out"
        )


class ResultsWriter:
    """Appends rows to a results directory, durably, one case at a time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def create(self, *, resume: bool = False, force: bool = False) -> None:
        """Make the directory. An existing non-empty one is refused unless resuming or forced."""
        d = self.directory
        check_out_dir(d, resume=resume, force=force)
        if force and d.is_dir():
            for name in (
                schema.RESULTS_FILE,
                schema.SAMPLES_FILE,
                schema.VERDICTS_FILE,
                schema.META_FILE,
            ):
                (d / name).unlink(missing_ok=True)
        d.mkdir(parents=True, exist_ok=True)

    def _append(self, name: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
        path = self.directory / name
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(columns)
            for row in rows:
                w.writerow([_format(row.get(c)) for c in columns])
            fh.flush()
            os.fsync(fh.fileno())

    def append_case(
        self, result_rows: Sequence[Mapping[str, Any]], sample_rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Store one finished case: samples first, so a results row never lacks its samples."""
        self._append(schema.SAMPLES_FILE, schema.SAMPLE_COLUMNS, sample_rows)
        self._append(schema.RESULTS_FILE, schema.RESULT_COLUMNS, result_rows)

    def write_verdicts(self, verdicts: pd.DataFrame) -> None:
        out = verdicts.reindex(columns=list(schema.VERDICT_COLUMNS))
        tmp = self.directory / f".{schema.VERDICTS_FILE}.tmp"
        out.to_csv(tmp, index=False, float_format="%.17g")
        os.replace(tmp, self.directory / schema.VERDICTS_FILE)

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        _atomic_write_text(
            self.directory / schema.META_FILE, json.dumps(meta, indent=2, default=str) + "\n"
        )


def read_meta(directory: Path) -> dict[str, Any]:
    path = directory / schema.META_FILE
    if not path.is_file():
        raise ResultsError(
            f"{path}: missing; is {directory} a results directory from `adbench run`?"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    version = meta.get("schema_version")
    if version != schema.SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: results schema version {version!r}; this adbench reads version "
            f"{schema.SCHEMA_VERSION}"
        )
    return meta


def _read_table(path: Path, columns: Sequence[str], *, required: bool) -> pd.DataFrame:
    if not path.is_file() or path.stat().st_size == 0:
        if required:
            raise ResultsError(f"{path}: missing or empty")
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot be parsed as CSV ({exc})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ResultsError(f"{path}: missing columns {', '.join(missing)}")
    return df


def load_results(directory: str | os.PathLike[str], *, with_verdicts: bool = True) -> Results:
    """Load a results directory into DataFrames (results, samples, verdicts) and its meta dict.

    Verdicts are recomputed from the stored samples when ``verdicts.csv`` is absent (a run that
    was interrupted), so a partial run can still be reported.
    """
    d = Path(directory)
    if not d.exists():
        raise ResultsError(f"{d}: no such results directory")
    if not d.is_dir():
        raise ResultsError(f"{d}: not a directory")
    meta = read_meta(d)
    results = _read_table(d / schema.RESULTS_FILE, schema.RESULT_COLUMNS, required=True)
    samples = _read_table(d / schema.SAMPLES_FILE, schema.SAMPLE_COLUMNS, required=False)
    verdicts_path = d / schema.VERDICTS_FILE
    if verdicts_path.is_file():
        verdicts = _read_table(verdicts_path, schema.VERDICT_COLUMNS, required=True)
    elif with_verdicts:
        from adbench.verdict import verdicts_for

        margin = float(meta.get("settings", {}).get("tie_margin", 0.1))
        verdicts = verdicts_for(results, samples, margin=margin)
    else:
        verdicts = pd.DataFrame(columns=list(schema.VERDICT_COLUMNS))
    return Results(path=d, results=results, samples=samples, verdicts=verdicts, meta=meta)


def completed_keys(directory: Path) -> set[tuple[str, str]]:
    """(case_id, device) pairs already stored, for --resume."""
    path = directory / schema.RESULTS_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    df = _read_table(path, schema.RESULT_COLUMNS, required=True)
    return {(str(c), str(dev)) for c, dev in zip(df["case_id"], df["device"], strict=True)}
