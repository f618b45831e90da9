"""Files -> tables. Reads a results directory; never writes one.

A run appends to ``samples.csv`` and then ``results.csv`` as each case finishes (see
:mod:`adbench.store.writer`), so a killed run leaves at worst a torn last line. The reader
tolerates exactly what a crash or a concurrent writer can leave, and says so in
``Results.notes``:

* a torn last line, with the whole rows written with it (half a case is dropped as a whole:
  :func:`torn_case`), and the samples of a case whose results rows were never written;
* a case stored twice (the same ``schema.ROW_KEY``). adbench locks a results directory for a
  run, so a duplicate means a bug or a copy made by hand: the first copy is kept, with a
  warning naming how many rows were dropped; ``adbench run --resume`` removes the copies.

Anything else malformed is a :class:`ResultsError` naming the file, line and column.

Derived tables (verdicts, crossover, ranking) follow one staleness rule, :func:`derived_fresh`:
a stored one is used only when ``meta.json`` records that it was derived from exactly the
bytes of ``results.csv`` and ``samples.csv`` now on disk. The store never computes one (it does
not know the analysis): stale or missing verdicts load as an empty table with
``Results.verdicts_stored`` False, and the caller recomputes them, as
:func:`adbench.analysis.results.load_results` does (and ``views.build`` the ranking and
crossovers).

Longer than ~400 lines on purpose: every tolerance above (torn lines, half cases, duplicates, orphan
samples) is a decision about the same rows as they are parsed, and each needs the file, line and
column of the parse; split apart they would re-read the files or pass parser state between modules.
Recomputing derived tables is not here (adbench.analysis.results).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from adbench.store import migrate, schema


class ResultsError(Exception):
    """A results directory is missing, partial, corrupted or of an incompatible schema."""


@dataclass
class Results:
    """One results directory, loaded. Tables have the columns listed in :mod:`adbench.schema`.

    ``notes`` are one-line remarks on what was tolerated while loading (a torn last line, the
    samples of an unfinished case, a duplicated case), for the reader to show; they are not
    errors. ``data_stamp`` identifies the bytes of results.csv and samples.csv that were read
    (see :func:`data_stamp`): derived tables are trusted only when stamped with it.
    ``verdicts_stored``: the verdicts are the stored verdicts.csv, fresh and covering every
    case; False when they had to be left empty here (recompute them:
    :func:`adbench.analysis.results.load_results`) or were recomputed by that function.
    """

    path: Path
    results: pd.DataFrame
    samples: pd.DataFrame
    verdicts: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data_stamp: str = ""
    verdicts_stored: bool = True


# Columns that hold text; every other column of the three tables is a number (NaN allowed).
TEXT_COLUMNS = frozenset(
    {
        "case_id",
        "family",
        "task",
        "host",
        "device",
        "mode",  # version 1
        "strategy",
        "source",
        "device_kind",
        "platform",
        "dtype",
        "jit",
        "status",
        "reason",
        "sparse_mode",
        "recommended",
        "tie_set",
        "runner_up",
        "fastest_unfit",
        "fwd_rev",
        "textbook",
        "agrees_with_textbook",
        *schema.STRUCTURE_TEXT_COLUMNS,  # version 3: sizes, trees and argnums, as written
    }
)
# Columns whose every value must be a positive, finite number of seconds (a sample is a duration).
POSITIVE_COLUMNS = {schema.SAMPLES_FILE: ("seconds", "n_inner")}


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
    if version not in schema.READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in schema.READABLE_VERSIONS)
        raise ResultsError(
            f"{path}: results schema version {version!r}; this adbench reads versions {readable}"
        )
    return meta


# --------------------------------------------------------------------------- stamps


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes; of no bytes when it is absent."""
    try:
        return _digest(path.read_bytes())
    except FileNotFoundError:
        return _digest(b"")


