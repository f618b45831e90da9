"""Compatibility shim: the store was split into :mod:`adbench.store.reader` (files -> tables),
:mod:`adbench.store.writer` (the only writer of a results directory) and
:mod:`adbench.store.repair` (``--resume``). Import from those; this re-export keeps older
imports working.
"""

from __future__ import annotations

from adbench.store.reader import (
    TEXT_COLUMNS,
    Results,
    ResultsError,
    derived_fresh,
    load_results,
    read_meta,
    stored_derived,
)
from adbench.store.repair import completed_keys, count_stored, repair
from adbench.store.writer import (
    OWN_FILES,
    LockedError,
    ResultsWriter,
    WriteError,
    check_out_dir,
    locked,
    safe_path,
    write_output,
)

__all__ = [
    "OWN_FILES",
    "TEXT_COLUMNS",
    "LockedError",
    "Results",
    "ResultsError",
    "ResultsWriter",
    "WriteError",
    "check_out_dir",
    "completed_keys",
    "count_stored",
    "derived_fresh",
    "load_results",
    "locked",
    "read_meta",
    "repair",
    "safe_path",
    "stored_derived",
    "write_output",
]
