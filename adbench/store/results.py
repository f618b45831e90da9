"""Measurements <-> files. The only module that writes into a results directory.

A run appends to ``samples.csv`` and then ``results.csv`` as each case finishes, one ``write``
per file and case, synced to disk, with Ctrl-C deferred for those few microseconds; so a killed
process keeps every completed case and at worst leaves a torn last line. Readers tolerate that:

* :func:`load_results` ignores a torn last line and the samples of a case whose results rows
  were never written, and says so in ``Results.notes``; anything else malformed is a
  :class:`ResultsError` naming the file, line and column.
* :func:`repair` (``adbench run --resume``) rewrites the files without them, and without the
  rows of a case that lacks a strategy, so the case is measured again and no row is ever doubled.

Directories written by an older schema version load through :mod:`adbench.store.migrate`
(read with the columns that version wrote, lifted to the current ones, derived tables
recomputed); they can be reported and compared, but not resumed into.

``meta.json`` is written at the start and rewritten (atomically) at the end; ``verdicts.csv`` is
written at the end, and is recomputed from the other files when absent or stale.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    samples of an unfinished case), for the reader to show; they are not errors.
    """

    path: Path
    results: pd.DataFrame
    samples: pd.DataFrame
    verdicts: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# Everything adbench itself writes into a results directory (plus ".<name>.tmp" while writing).
OWN_FILES = (
    schema.RESULTS_FILE,
    schema.SAMPLES_FILE,
    schema.VERDICTS_FILE,
    schema.CROSSOVER_FILE,
    schema.RANKING_FILE,
    schema.META_FILE,
)
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
    }
)


def safe_path(directory: Path, name: str) -> Path:
    """``directory / name`` for a file adbench writes, refusing a `name` that could leave it.

    Run and family names are restricted to ``[A-Za-z0-9][A-Za-z0-9_.-]*`` by the config, so
    this never fires for them; it is the last line of defence for any writer building a file
    name from user text.
    """
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or Path(name).is_absolute()
    ):
        raise ResultsError(f"{name!r} cannot be a file name inside {directory}")
    return directory / name


