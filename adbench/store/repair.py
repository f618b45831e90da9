"""Make an interrupted (or doubly written) results directory safe to append to: ``--resume``.

A killed run leaves at worst a torn last line, the samples of a case whose results rows never
landed, or a case with a row for only some of its strategies; before the results directory
was locked, two runs at once could also store a case twice. :func:`repair` rewrites the files
without all of that, so the missing cases are measured again and no row is ever doubled.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping
from pathlib import Path

from adbench.store import schema
from adbench.store.reader import ResultsError, Table, first_blocks, split
from adbench.store.writer import atomic_write_text

# What a complete case holds: the same strategies for every case, or family -> its strategies.
Expected = Mapping[str, Collection[str]] | Collection[str]


def _wanted(expected: Expected, family: str) -> Collection[str] | None:
    """The strategies a case of `family` must have rows for; None for a family the current run
    file does not list (its stored rows are kept as they are: nothing would measure it again)."""
    if isinstance(expected, Mapping):
        return expected.get(family)
    return expected


def _complete(table: Table, expected: Expected) -> set[tuple[str, str]]:
    """(case_id, device) keys of `table` (results.csv) with a row for every expected strategy.
    A case the torn last line left half-written is never complete (reader.torn_case), whatever
    `expected` says: the rows before the tear are not all of it."""
    i_case, i_dev, i_strategy, i_family = (
        table.header.index(c) for c in ("case_id", "device", "strategy", "family")
    )
    seen: dict[tuple[str, str], set[str]] = {}
    family: dict[tuple[str, str], str] = {}
    torn: set[tuple[str, str]] = set()
    for rec, half in zip(table.rows, table.torn_rows(), strict=True):
        if half:
            torn.add((rec[i_case], rec[i_dev]))
    for rec in table.rows:
        key = (rec[i_case], rec[i_dev])
        seen.setdefault(key, set()).add(rec[i_strategy])
        family[key] = rec[i_family]
    done = set()
    for key, have in seen.items():
        want = _wanted(expected, family[key])
        if key not in torn and (want is None or set(want) <= have):
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
    return _complete(split(path), expected)


def _write_records(table: Table, keep: list[bool]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.header)
    w.writerows(rec for rec, k in zip(table.rows, keep, strict=True) if k)
    atomic_write_text(table.path, buf.getvalue())


def _first_rows(table: Table) -> list[bool]:
    """Which rows of results.csv are the first with their schema.ROW_KEY."""
    idx = [table.header.index(c) for c in schema.ROW_KEY]
    seen: set[tuple[str, ...]] = set()
    keep = []
    for rec in table.rows:
        key = tuple(rec[i] for i in idx)
        keep.append(key not in seen)
        seen.add(key)
    return keep


def _first_writes(table: Table) -> list[bool]:
    """Which rows of samples.csv belong to the first write of their case (reader.first_blocks)."""
    group = [table.header.index(c) for c in schema.CASE_GROUP]
    member = [table.header.index(c) for c in ("strategy", "round")]
    return first_blocks(
        [tuple(r[i] for i in group) for r in table.rows],
        [tuple(r[i] for i in member) for r in table.rows],
    )


def repair(directory: Path, expected: Expected) -> list[str]:
    """Make an interrupted results directory safe to append to; return what was dropped.

    Drops a torn last line of results.csv / samples.csv, the rows of a case that lacks one of
    `modes` (it is measured again), samples of cases without complete results rows, and every
    copy but the first of a case stored twice. Files are rewritten atomically, only when
    something is dropped. A file whose columns are not exactly the ones this adbench writes
    cannot be appended to: ResultsError.
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
        table = split(path)
        if table.header != list(columns):
            raise ResultsError(
                f"{path}: its columns differ from the ones this adbench writes, so it cannot "
                "be resumed; use --force to start over, or another --out"
            )
        if path == res_path:
            done = _complete(table, expected)
        i_case, i_dev = table.header.index("case_id"), table.header.index("device")
        complete = [(rec[i_case], rec[i_dev]) in done for rec in table.rows]
        first = _first_rows(table) if path == res_path else _first_writes(table)
        dropped = complete.count(False)
        copies = sum(c and not f for c, f in zip(complete, first, strict=True))
        keep = [c and f for c, f in zip(complete, first, strict=True)]
        if table.torn:
            notes.append(f"{path.name}: dropped an incomplete last line (killed mid-write)")
        what = "rows" if path == res_path else "sample rows"
        if dropped:
            cases = len(
                {(r[i_case], r[i_dev]) for r, k in zip(table.rows, complete, strict=True) if not k}
            )
            notes.append(
                f"{path.name}: dropped {dropped} {what} of {cases} unfinished case(s); "
                "they are measured again"
            )
        if copies:
            notes.append(f"{path.name}: dropped {copies} {what} that stored a case a second time")
        if table.torn or dropped or copies:
            _write_records(table, keep)
    return notes


def count_stored(directory: Path, expected: Expected = schema.MODES) -> int:
    """How many (case, device) are stored complete; 0 when nothing can be read."""
    try:
        return len(completed_keys(directory, expected))
    except (ResultsError, OSError, ValueError):
        return 0
