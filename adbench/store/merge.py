"""`adbench merge DIR... --out DIR`: join results directories of one config into one.

The directories are shards of one sweep (`adbench run --shard I/N`), the same sweep run on
several machines, or both. Every row keeps its `host` (schema version 2 has it in every key), so
rows of two machines never collide; the derived tables (verdicts, crossovers) are recomputed
from the joined rows by the same functions a run calls at its end.

Refused (MergeError, one line naming the directory; nothing is written):

* a directory that is not a readable results directory, or a corrupted one (the reader's own
  checks, adbench.store.results.load_results);
* directories of different configs: the config each stored in meta.json is compared as
  canonical JSON (sorted keys), so comments, key order and the file's path do not matter, any
  value does;
* directories of different schema versions (a version-1 directory is lifted to version 2 when
  read; mixing would join rows whose missing columns mean different things). Directories all of
  version 1 merge into a version-2 directory, with ``migrated_from`` in its meta;
* a case x strategy measured twice on the same host and device: which row would be the truth
  is not the merge's to decide (re-run one of the two, or leave one out).

Kept and said (a note): the same case on the same device kind measured by several hosts (both
rows are kept, one per host, each with its verdict); shards of an N-way split that are missing;
an input that did not finish (its finished cases are merged).

The output is written into a hidden temporary directory beside --out through the real writer
(adbench.store.results.ResultsWriter) and renamed into place at the end, so an error or a kill
midway leaves no half-merged --out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adbench.store import schema
from adbench.store.results import (
    Results,
    ResultsError,
    ResultsWriter,
    check_out_dir,
    load_results,
)

# meta.json keys kept in the merged meta when every input agrees (else null; see `sources`)
_COMMON_KEYS = (
    "host",
    "adbench_version",
    "jax_version",
    "jaxlib_version",
    "backend",
    "cpu_model",
    "cpu_count",
    "python",
    "platform",
    "x64",
    "xla_flags",
    "git_commit",
    "config_hash",
    "measure",  # time or instructions (adbench run --measure)
    "instructions_fingerprint",  # what makes instruction counts comparable
)
# what each input contributes to the merged meta's `sources`
_SOURCE_KEYS = (
    "schema_version",
    "host",
    "shard",
    "engine",
    "jax_version",
    "jaxlib_version",
    "backend",
    "cpu_model",
    "devices",
    "config_path",
    "started_at",
    "finished_at",
)
_INT_COLUMNS = ("d_in", "d_out", "batch", "n_inner", "n_samples", "round", "position", "outliers")


class MergeError(ResultsError):
    """The inputs cannot be merged: one line naming the directory and the reason."""


@dataclass(frozen=True)
class Merged:
    """What a merge wrote: `cases` counts case x host x device groups."""

    out: Path
    sources: tuple[Path, ...]
    cases: int
    hosts: tuple[str, ...]
    notes: tuple[str, ...]


def canonical_config_hash(config: Mapping[str, Any]) -> str:
    """The identity of a run's config: its JSON form (as meta.json stores it) with sorted keys."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            return key
    return "?"


def _check_alike(runs: Sequence[Results]) -> None:
    first = runs[0]
    v0 = first.meta.get("schema_version")
    c0 = first.meta.get("config")
    if not isinstance(c0, dict):
        raise MergeError(f"{first.path / schema.META_FILE}: holds no config; cannot tell what ran")
    for r in runs[1:]:
        v = r.meta.get("schema_version")
        if v != v0:
            raise MergeError(
                f"{r.path}: results schema version {v}, but {first.path} has {v0}; merge "
                "directories of one version (re-run the older config, or report it alone)"
            )
        c = r.meta.get("config")
        if not isinstance(c, dict):
            raise MergeError(f"{r.path / schema.META_FILE}: holds no config; cannot tell what ran")
        if canonical_config_hash(c) != canonical_config_hash(c0):
            raise MergeError(
                f"{r.path}: measured another config than {first.path} (they differ in "
                f"{_first_difference(c, c0)!r}); merge runs of the same config only"
            )


def _check_no_twice(runs: Sequence[Results]) -> None:
    """A case x strategy on one host and device must come from one input, once."""
    import pandas as pd

    keys = list(schema.ROW_KEY)
    rows = pd.concat(
        [r.results[keys].assign(_source=i) for i, r in enumerate(runs)], ignore_index=True
    ).fillna({"host": "", "device": ""})
    dup = rows.duplicated(keys, keep=False)
    if not dup.any():
        return
    twice = rows[dup]
    first = twice.iloc[0]
    same = twice[(twice[keys] == first[keys]).all(axis=1)]
    where = sorted({str(runs[i].path) for i in same["_source"]})
    inputs = " and ".join(where) if len(where) > 1 else f"{where[0]} (twice)"
    host = first["host"] or "an unnamed host"
    raise MergeError(
        f"{first['case_id']} {first['strategy']} on {host} {first['device']} is in {inputs}: "
        "measured twice on the same machine and device; merge only one of them"
    )