def _format(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision, round-trips exactly
    if isinstance(value, str):
        # one record per line, always: a torn line is then exactly the unterminated tail
        return " ".join(value.splitlines())
    return value


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block until the block is done.

    A store is a couple of write() calls; letting KeyboardInterrupt land between them would
    tear a line for nothing. Outside the main thread signals cannot be handled; nothing to do.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending and callable(previous):
        previous(signal.SIGINT, None)


def _is_ours(name: str) -> bool:
    return name in OWN_FILES or any(name == f".{own}.tmp" for own in OWN_FILES)


def check_out_dir(d: Path, *, resume: bool, force: bool) -> None:
    """Refuse to write into something that is not ours to overwrite.

    An empty or missing directory is fine. A non-empty one must be an adbench results
    directory (it has meta.json) and needs --resume (which also checks its schema version) or
    --force. A directory of other files is never written into, whatever the options.
    """
    if d.exists() and not d.is_dir():
        raise ResultsError(f"{d}: exists and is not a directory; choose another --out")
    if not d.is_dir():
        return
    names = [p.name for p in d.iterdir()]
    if not names:
        return
    if not (d / schema.META_FILE).is_file():
        raise ResultsError(
            f"{d}: not empty and not an adbench results directory (no {schema.META_FILE}); "
            "--resume and --force only work on one, so choose another --out"
        )
    if resume:
        version = read_meta(d).get("schema_version")
        if version != schema.SCHEMA_VERSION:
            raise ResultsError(
                f"{d}: written by an older adbench (results schema version {version}); it can "
                "be reported and compared but not resumed; choose another --out"
            )
    elif not force:
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
            for name in OWN_FILES:
                (d / name).unlink(missing_ok=True)
        d.mkdir(parents=True, exist_ok=True)

    def drop_derived(self) -> None:
        """Delete the derived tables: after a resume they would be stale until the run ends (a
        reader recomputes them when absent)."""
        for name in (schema.VERDICTS_FILE, schema.CROSSOVER_FILE, schema.RANKING_FILE):
            (self.directory / name).unlink(missing_ok=True)

    def _append(self, name: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
        path = self.directory / name
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        new = not path.exists() or path.stat().st_size == 0
        if new:
            w.writerow(columns)
        for row in rows:
            w.writerow([_format(row.get(c)) for c in columns])
        data = memoryview(buf.getvalue().encode("utf-8"))
        # one O_APPEND write for the whole case: a kill lands before or after it, not inside
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_dir(self.directory)

    def append_case(
        self, result_rows: Sequence[Mapping[str, Any]], sample_rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Store one finished case: samples first, so a results row never lacks its samples
        (samples without results rows are an unfinished case; readers drop them)."""
        with _interrupts_deferred():
            self._append(schema.SAMPLES_FILE, schema.SAMPLE_COLUMNS, sample_rows)
            self._append(schema.RESULTS_FILE, schema.RESULT_COLUMNS, result_rows)

    def write_verdicts(self, verdicts: pd.DataFrame) -> None:
        self._write_table(schema.VERDICTS_FILE, schema.VERDICT_COLUMNS, verdicts)

    def write_crossovers(self, crossovers: pd.DataFrame) -> None:
        self._write_table(schema.CROSSOVER_FILE, schema.CROSSOVER_COLUMNS, crossovers)

    def write_ranking(self, ranking: pd.DataFrame) -> None:
        self._write_table(schema.RANKING_FILE, schema.RANKING_COLUMNS, ranking)

    def _write_table(self, name: str, columns: Sequence[str], df: pd.DataFrame) -> None:
        """A derived table, replaced whole and atomically."""
        out = df.reindex(columns=list(columns))
        _atomic_write_text(
            self.directory / name,
            out.to_csv(index=False, float_format="%.17g", lineterminator="\n"),
        )

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
    if version not in schema.READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in schema.READABLE_VERSIONS)
        raise ResultsError(
            f"{path}: results schema version {version!r}; this adbench reads versions {readable}"
        )
    return meta


# --------------------------------------------------------------------------- reading CSV


@dataclass
class _Table:
    """A CSV file split into records, before any typing."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]  # file line of each row, for messages
    torn: bool  # the file ended inside a record (killed mid-write); that record is dropped


def _split(path: Path) -> _Table:
    """Records of a CSV file adbench wrote. Raises ResultsError for anything but a torn tail."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    torn = bool(data) and not data.endswith(b"\n")
    if torn:
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
    return _Table(path, header, rows, lines, torn)


def _typed(table: _Table, columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame of `table`; every column of `columns` present, numbers checked."""
    missing = [c for c in columns if c not in table.header]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 5 else ""
        names = ", ".join(missing[:4] if more else missing)
        raise ResultsError(f"{table.path}: missing columns {names}{more}")
    df = pd.DataFrame(table.rows, columns=table.header, dtype=object)
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


def _read_table(path: Path, columns: Sequence[str], *, required: bool) -> tuple[pd.DataFrame, bool]:
    """(table, torn) of one CSV file; an absent optional file is an empty table."""
    if not path.is_file() or path.stat().st_size == 0:
        if required:
            raise ResultsError(
                f"{path}: missing or empty; the run stored no case (interrupted before the "
                "first case finished?)"
            )
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), False
    table = _split(path)
    if not table.header:
        raise ResultsError(f"{path}: no header line")
    return _typed(table, columns), table.torn


def _keys(df: pd.DataFrame) -> pd.Series:
    """One string per measured case x device (schema.CASE_GROUP)."""
    key = df[schema.CASE_GROUP[0]].astype(str)
    for col in schema.CASE_GROUP[1:]:
        key = key + "\0" + df[col].fillna("").astype(str)
    return key


def load_results(directory: str | os.PathLike[str], *, with_verdicts: bool = True) -> Results:
    """Load a results directory into DataFrames (results, samples, verdicts) and its meta dict.

    A directory left by an interrupted run loads: a torn last line and the samples of a case
    that never got its results rows are left out (see ``Results.notes``), and verdicts are
    recomputed from the stored samples when ``verdicts.csv`` is absent or does not cover
    exactly the stored cases. Anything else amiss raises :class:`ResultsError`.
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
    results, torn = _read_table(d / schema.RESULTS_FILE, result_columns, required=True)
    if torn:
        notes.append(
            f"{schema.RESULTS_FILE}: ignored an incomplete last line (the run was killed while "
            "writing it); `adbench run --resume` measures that case again"
        )
    if results.empty:
        raise ResultsError(f"{d / schema.RESULTS_FILE}: holds no case yet")
    samples, torn = _read_table(d / schema.SAMPLES_FILE, sample_columns, required=False)
    if torn:
        notes.append(f"{schema.SAMPLES_FILE}: ignored an incomplete last line")
    results, samples = migrate.upgrade(version, results, samples, meta)
    if len(samples):
        orphan = ~_keys(samples).isin(set(_keys(results)))
        if orphan.any():
            notes.append(
                f"{schema.SAMPLES_FILE}: ignored {int(orphan.sum())} samples of a case whose "
                "results were never written (interrupted)"
            )
            samples = samples[~orphan].reset_index(drop=True)
    verdicts_path = d / schema.VERDICTS_FILE
    verdicts = None
    if verdicts_path.is_file():
        verdict_columns = migrate.VERDICT_COLUMNS_BY_VERSION.get(version, schema.VERDICT_COLUMNS)
        verdicts, _ = _read_table(verdicts_path, verdict_columns, required=True)
        verdicts = migrate.upgrade_verdicts(version, verdicts, meta)
        if set(_keys(verdicts)) != set(_keys(results)):
            verdicts = None  # stale: written before a resume added cases
    if verdicts is None and with_verdicts:
        from adbench.analysis.verdict import verdicts_for

        margin = float(meta.get("settings", {}).get("tie_margin", 0.1))
        verdicts = verdicts_for(results, samples, margin=margin)
    elif verdicts is None:
        verdicts = pd.DataFrame(columns=list(schema.VERDICT_COLUMNS))
    return Results(
        path=d, results=results, samples=samples, verdicts=verdicts, meta=meta, notes=notes
    )


# --------------------------------------------------------------------------- resume


# What a complete case holds: the same strategies for every case, or family -> its strategies.
Expected = Mapping[str, Collection[str]] | Collection[str]


def _wanted(expected: Expected, family: str) -> Collection[str] | None:
    """The strategies a case of `family` must have rows for; None for a family the current run
    file does not list (its stored rows are kept as they are: nothing would measure it again)."""
    if isinstance(expected, Mapping):
        return expected.get(family)
    return expected


def _complete(table: _Table, expected: Expected) -> set[tuple[str, str]]:
    """(case_id, device) keys of `table` (results.csv) with a row for every expected strategy."""
    i_case, i_dev, i_strategy, i_family = (
        table.header.index(c) for c in ("case_id", "device", "strategy", "family")
    )
    seen: dict[tuple[str, str], set[str]] = {}
    family: dict[tuple[str, str], str] = {}
    for rec in table.rows:
        key = (rec[i_case], rec[i_dev])
        seen.setdefault(key, set()).add(rec[i_strategy])
        family[key] = rec[i_family]
    done = set()
    for key, have in seen.items():
        want = _wanted(expected, family[key])
        if want is None or set(want) <= have:
            done.add(key)
    return done


def completed_keys(directory: Path, expected: Expected = schema.MODES) -> set[tuple[str, str]]:
    """(case_id, device) pairs stored with a row for every expected strategy, for --resume.

    `expected`: the strategies of every case, or family -> its strategies (they vary per
    family: a Hessian family and a Jacobian family plan different ones). A case measured on
    any host counts (an engine spreads cases over machines).
    """
    path = directory / schema.RESULTS_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    return _complete(_split(path), expected)


def _write_records(table: _Table, keep: list[bool]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.header)
    w.writerows(rec for rec, k in zip(table.rows, keep, strict=True) if k)
    _atomic_write_text(table.path, buf.getvalue())


def repair(directory: Path, expected: Expected) -> list[str]:
    """Make an interrupted results directory safe to append to; return what was dropped.

    Drops a torn last line of results.csv / samples.csv, the rows of a case that lacks one of
    its `expected` strategies (see completed_keys; it is measured again), and samples of cases
    without complete results rows. Files
    are rewritten atomically, only when something is dropped. A file whose columns are not
    exactly the ones this adbench writes cannot be appended to: ResultsError.
    """
    notes: list[str] = []
    res_path = directory / schema.RESULTS_FILE
    smp_path = directory / schema.SAMPLES_FILE
    done: set[tuple[str, str]] = set()
    for path, columns in (
        (res_path, schema.RESULT_COLUMNS),
        (smp_path, schema.SAMPLE_COLUMNS),
    ):
        if not path.is_file() or path.stat().st_size == 0:
            continue
        table = _split(path)
        if table.header != list(columns):
            raise ResultsError(
                f"{path}: its columns differ from the ones this adbench writes, so it cannot "
                "be resumed; use --force to start over, or another --out"
            )
        if path == res_path:
            done = _complete(table, expected)
        i_case, i_dev = table.header.index("case_id"), table.header.index("device")
        keep = [(rec[i_case], rec[i_dev]) in done for rec in table.rows]
        dropped = keep.count(False)
        if table.torn:
            notes.append(f"{path.name}: dropped an incomplete last line (killed mid-write)")
        if dropped:
            cases = len(
                {(r[i_case], r[i_dev]) for r, k in zip(table.rows, keep, strict=True) if not k}
            )
            what = "rows" if path == res_path else "sample rows"
            notes.append(
                f"{path.name}: dropped {dropped} {what} of {cases} unfinished case(s); "
                "they are measured again"
            )
        if table.torn or dropped:
            _write_records(table, keep)
    return notes


def count_stored(directory: Path, expected: Expected = schema.MODES) -> int:
    """How many (case, device) are stored complete; 0 when nothing can be read."""
    try:
        return len(completed_keys(directory, expected))
    except (ResultsError, OSError, ValueError):
        return 0
