"""Regenerate the synthetic results directories under tests/data/report/ (deterministic).

    .venv/bin/python tests/data/report/make_fixtures.py

`sweep/` holds one device and five families whose timings follow simple cost models with
multiplicative noise and a per-round drift shared by both modes (as interleaving sees it):

    linear      d_in = 100, d_out 10..3000    t_fwd ~ d_in^2 d_out, t_rev ~ 1.5 d_in d_out^2
                                               -> tie near d_out = 67
    power       d_in = 1, d_out 10..10000     jacfwd faster throughout
    mean_sq     d_out = 1, d_in 10..10000     jacrev faster throughout
    tanh_grid   d_in x d_out in {10,100,1000}^2 -> a heatmap; tie at d_in / d_out = 1
    scan        d_in = 10, d_out 10..10000    the modes tie; jacrev refused (memory) at 10000

Files are written with adbench's own writer, so they match adbench/schema.py exactly.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from adbench import stats  # noqa: E402
from adbench.analysis.crossover import crossovers_for  # noqa: E402
from adbench.analysis.verdict import verdicts_for  # noqa: E402
from adbench.store import schema  # noqa: E402
from adbench.store.results import ResultsWriter  # noqa: E402

ROUNDS = 15
DEVICE = "cpu:0"
K = 2e-10  # seconds per multiply-add


def models() -> list[tuple[str, int, int, float, float, float, float]]:
    """(family, d_in, d_out, t_fwd, t_rev, compile_fwd, compile_rev) per case."""
    out = []
    for d_out in (10, 30, 100, 300, 1000, 3000):
        d_in = 100
        out.append(
            (
                "linear",
                d_in,
                d_out,
                20e-6 + K * d_in * d_in * d_out,
                20e-6 + 1.5 * K * d_in * d_out * d_out,
                0.040,
                0.055,
            )
        )
    for d_out in (10, 100, 1000, 10000):
        out.append(
            ("power", 1, d_out, 8e-6 + 5 * K * d_out, 8e-6 + 5 * K * d_out * d_out, 0.03, 0.05)
        )
    for d_in in (10, 100, 1000, 10000):
        out.append(
            ("mean_sq", d_in, 1, 6e-6 + 3 * K * d_in * d_in, 6e-6 + 3 * K * d_in, 0.03, 0.04)
        )
    for d_in in (10, 100, 1000):
        for d_out in (10, 100, 1000):
            base = 15e-6 + K * d_in * d_out
            out.append(
                (
                    "tanh_grid",
                    d_in,
                    d_out,
                    base + K * d_in * d_in * d_out,
                    base + K * d_in * d_out * d_out,
                    0.05,
                    0.05,
                )
            )
    for d_out in (10, 100, 1000, 10000):
        t = 30e-6 + 50 * K * d_out
        out.append(("scan", 10, d_out, t, t * 1.02, 0.2, 0.35))
    return out


def build(directory: Path) -> None:
    rng = np.random.default_rng(20240611)
    if directory.exists():
        shutil.rmtree(directory)
    writer = ResultsWriter(directory)
    writer.create()
    meta = {
        "schema_version": schema.SCHEMA_VERSION,
        "adbench_version": "0.1.0",
        "jax_version": "0.10.2",
        "jaxlib_version": "0.10.2",
        "backend": "cpu",
        "devices": [DEVICE],
        "cpu_model": "Synthetic CPU @ 2.0GHz (fixture)",
        "python": "3.11.2",
        "platform": "Linux-x86_64",
        "x64": False,
        "xla_flags": "",
        "git_commit": "0000000",
        "config_path": "tests/data/report/sweep.yaml",
        "config_hash": "sha256:fixture",
        "config": {"name": "report-fixture"},
        "settings": {"tie_margin": 0.1},
        "started_at": "2024-06-11T10:00:00+00:00",
        "finished_at": "2024-06-11T10:01:00+00:00",
        "command": "adbench run tests/data/report/sweep.yaml",
    }
    writer.write_meta(meta)
    for family, d_in, d_out, t_fwd, t_rev, c_fwd, c_rev in models():
        cid = schema.case_id(family, d_in, d_out)
        key = {"case_id": cid, "family": family, "d_in": d_in, "d_out": d_out, "device": DEVICE}
        refused = family == "scan" and d_out == 10000
        drift = np.exp(rng.normal(0.0, 0.08, ROUNDS))
        result_rows, sample_rows = [], []
        for mode, t, c in (("jacfwd", t_fwd, c_fwd), ("jacrev", t_rev, c_rev)):
            row = {
                **key,
                "mode": mode,
                "source": f"builtin:{family}",
                "device_kind": "cpu",
                "platform": "cpu",
                "dtype": "float32",
                "jit": True,
                "status": schema.STATUS_OK,
                "reason": "",
            }
            if refused and mode == "jacrev":
                row.update(
                    status=schema.STATUS_MEMORY,
                    reason="estimated 40.0 GiB (XLA temp) exceeds the 8.00 GiB budget",
                )
                result_rows.append(row)
                continue
            secs = t * drift * np.exp(rng.normal(0.0, 0.03, ROUNDS))
            n_inner = max(1, int(round(0.002 / t)))
            for i, s in enumerate(secs):
                sample_rows.append(
                    {**key, "mode": mode, "round": i, "n_inner": n_inner, "seconds": float(s)}
                )
            summ = stats.summarize(secs)
            flops = float(round(t / K))
            row.update(
                n_inner=n_inner,
                n_samples=ROUNDS,
                median_s=summ.median,
                mean_s=summ.mean,
                std_s=summ.std,
                min_s=summ.min,
                max_s=summ.max,
                q1_s=summ.q1,
                q3_s=summ.q3,
                iqr_s=summ.iqr,
                ci_low_s=summ.ci_low,
                ci_high_s=summ.ci_high,
                outliers=summ.outliers,
                lower_s=0.004,
                compile_s=c * (1 + 0.1 * math.log10(d_in * d_out)),
                first_call_s=2 * t,
                flops=flops,
                transcendentals=0.0,
                bytes_accessed=4.0 * (d_in * d_out + d_in + d_out),
                temp_bytes=4.0 * d_in * d_out,
                argument_bytes=4.0 * d_in,
                output_bytes=4.0 * d_in * d_out,
                generated_code_bytes=0.0,
                jac_max_abs_diff=0.0,
                jac_max_abs=1.0,
            )
            result_rows.append(row)
        writer.append_case(result_rows, sample_rows)
    from adbench.store.results import load_results

    res = load_results(directory, with_verdicts=False)
    writer.write_verdicts(verdicts_for(res.results, res.samples, margin=0.1))
    cross = crossovers_for(res.results, res.samples, margin=0.1)
    cross.to_csv(directory / schema.CROSSOVER_FILE, index=False, float_format="%.17g")


if __name__ == "__main__":
    build(HERE / "sweep")
    print(f"wrote {HERE / 'sweep'}")