def combine_stamp(results_digest: str, samples_digest: str) -> str:
    """The stamp of one state of the measured data: both files' digests, combined."""
    return _digest(f"{results_digest}:{samples_digest}".encode())[:16]


def data_stamp(directory: Path) -> str:
    """The stamp of results.csv + samples.csv as they are on disk now."""
    return combine_stamp(
        file_digest(directory / schema.RESULTS_FILE), file_digest(directory / schema.SAMPLES_FILE)
    )


def derived_fresh(directory: Path, name: str, meta: dict[str, Any], stamp: str) -> bool:
    """Whether the derived table `name` (verdicts.csv, crossover.csv, ranking.csv) in
    `directory` was computed from the data whose stamp is `stamp`. The one staleness rule.

    The writer records ``meta["derived"][name]`` = the data stamp when it writes a derived
    table (:class:`adbench.store.writer.ResultsWriter`). A directory written before stamps
    existed (no ``derived`` key) falls back to the file being no older than results.csv and
    samples.csv. Callers also check that the table covers exactly the stored cases.
    """
    path = directory / name
    if not path.is_file() or path.stat().st_size == 0:
        return False
    derived = meta.get("derived")
    if isinstance(derived, dict):
        return derived.get(name) == stamp
    inputs = [directory / schema.RESULTS_FILE, directory / schema.SAMPLES_FILE]
    newest = max((p.stat().st_mtime for p in inputs if p.is_file()), default=0.0)
    return path.stat().st_mtime >= newest


def _coverage_keys(name: str) -> tuple[str, ...]:
    return ("family", "device") if name == schema.CROSSOVER_FILE else schema.CASE_GROUP


def covers(derived: pd.DataFrame, results: pd.DataFrame, name: str) -> bool:
    """Whether a derived table has rows for exactly the cases (crossover: families x devices)
    of `results`."""
    cols = _coverage_keys(name)
    if any(c not in derived.columns for c in cols):
        return False
    return set(_keys(derived, cols)) == set(_keys(results, cols))


