"""Older results directories -> the current schema, in memory, on load (never on disk).

A results directory is evidence: adbench never rewrites one written by an older version. The
reader reads each file with the columns of the version that wrote it, then lifts the tables
here, one version step at a time, so `report`, `compare` and `export` only ever see the current
columns. Derived tables (verdicts, crossover, ranking) are not migrated: they are recomputed
from the migrated results and samples, which is exact because they are pure functions of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

# --------------------------------------------------------------------------- version 1

V1_CASE_KEY = ("case_id", "family", "d_in", "d_out", "device")
V1_RESULT_COLUMNS = (
    *V1_CASE_KEY,
    "mode",
    "source",
    "device_kind",
    "platform",
    "dtype",
    "jit",
    "status",
    "reason",
    "n_inner",
    "n_samples",
    "median_s",
    "mean_s",
    "std_s",
    "min_s",
    "max_s",
    "q1_s",
    "q3_s",
    "iqr_s",
    "ci_low_s",
    "ci_high_s",
    "outliers",
    "lower_s",
    "compile_s",
    "first_call_s",
    "flops",
    "transcendentals",
    "bytes_accessed",
    "temp_bytes",
    "argument_bytes",
    "output_bytes",
    "generated_code_bytes",
    "jac_max_abs_diff",
    "jac_max_abs",
)
V1_SAMPLE_COLUMNS = (*V1_CASE_KEY, "mode", "round", "n_inner", "seconds")
V1_VERDICT_COLUMNS = (
    *V1_CASE_KEY,
    "recommended",
    "speedup",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "margin",
    "median_jacfwd_s",
    "median_jacrev_s",
    "flop_ratio",
    "temp_ratio",
    "compile_jacfwd_s",
    "compile_jacrev_s",
    "break_even_calls",
    "textbook",
    "agrees_with_textbook",
    "reason",
)

# version -> (results columns, samples columns) as that version wrote them
COLUMNS_BY_VERSION: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    1: (V1_RESULT_COLUMNS, V1_SAMPLE_COLUMNS),
}
VERDICT_COLUMNS_BY_VERSION: dict[int, tuple[str, ...]] = {1: V1_VERDICT_COLUMNS}

_V1_RENAMES = {
    "mode": "strategy",
    "jac_max_abs_diff": "max_abs_diff",
    "jac_max_abs": "max_abs",
    # verdicts: version 1's ratio was always t(jacfwd) / t(jacrev)
    "ratio": "fwd_rev_ratio",
    "ratio_ci_low": "fwd_rev_ci_low",
    "ratio_ci_high": "fwd_rev_ci_high",
}


def _v1_to_v2(df: pd.DataFrame, meta: Mapping[str, Any]) -> pd.DataFrame:
    """Version 1 had Jacobians only, one point per case, one machine per directory."""
    out = df.rename(columns=_V1_RENAMES)
    out["task"] = "jacobian"
    out["batch"] = 1
    out["host"] = str(meta.get("host") or "")
    if "setup_s" not in out.columns and "compile_s" in out.columns:
        out["setup_s"] = 0.0  # version 1 had no one-off cost outside XLA
    return out


# --------------------------------------------------------------------------- version 2 -> 3


def _v2_result_columns() -> tuple[str, ...]:
    """Version 2's results columns: version 3's without the structure and estimator columns it
    added."""
    from adbench.store import schema

    added = (*schema.STRUCTURE_COLUMNS, *schema.ESTIMATOR_COLUMNS)
    return tuple(c for c in schema.RESULT_COLUMNS if c not in added)


def schema_sample_columns() -> tuple[str, ...]:
    """The samples columns, unchanged since version 2."""
    from adbench.store import schema

    return schema.SAMPLE_COLUMNS


def _v2_to_v3(results: pd.DataFrame, samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Version 2 measured flat functions of one vector only, with exact strategies: the
    structure and estimator columns are empty; samples and verdicts kept their columns."""
    from adbench.store import schema

    return results.reindex(columns=list(schema.RESULT_COLUMNS)), samples


def upgrade(
    version: int, results: pd.DataFrame, samples: pd.DataFrame, meta: Mapping[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, samples) of a directory written by schema `version`, with current columns.

    Columns the old version did not have are added empty (NaN) by the caller's reindex; this
    function only renames and fills what has a known value.
    """
    from adbench.store import schema

    if version == schema.SCHEMA_VERSION:
        return results, samples
    if version == 2:
        return _v2_to_v3(results, samples)
    if version == 1:
        results, samples = _v1_to_v2(results, meta), _v1_to_v2(samples, meta)
        return (
            results.reindex(columns=list(schema.RESULT_COLUMNS)),
            samples.reindex(columns=list(schema.SAMPLE_COLUMNS)),
        )
    raise ValueError(f"no migration from results schema version {version}")


def upgrade_verdicts(version: int, verdicts: pd.DataFrame, meta: Mapping[str, Any]) -> pd.DataFrame:
    """Stored verdicts of schema `version` with current columns, their judgement kept as stored.

    Version 1 judged two modes: its verdict is both the recommendation and the fwd-vs-rev view;
    a tie there was a tie between exactly jacfwd and jacrev.
    """
    from adbench.store import schema

    if version in (2, schema.SCHEMA_VERSION):  # verdict columns unchanged since version 2
        return verdicts
    if version != 1:
        raise ValueError(f"no migration from results schema version {version}")
    out = _v1_to_v2(verdicts, meta)
    out["fwd_rev"] = out["recommended"]
    out["tie_set"] = out["recommended"].map(lambda v: "jacfwd|jacrev" if v == "tie" else "")
    ok = out["recommended"].isin(("jacfwd", "jacrev"))
    out["runner_up"] = out["recommended"].map({"jacfwd": "jacrev", "jacrev": "jacfwd"})
    fwd, rev = out["median_jacfwd_s"].astype(float), out["median_jacrev_s"].astype(float)
    out["best_s"] = fwd.where(fwd <= rev, rev)
    out["n_strategies"] = 2
    out["n_ran"] = (fwd.notna() & rev.notna()).astype(int) * 2
    # t(best) / t(runner-up) from the fwd/rev ratio, interval flipped when jacrev won
    r = out["fwd_rev_ratio"].astype(float)
    lo, hi = out["fwd_rev_ci_low"].astype(float), out["fwd_rev_ci_high"].astype(float)
    rev_won = out["recommended"] == "jacrev"
    out["ratio"] = r.where(~rev_won, 1.0 / r).where(ok)
    out["ratio_ci_low"] = lo.where(~rev_won, 1.0 / hi).where(ok)
    out["ratio_ci_high"] = hi.where(~rev_won, 1.0 / lo).where(ok)
    return out.reindex(columns=list(schema.VERDICT_COLUMNS))


# Version 3's text columns (schema.STRUCTURE_TEXT_COLUMNS) are named in reader.TEXT_COLUMNS: a
# version-3 directory is read with the current columns (no entry here).
COLUMNS_BY_VERSION[2] = (_v2_result_columns(), schema_sample_columns())
