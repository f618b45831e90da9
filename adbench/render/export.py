"""Stored results -> other tools' formats. Pure: returns JSON-ready values, never writes.

github-action-benchmark (https://github.com/benchmark-action/github-action-benchmark) reads a
JSON list of ``{"name", "unit", "value", "range"?, "extra"?}`` with ``tool: customSmallerIsBetter``,
keeps their history on a branch and alerts when a value grows past its ratio (200% by default).
Every metric adbench exports is smaller-is-better. One entry per case x strategy x device x
metric, named ``"<case_id> <strategy> <device> <metric>"`` (the host before the device,
``"<host>/<device>"``, when the run spans several machines) so names stay unique and stable
across runs; only strategies that measured cleanly are exported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adbench.store import schema
from adbench.store.results import Results


@dataclass(frozen=True)
class Metric:
    column: str
    unit: str
    scale: float  # stored value * scale = exported value


# Times in microseconds keep small cases readable on the action's charts.
EXPORT_METRICS: dict[str, Metric] = {
    "median": Metric("median_s", "us", 1e6),
    "compile": Metric("compile_s", "ms", 1e3),
    "flops": Metric("flops", "flops", 1.0),
    "bytes_accessed": Metric("bytes_accessed", "bytes", 1.0),
    "temp_bytes": Metric("temp_bytes", "bytes", 1.0),
    "instructions": Metric("instructions", "instructions", 1.0),  # per call, under valgrind
}
# a metric a run did not measure has no value and no entry: a timed run exports no instructions
DEFAULT_METRICS = ("median", "flops", "bytes_accessed", "temp_bytes", "instructions")


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _count_extra(row: Mapping[Any, Any], meta: Mapping[str, Any], env: str) -> str:
    """'median of 3 repetitions, spread 0.4%; valgrind-3.19.0, Intel(R) Core(TM) ...; jax ...'"""
    reps, spread = _finite(row.get("instructions_reps")), _finite(row.get("instructions_spread"))
    fp = meta.get(schema.META_INSTRUCTIONS_FINGERPRINT) or {}
    what = f"median of {reps:.0f} repetitions" if reps is not None else "median"
    if spread is not None:
        what += f", spread {spread * 100:.2g}%"
    where = ", ".join(str(fp[k]) for k in ("valgrind", "cpu_under_valgrind") if fp.get(k))
    return f"{what}; {where + '; ' if where else ''}{env}"


def github_action_benchmark(
    res: Results, metrics: Sequence[str] = DEFAULT_METRICS
) -> list[dict[str, Any]]:
    """Entries for github-action-benchmark's ``customSmallerIsBetter`` tool, in results order."""
    unknown = [m for m in metrics if m not in EXPORT_METRICS]
    if unknown:
        raise ValueError(
            f"unknown metric {', '.join(unknown)}; choose from {', '.join(EXPORT_METRICS)}"
        )
    env = f"jax {res.meta.get('jax_version', '?')}, {res.meta.get('backend', '?')}"
    out: list[dict[str, Any]] = []
    hosts = res.results["host"].fillna("")
    many = hosts.nunique() > 1
    for row, host in zip(res.results.to_dict("records"), hosts, strict=True):
        if row.get("status") != schema.STATUS_OK:
            continue
        where = f"{host}/{row['device']}" if many and host else str(row["device"])
        stem = f"{row['case_id']} {row['strategy']} {where}"
        for name in metrics:
            m = EXPORT_METRICS[name]
            value = _finite(row.get(m.column))
            if value is None:
                continue
            entry: dict[str, Any] = {
                "name": f"{stem} {name}",
                "unit": m.unit,
                "value": value * m.scale,
            }
            if name == "median":
                lo, hi = _finite(row.get("ci_low_s")), _finite(row.get("ci_high_s"))
                n = _finite(row.get("n_samples"))
                if lo is not None and hi is not None:
                    half = max(value - lo, hi - value) * m.scale
                    entry["range"] = f"± {half:.3g}"
                    entry["extra"] = (
                        f"95% CI {lo * m.scale:.4g}-{hi * m.scale:.4g} us"
                        f"{f' over {int(n)} samples' if n is not None else ''}; {env}"
                    )
            elif name == "instructions":
                entry["extra"] = _count_extra(row, res.meta, env)
            else:
                entry["extra"] = env
            out.append(entry)
    return out