def stored_derived(res: Results, name: str, columns: Sequence[str]) -> pd.DataFrame | None:
    """The derived table `name` stored with `res` when it is fresh (:func:`derived_fresh`),
    has every one of `columns` and covers exactly the stored cases; else None: recompute it.

    Read as pandas reads it with ``keep_default_na=False, na_values=[""]`` (an empty cell is
    NaN; the token ``n/a`` stays text).
    """
    if not derived_fresh(res.path, name, res.meta, res.data_stamp):
        return None
    try:
        df = pd.read_csv(res.path / name, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if any(c not in df.columns for c in columns) or not covers(df, res.results, name):
        return None
    return df


# --------------------------------------------------------------------------- reading CSV


@dataclass
class Table:
    """A CSV file split into records, before any typing."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # file line of each row, for messages
    torn: bool  # the file ended inside a record (killed mid-write); that record is dropped
    digest: str = ""  # sha256 of the file's bytes as read (torn tail included)
    # schema.CASE_GROUP values of the case the torn record belonged to, when complete rows of it
    # precede the tear (see torn_case): half a case, to be dropped as a whole
    torn_key: tuple[str, ...] | None = None

    def key_indices(self) -> list[int] | None:
        """Positions of the schema.CASE_GROUP columns; None for a table without them."""
        if not all(c in self.header for c in schema.CASE_GROUP):
            return None
        return [self.header.index(c) for c in schema.CASE_GROUP]

    def torn_rows(self) -> list[bool]:
        """Per row: whether it was written with the torn last record (the same write, so the
        same case): the rows of `torn_key` at the end of the file, back to the start of that
        write (a strategy, or a strategy's round, seen twice starts an earlier write)."""
        out = [False] * len(self.rows)
        idx = self.key_indices()
        if self.torn_key is None or idx is None:
            return out
        member = [self.header.index(c) for c in ("strategy", "round") if c in self.header]
        seen: set[tuple[str, ...]] = set()
        for i in range(len(self.rows) - 1, -1, -1):
            rec = self.rows[i]
            m = tuple(rec[j] for j in member)
            if tuple(rec[j] for j in idx) != self.torn_key or m in seen:
                break
            seen.add(m)
            out[i] = True
        return out


def torn_case(
    header: Sequence[str], rows: Sequence[Sequence[str]], fragment: str
) -> tuple[str, ...] | None:
    """The case (schema.CASE_GROUP values) that a torn last record was part of, when complete
    rows of it come just before the tear; None when the tear began a new case.

    The writer stores a case with one ``write`` (:meth:`adbench.store.writer.ResultsWriter.
    _append`), so a tear can only cut the last case written: its first rows may be whole and the
    rest missing (jacfwd's row written, jacrev's cut). The fragment's leading fields are compared
    with the last whole row's: when every field the fragment holds agrees (its last, cut field a
    prefix), the fragment is a row of that case. A fragment too short to tell (a few bytes) is
    taken as the same case: at worst one whole case is dropped and measured again on resume,
    never half of one shown as if it were all.
    """
    if not rows or not all(c in header for c in schema.CASE_GROUP):
        return None
    try:
        fields = next(csv.reader([fragment]), [])
    except csv.Error:
        fields = []
    last = rows[-1]
    n_key = max(header.index(c) for c in schema.CASE_GROUP) + 1
    whole, cut = fields[:-1], fields[-1] if fields else ""  # only the last field can be cut
    same = all(f == v for f, v in zip(whole[:n_key], last, strict=False)) and (
        len(whole) >= n_key or last[len(whole)].startswith(cut)
    )
    if not same:
        return None
    return tuple(last[header.index(c)] for c in schema.CASE_GROUP)


def split(path: Path) -> Table:
    """Records of a CSV file adbench wrote. Raises ResultsError for anything but a torn tail."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    digest = _digest(data)
    torn = bool(data) and not data.endswith(b"\n")
    fragment = b""
    if torn:
        fragment = data[data.rfind(b"\n") + 1 :]
        data = data[: data.rfind(b"\n") + 1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, [])
        rows, lines = [], []
        for rec in reader:
            if rec:
                rows.append(rec)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise ResultsError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    for rec, line in zip(rows, lines, strict=True):
        if len(rec) != len(header):
            raise ResultsError(
                f"{path}:{line}: {len(rec)} fields where the header has {len(header)}; "
                "the file is corrupted"
            )
    key = torn_case(header, rows, fragment.decode("utf-8", "replace")) if torn else None
    return Table(path, header, rows, lines, torn, digest, key)


def _typed(table: Table, columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of `table`; every column of `columns` present, numbers checked."""
    missing = [c for c in columns if c not in table.header]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 5 else ""
        names = ", ".join(missing[:4] if more else missing)
        raise ResultsError(f"{table.path}: missing columns {names}{more}")
    df = pd.DataFrame(table.rows, columns=table.header, dtype=object)
    positive = POSITIVE_COLUMNS.get(table.path.name, ())
    for col in df.columns:
        raw = df[col].where(df[col] != "", math.nan)  # empty cell: NaN, as pandas reads it
        if col in TEXT_COLUMNS or col not in columns:
            df[col] = raw
            continue
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise ResultsError(
                f"{table.path}:{table.lines[i]}: column {col}: {raw.iloc[i]!r} is not a number"
            )
        if col in positive:
            # a duration of zero or less, or none, cannot come from a clock: damaged by hand
            bad = ~(num > 0) | (num == math.inf)
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                got = "empty" if pd.isna(raw.iloc[i]) else repr(raw.iloc[i])
                raise ResultsError(
                    f"{table.path}:{table.lines[i]}: column {col}: {got} is not a positive "
                    "finite number"
                )
        df[col] = num
    checks = (
        ("status", schema.STATUSES),
        ("strategy", schema.ALL_STRATEGIES),
        ("task", schema.TASKS),
        ("mode", schema.MODES),  # version 1
    )
    for col, valid in checks:
        if col in df.columns:
            bad = ~df[col].isin(valid)
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise ResultsError(
                    f"{table.path}:{table.lines[i]}: column {col}: {df[col].iloc[i]!r} is not "
                    f"one of {', '.join(valid)}"
                )
    for col in ("d_in", "d_out", "batch", "n_inner", "n_samples", "round", "position", "outliers"):
        if col in df.columns and df[col].notna().all():
            df[col] = df[col].astype("int64")
    if "jit" in df.columns:
        df["jit"] = df["jit"].map(lambda v: {"True": True, "False": False}.get(v, v))
    return df


def _read_table(
    path: Path, columns: Sequence[str], *, required: bool
) -> tuple[pd.DataFrame, Table | None]:
    """(table, its raw records) of one CSV file; an absent optional file is an empty table."""
    if not path.is_file() or path.stat().st_size == 0:
        if required:
            raise ResultsError(
                f"{path}: missing or empty; the run stored no case (interrupted before the "
                "first case finished?)"
            )
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), None
    table = split(path)
    if not table.header:
        raise ResultsError(f"{path}: no header line")
    if table.torn_key is not None:  # half a case: drop the whole rows of it too
        torn = table.torn_rows()
        keep = [not t for t in torn]
        table = replace(
            table,
            rows=[r for r, k in zip(table.rows, keep, strict=True) if k],
            lines=[n for n, k in zip(table.lines, keep, strict=True) if k],
        )
    return _typed(table, columns), table


def _keys(df: pd.DataFrame, cols: Sequence[str] = schema.CASE_GROUP) -> pd.Series:
    """One string per row of the key columns `cols` (default: one measured case x device)."""
    key = df[cols[0]].fillna("").astype(str)
    for col in cols[1:]:
        key = key + "\0" + df[col].fillna("").astype(str)
    return key


# --------------------------------------------------------------------------- duplicates


def first_blocks(groups: Sequence[Any], members: Sequence[Any]) -> list[bool]:
    """Which rows of a samples file belong to the first write of their case.

    groups[i]: the case (schema.CASE_GROUP) of row i; members[i]: its (strategy, round).
    One case is stored by one write, so its samples are contiguous and each (strategy, round)
    appears once in them; a repeat, or the same case again after another, starts a new write.
    Only the rows of each case's first write are kept (True), matching the results rows the
    reader keeps (the first of each ROW_KEY).
    """
    keep: list[bool] = []
    ended: set[Any] = set()
    current: Any = None
    seen: set[Any] = set()
    for g, m in zip(groups, members, strict=True):
        if g != current or m in seen:
            if current is not None:
                ended.add(current)
            current, seen = g, set()
        seen.add(m)
        keep.append(g not in ended)
    return keep


def _dedupe(
    results: pd.DataFrame, samples: pd.DataFrame, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep one copy of a case stored twice, and say so loudly (see the module docstring)."""
    dup = results.duplicated(list(schema.ROW_KEY), keep="first")
    sample_key = [*schema.CASE_GROUP, "strategy", "round"]
    if not dup.any() and not (len(samples) and samples.duplicated(sample_key).any()):
        return results, samples
    if dup.any():
        cases = _keys(results[dup]).nunique()
        notes.append(
            f"WARNING {schema.RESULTS_FILE}: {int(dup.sum())} rows store {cases} case(s) a "
            "second time (the same case, host, device and strategy); two runs wrote into this "
            "directory at once, or a bug: the first copy of each is used; "
            "`adbench run CONFIG --out DIR --resume` removes the copies"
        )
        results = results[~dup].reset_index(drop=True)
    if len(samples):
        groups = list(_keys(samples))
        members = list(zip(samples["strategy"].astype(str), samples["round"], strict=True))
        keep = pd.Series(first_blocks(groups, members), index=samples.index)
        if not keep.all():
            notes.append(
                f"WARNING {schema.SAMPLES_FILE}: ignored {int((~keep).sum())} samples of a case "
                "stored a second time"
            )
            samples = samples[keep].reset_index(drop=True)
    return results, samples


# --------------------------------------------------------------------------- loading


def load_results(directory: str | os.PathLike[str], *, with_verdicts: bool = True) -> Results:
    """Load a results directory into DataFrames (results, samples, verdicts) and its meta dict.

    A directory left by an interrupted run loads: a torn last line (with the rest of its half-
    written case) and the samples of a case that never got its results rows are left out, and a
    case stored twice is kept once (see ``Results.notes``). Verdicts are read from
    ``verdicts.csv`` when it is fresh and covers exactly the stored cases; otherwise they are an
    empty table and ``verdicts_stored`` is False: :func:`adbench.analysis.results.load_results`
    recomputes them. ``with_verdicts=False`` does not read verdicts.csv at all. Anything else
    amiss raises :class:`ResultsError`.
    """
    d = Path(directory)
    if not d.exists():
        raise ResultsError(f"{d}: no such results directory")
    if not d.is_dir():
        raise ResultsError(f"{d}: not a directory")
    meta = read_meta(d)
    version = int(meta["schema_version"])
    result_columns, sample_columns = migrate.COLUMNS_BY_VERSION.get(
        version, (schema.RESULT_COLUMNS, schema.SAMPLE_COLUMNS)
    )
    notes: list[str] = []
    results, res_table = _read_table(d / schema.RESULTS_FILE, result_columns, required=True)
    if res_table is not None and res_table.torn:
        half = ""
        if res_table.torn_key is not None:
            case, _, device = res_table.torn_key
            half = f" and the other rows of its case {case} on {device}, half-written"
        notes.append(
            f"{schema.RESULTS_FILE}: ignored an incomplete last line{half} (the run was killed "
            "while writing it); `adbench run --resume` measures that case again"
        )
    if results.empty:
        raise ResultsError(f"{d / schema.RESULTS_FILE}: holds no case yet")
    samples, smp_table = _read_table(d / schema.SAMPLES_FILE, sample_columns, required=False)
    if smp_table is not None and smp_table.torn:
        notes.append(f"{schema.SAMPLES_FILE}: ignored an incomplete last line")
    stamp = combine_stamp(
        res_table.digest if res_table else _digest(b""),
        smp_table.digest if smp_table else _digest(b""),
    )
    results, samples = migrate.upgrade(version, results, samples, meta)
    if len(samples):
        orphan = ~_keys(samples).isin(set(_keys(results)))
        if orphan.any():
            notes.append(
                f"{schema.SAMPLES_FILE}: ignored {int(orphan.sum())} samples of a case whose "
                "results were never written (interrupted)"
            )
            samples = samples[~orphan].reset_index(drop=True)
    results, samples = _dedupe(results, samples, notes)
    verdicts = None
    if with_verdicts and derived_fresh(d, schema.VERDICTS_FILE, meta, stamp):
        verdict_columns = migrate.VERDICT_COLUMNS_BY_VERSION.get(version, schema.VERDICT_COLUMNS)
        verdicts, _ = _read_table(d / schema.VERDICTS_FILE, verdict_columns, required=True)
        verdicts = migrate.upgrade_verdicts(version, verdicts, meta)
        if not covers(verdicts, results, schema.VERDICTS_FILE):
            verdicts = None  # e.g. written before a resume added cases
    return Results(
        path=d,
        results=results,
        samples=samples,
        verdicts=verdicts if verdicts is not None else empty_verdicts(),
        meta=meta,
        notes=notes,
        data_stamp=stamp,
        verdicts_stored=verdicts is not None,
    )


def empty_verdicts() -> pd.DataFrame:
    """A verdicts table with no row: what the store holds when verdicts must be recomputed."""
    return pd.DataFrame(columns=list(schema.VERDICT_COLUMNS))