def _some(names: Sequence[str], shown: int = 3) -> str:
    """'a, b, c and 297 more': a note stays one readable line however many hosts merged."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _notes(runs: Sequence[Results]) -> list[str]:
    import pandas as pd

    notes = [f"{r.path}: {note}" for r in runs for note in r.notes]
    for r in runs:
        if not r.meta.get("finished_at"):
            notes.append(f"{r.path}: the run did not finish; its finished cases are merged")
    rows = pd.concat([r.results for r in runs], ignore_index=True)
    per_kind = rows.groupby(["case_id", "device_kind"], dropna=False)["host"].unique()
    shared = per_kind[per_kind.map(len) > 1]
    if len(shared):
        key, hosts = next(iter(shared.items()))
        case_id, kind = key if isinstance(key, tuple) else (key, "?")
        notes.append(
            f"{len(shared)} case(s) were measured on the same device kind by several hosts "
            f"(e.g. {case_id} on {kind!r} by {_some(sorted(map(str, hosts)))}): every "
            "host's rows are kept, each with its own verdict"
        )
    shards = [r.meta.get("shard") for r in runs]
    if all(isinstance(s, dict) for s in shards):
        counts = {s["count"] for s in shards if isinstance(s, dict)}
        if len(counts) == 1:
            n = counts.pop()
            have = {s["index"] for s in shards if isinstance(s, dict)}
            missing = [f"{i}/{n}" for i in range(1, n + 1) if i not in have]
            if missing:
                notes.append(
                    f"shard(s) {', '.join(missing)} are missing: their cases are not in the merge"
                )
    return notes


def _records(df: Any) -> list[dict[str, Any]]:
    """Rows as plain Python values, as a run hands them to the writer (numpy scalars would be
    written by their repr, and whole numbers read back as floats as 3.0)."""
    out = []
    for row in df.to_dict("records"):
        for k, v in row.items():
            if hasattr(v, "item"):
                v = v.item()
            if k in _INT_COLUMNS and isinstance(v, float) and v.is_integer():
                v = int(v)
            row[k] = v
        out.append(row)
    return out


def _merged_meta(runs: Sequence[Results], hosts: Sequence[str]) -> dict[str, Any]:
    first = runs[0].meta
    meta: dict[str, Any] = {"schema_version": schema.SCHEMA_VERSION}
    for key in _COMMON_KEYS:
        values = {json.dumps(r.meta.get(key), sort_keys=True) for r in runs}
        meta[key] = first.get(key) if len(values) == 1 else None
    meta["hosts"] = list(hosts)
    meta["devices"] = [
        {**d, "host": r.meta.get("host")}
        for r in runs
        for d in r.meta.get("devices", [])
        if isinstance(d, dict)
    ]
    meta["config_path"] = first.get("config_path")
    meta["config"] = first["config"]
    meta["config_canonical_hash"] = canonical_config_hash(first["config"])
    meta["settings"] = {"tie_margin": first.get("settings", {}).get("tie_margin", 0.1)}
    if first.get("schema_version") != schema.SCHEMA_VERSION:
        meta["migrated_from"] = first.get("schema_version")
    started = [str(r.meta["started_at"]) for r in runs if r.meta.get("started_at")]
    finished = [r.meta.get("finished_at") for r in runs]
    meta["started_at"] = min(started) if started else None
    meta["finished_at"] = max(map(str, finished)) if all(finished) else None
    meta["merged_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    meta["command"] = " ".join(sys.argv)
    meta["sources"] = [
        {"path": str(r.path), **{k: r.meta.get(k) for k in _SOURCE_KEYS if k in r.meta}}
        for r in runs
    ]
    return meta


# Recomputes the derived tables of a directory (adbench.session.derived.write_derived): passed in,
# because recomputing them is the analysis's work, which the store does not import.
Derive = Callable[[ResultsWriter, float], None]


def _write(tmp: Path, runs: Sequence[Results], meta: Mapping[str, Any], derive: Derive) -> None:
    writer = ResultsWriter(tmp)
    writer.create()
    writer.write_meta({**meta, "finished_at": None})  # a results directory from the start
    for r in runs:  # one append per input: the temporary directory needs no per-case sync
        writer.append_case(_records(r.results), _records(r.samples))
    derive(writer, float(meta["settings"]["tie_margin"]))  # as a run does at its end
    writer.write_meta(meta)


def merge_results(
    sources: Sequence[Path], out: Path, *, derive: Derive, force: bool = False
) -> Merged:
    """Merge the results directories `sources` into `out` (see the module docstring)."""
    if not sources:
        raise MergeError("merge needs at least one results directory")
    seen: set[Path] = set()
    for s in sources:
        if s.resolve() in seen:
            raise MergeError(f"{s}: given twice; each results directory is merged once")
        seen.add(s.resolve())
        if s.resolve() == out.resolve():
            raise MergeError(f"{out}: is also an input; merge into another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise MergeError(
            f"{out}: exists and is not empty; merge into a new directory, or add --force to "
            "replace the results directory there"
        )
    check_out_dir(out, resume=False, force=force)  # a file, or a directory of other files
    runs = [load_results(s, with_verdicts=False) for s in sources]
    _check_alike(runs)
    _check_no_twice(runs)
    notes = _notes(runs)
    hosts = sorted({str(h) for r in runs for h in r.results["host"].fillna("")})
    meta = _merged_meta(runs, hosts)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.merging-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write(tmp, runs, meta, derive)
        old = out.parent / f".{out.name}.replaced-{os.getpid()}"
        if out.exists():  # empty, or a results directory and --force (check_out_dir)
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    groups = {tuple(k) for r in runs for k in r.results[list(schema.CASE_GROUP)].values.tolist()}
    return Merged(out, tuple(sources), len(groups), tuple(hosts), tuple(notes))
