"""How far is the default run from its floor?

    python benchmarks/floor.py [CONFIG] [--pairs K]

The floor of `adbench run CONFIG` is what any honest measurement of the same cases must spend:
a fresh Python process that imports JAX, builds every case's function, compiles each of its
strategies ahead of time and calls each compiled derivative a few times (`--calls`, default 3,
each followed by block_until_ready). `adbench run` adds the checks, the calibrated interleaved
timing that makes a verdict, and the writing. K alternating pairs (run, floor, run, floor, ...)
in fresh processes; printed: each wall, the load average beside it, the median ratio run/floor
and whether every run gave the same verdicts (recommended and tie set per case).

Figures, not assertions: the machine is shared and noisy; read them with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

# The floor, run as `python -c`: import JAX, build each case (config.cases.Case through
# measure/build.py, the build every door shares), compile each planned strategy ahead of time
# (measure/costs.compile_strategy) and call it `calls` times, each waited for, dispatched as the
# run file's cpu_dispatch asks (as adbench's own calls are). No checks, no
# calibration, no interleaved timing, no writing.
_FLOOR = r"""
import sys, time
t0 = time.perf_counter()
import jax, numpy as np
from adbench.config.cases import expand
from adbench.config.model import load_config
from adbench.measure import build
from adbench.measure.costs import compile_strategy
from adbench.measure.devices import use_cpu_dispatch
loaded = load_config(sys.argv[1])
use_cpu_dispatch(loaded.config.cpu_dispatch)  # calls dispatched as the run's are
calls = int(sys.argv[2])
dtype = loaded.config.dtype
device = jax.devices("cpu")[0]
for case in expand(loaded):
    made = build.build(case, dtype=dtype, seed=0, device=device)
    if isinstance(made, str):
        continue
    batch = case.batch > 1
    for name in case.strategies:
        try:
            c = compile_strategy(case.task, name, made.fn, tuple(made.x.shape), np.dtype(dtype),
                device=device, d_out=made.d_out, chunk_size=case.chunk_size, batch=batch,
                structure=made.structure, params=case.task_params)
        except Exception:
            continue
        for _ in range(calls):
            jax.block_until_ready(c.executable(made.x))
print(f"{time.perf_counter() - t0:.3f}")
"""


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min)"


def _verdicts(out: Path) -> dict[str, tuple[str, str]]:
    import pandas as pd

    v = pd.read_csv(out / "verdicts.csv", keep_default_na=False)
    return {
        str(r["case_id"]): (str(r["recommended"]), "|".join(sorted(str(r["tie_set"]).split("|"))))
        for _, r in v.iterrows()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default=str(REPO / "configs" / "seed.yaml"))
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--calls", type=int, default=3)
    args = ap.parse_args()
    runs, floors, verdicts = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.pairs):
            out = Path(tmp) / f"run{k}"
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "adbench", "run", args.config, "--out", str(out), "--quiet"],
                env=_ENV,
                check=True,
                cwd=REPO,
            )
            runs.append(time.perf_counter() - start)
            verdicts.append(_verdicts(out))
            print(f"run   {k}: {runs[-1]:6.2f} s  ({_load()})", flush=True)
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", _FLOOR, args.config, str(args.calls)],
                env=_ENV,
                check=True,
                capture_output=True,
                text=True,
                cwd=REPO,
            )
            floors.append(time.perf_counter() - start)
            print(f"floor {k}: {floors[-1]:6.2f} s  ({_load()})", flush=True)
    ratios = [r / f for r, f in zip(runs, floors, strict=True)]
    same = all(v == verdicts[0] for v in verdicts)
    print(
        f"\nrun/floor per pair: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f} (target <= 2)"
    )
    run_s, floor_s = statistics.median(runs), statistics.median(floors)
    print(f"median wall: run {run_s:.2f} s, floor {floor_s:.2f} s")
    print(f"same verdicts in every run: {same}")
    print(json.dumps({"runs": runs, "floors": floors}))


if __name__ == "__main__":
    main()
