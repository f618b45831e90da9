"""Writes the golden run directories for tests/test_compare.py and tests/test_export.py.

    .venv/bin/python tests/data/compare/make_goldens.py

Synthetic, exact and tiny: every file follows adbench/schema.py (version 1). The story, baseline
``base`` -> current ``cur`` (per case; both modes unless said):

    steady_a..d/300x300  unchanged (the run's own control: 8 timed case x modes)
    slower/200x200       2x slower                              -> timing regression
    faster/200x200       2x faster                              -> timing improvement
    noisy/200x200        jacfwd 1.3x slower, widely spread      -> inconclusive (not significant)
    costlier/64x64       flops 1.5x, temp bytes halved          -> regression + improvement
    flipper/10x1000      jacfwd 0.5 ms -> 2 ms: jacfwd -> jacrev -> flip (and jacfwd 4x slower)
    softened/300x10      jacrev -> tie                          -> note, not a flip
    tiny/1x10            30 us -> 90 us                         -> too fast to time: a note only
    breaks/50x50         jacrev ok -> mismatch                  -> status regression
    gone/5x5             only in the baseline                   -> missing
    fresh/5x5            only in the current run                -> new

Also: ``same`` (a copy of ``base``: no finding), ``other-jax`` (``cur`` measured with another jax:
the deterministic tier is not comparable), ``slow-machine`` (``base`` with every time x1.6: drift,
no case regression), ``old-schema`` (schema_version 0: unreadable).
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from adbench import schema  # noqa: E402

N = 12  # samples per mode
# A fixed spread of +-4% around the median, the same in every run: shuffled, so that rounds
# differ, and symmetric, so that the median is exactly the nominal value.
SPREAD = [0.96, 1.04, 0.98, 1.02, 0.97, 1.03, 0.99, 1.01, 1.0, 0.985, 1.015, 1.0]
WIDE = [0.6, 1.4, 0.75, 1.25, 0.9, 1.1, 1.0, 0.7, 1.3, 0.85, 1.15, 1.0]

META = {
    "schema_version": schema.SCHEMA_VERSION,
    "adbench_version": "0.1.0",
    "jax_version": "0.10.2",
    "jaxlib_version": "0.10.2",
    "backend": "cpu",
    "devices": [{"id": "cpu:0", "kind": "cpu", "platform": "cpu"}],
    "cpu_model": "golden CPU",
    "python": "3.11.7",
    "platform": "Linux",
    "x64": False,
    "xla_flags": "",
    "git_commit": None,
    "config_path": "golden.yaml",
    "config_hash": "0000000000000000",
    "config": {"name": "golden", "tie_margin": 0.1},
    "started_at": "2026-01-01T00:00:00+00:00",
    "finished_at": "2026-01-01T00:01:00+00:00",
    "command": "adbench run golden.yaml",
}

# case -> (d_in, d_out, {mode: (median_s, flops, bytes_accessed, temp_bytes)})
Spec = dict[str, tuple[int, int, dict[str, tuple[float, float, float, float]]]]


def _cases(current: bool) -> Spec:
    ms = 1e-3
    spec: Spec = {}
    for name in ("steady_a", "steady_b", "steady_c", "steady_d"):
        spec[f"{name}/300x300"] = (
            300,
            300,
            {m: (2 * ms, 5.4e7, 2.5e6, 3.6e5) for m in schema.MODES},
        )
    k = 2.0 if current else 1.0
    spec["slower/200x200"] = (200, 200, {m: (1 * ms * k, 1.6e7, 1e6, 1.6e5) for m in schema.MODES})
    spec["faster/200x200"] = (200, 200, {m: (1 * ms / k, 1.6e7, 1e6, 1.6e5) for m in schema.MODES})
    spec["noisy/200x200"] = (
        200,
        200,
        {
            "jacfwd": (1.3 * ms if current else ms, 1.6e7, 1e6, 1.6e5),
            "jacrev": (ms, 1.6e7, 1e6, 1.6e5),
        },
    )
    spec["costlier/64x64"] = (
        64,
        64,
        {
            m: (1.5 * ms, 1.5e6 if current else 1e6, 4e5, 8e3 if current else 1.6e4)
            for m in schema.MODES
        },
    )
    spec["flipper/10x1000"] = (
        10,
        1000,
        {
            "jacfwd": (2 * ms if current else 0.5 * ms, 2.5e5, 2e5, 8e3),
            "jacrev": (1 * ms, 2.4e7, 8e6, 4e6),
        },
    )
    spec["softened/300x10"] = (
        300,
        10,
        {
            "jacfwd": (1.05 * ms if current else 2 * ms, 1e6, 1e6, 1e5),
            "jacrev": (1 * ms, 1e5, 1e5, 1e3),
        },
    )
    spec["tiny/1x10"] = (
        1,
        10,
        {m: (90e-6 if current else 30e-6, 10.0, 84.0, 0.0) for m in schema.MODES},
    )
    spec["breaks/50x50"] = (50, 50, {m: (0.5 * ms, 2.5e5, 2e4, 1e4) for m in schema.MODES})
    spec["gone/5x5" if not current else "fresh/5x5"] = (
        5,
        5,
        {m: (0.2 * ms, 50.0, 200.0, 100.0) for m in schema.MODES},
    )
    return spec


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for row in rows:
            w.writerow(["" if row.get(c) is None else row.get(c) for c in columns])


def write_run(
    out: Path,
    spec: Spec,
    *,
    meta: dict[str, Any],
    time_scale: float = 1.0,
    broken: frozenset[tuple[str, str]] = frozenset(),
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results, samples, verdicts = [], [], []
    for case_id, (d_in, d_out, modes) in spec.items():
        family = case_id.split("/")[0]
        key = {
            "case_id": case_id,
            "family": family,
            "d_in": d_in,
            "d_out": d_out,
            "device": "cpu:0",
        }
        medians = {}
        for mode, (median, flops, bytes_accessed, temp) in modes.items():
            median *= time_scale
            medians[mode] = median
            spread = WIDE if family == "noisy" and mode == "jacfwd" else SPREAD
            secs = [median * f for f in spread]
            status = schema.STATUS_MISMATCH if (case_id, mode) in broken else schema.STATUS_OK
            results.append(
                {
                    **key,
                    "mode": mode,
                    "source": f"builtin:{family}",
                    "device_kind": "cpu",
                    "platform": "cpu",
                    "dtype": "float32",
                    "jit": True,
                    "status": status,
                    "reason": "jacfwd and jacrev differ by 0.1 (max |J| 1)"
                    if status != "ok"
                    else "",
                    "n_inner": 10,
                    "n_samples": N,
                    "median_s": repr(median),
                    "mean_s": repr(sum(secs) / N),
                    "min_s": repr(min(secs)),
                    "max_s": repr(max(secs)),
                    "ci_low_s": repr(median * 0.98),
                    "ci_high_s": repr(median * 1.02),
                    "lower_s": 0.01,
                    "compile_s": 0.05,
                    "first_call_s": 0.001,
                    "flops": flops,
                    "transcendentals": 0.0,
                    "bytes_accessed": bytes_accessed,
                    "temp_bytes": temp,
                    "argument_bytes": 4 * d_in,
                    "output_bytes": 4 * d_in * d_out,
                    "generated_code_bytes": 0,
                    "jac_max_abs_diff": 0.0,
                    "jac_max_abs": 1.0,
                }
            )
            for r, s in enumerate(secs):
                samples.append({**key, "mode": mode, "round": r, "n_inner": 10, "seconds": repr(s)})
        ratio = medians["jacfwd"] / medians["jacrev"]
        if any((case_id, m) in broken for m in schema.MODES):
            rec = "n/a"
        elif ratio > 1.1:
            rec = "jacrev"
        elif ratio < 1 / 1.1:
            rec = "jacfwd"
        else:
            rec = "tie"
        verdicts.append(
            {
                **key,
                "recommended": rec,
                "speedup": max(ratio, 1 / ratio),
                "ratio": ratio,
                "ratio_ci_low": ratio * 0.97,
                "ratio_ci_high": ratio * 1.03,
                "margin": 0.1,
                "median_jacfwd_s": medians["jacfwd"],
                "median_jacrev_s": medians["jacrev"],
                "flop_ratio": modes["jacfwd"][1] / modes["jacrev"][1],
                "temp_ratio": 1.0,
                "compile_jacfwd_s": 0.05,
                "compile_jacrev_s": 0.05,
                "break_even_calls": 0,
                "textbook": "either",
                "agrees_with_textbook": "yes",
                "reason": f"golden: {rec}",
            }
        )
    _write_csv(out / schema.RESULTS_FILE, schema.RESULT_COLUMNS, results)
    _write_csv(out / schema.SAMPLES_FILE, schema.SAMPLE_COLUMNS, samples)
    _write_csv(out / schema.VERDICTS_FILE, schema.VERDICT_COLUMNS, verdicts)
    (out / schema.META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    for name in ("base", "cur", "same", "other-jax", "slow-machine", "old-schema"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    base, cur = _cases(False), _cases(True)
    write_run(HERE / "base", base, meta=META)
    write_run(HERE / "same", base, meta=META)
    write_run(HERE / "cur", cur, meta=META, broken=frozenset({("breaks/50x50", "jacrev")}))
    write_run(
        HERE / "other-jax",
        cur,
        meta={**META, "jax_version": "0.4.30", "jaxlib_version": "0.4.30"},
        broken=frozenset({("breaks/50x50", "jacrev")}),
    )
    write_run(HERE / "slow-machine", base, meta=META, time_scale=1.6)
    write_run(HERE / "old-schema", base, meta={**META, "schema_version": 0})


if __name__ == "__main__":
    main()
