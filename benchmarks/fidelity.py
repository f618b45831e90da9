"""Does adbench time what a careful person with `timeit` would? And is the default run fast?

    python benchmarks/fidelity.py [CONFIG] [--rounds N] [--timeit-runs K]
                                  [--timeit-dispatch run|inline|async]

For each round: a fresh process times every case x strategy of CONFIG (default
configs/seed.yaml) with plain `timeit` (the strategy's derivative from adbench.strategies.registry,
jitted, compiled and warmed up first, `block_until_ready` on each call, autorange loop, 7
repeats; a batch is B inputs drawn like adbench's default input, or B copies of the factory's
x0); then `adbench run` runs (its wall time measured, JAX import included); then the timeit
process runs again (`--timeit-runs K`: K timeit processes, the first half before and the rest
after; the range is all of theirs; their CPU client dispatches as the run file's cpu_dispatch
says unless `--timeit-dispatch` overrides it). Chunked strategies are timed at the config's
chunk_size (without one, adbench skips them unless memory is short, and they are left out here).
Printed, overall and per strategy:

- wall seconds of `adbench run` (target: <= 30 s for the default config on 2 cores);
- the share of adbench medians (timeit median >= 10 us) inside the range of the timeit runs'
  values widened by x1.25 (target: every one, issue 17);
- the geometric mean of adbench median / timeit median (target within [0.9, 1.1]).

Figures, not assertions: the machine is noisy, so read them, and rerun to see their spread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# children import this checkout's adbench, not whichever the environment's editable install names
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
MIN_CASE_S = 10e-6
WIDEN = 1.25


def timeit_child(config: str, dispatch: str) -> None:
    """Print {"case_id|strategy": [seconds per call, ...]} for every case of `config`, the CPU
    client dispatching as `dispatch` says ("run": as the run file's cpu_dispatch)."""
    import timeit

    import jax
    import jax.numpy as jnp
    import numpy as np

    from adbench.config.cases import expand
    from adbench.config.model import load_config
    from adbench.measure.devices import use_cpu_dispatch
    from adbench.strategies import registry as strategies

    loaded = load_config(config)
    use_cpu_dispatch(loaded.config.cpu_dispatch if dispatch == "run" else dispatch)
    if loaded.config.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    out: dict[str, list[float]] = {}
    for case in expand(loaded):
        made = case.factory(case.d_in, case.d_out, **dict(case.params))
        fn, x0 = made if isinstance(made, tuple) else (made, None)
        rows = (case.batch,) if case.batch > 1 else ()
        if x0 is None:
            x0 = np.random.default_rng(loaded.config.seed).standard_normal((*rows, case.d_in))
        x = jnp.asarray(np.broadcast_to(x0, (*rows, case.d_in)), dtype=loaded.config.dtype)
        for name in case.strategies:
            s = strategies.get(case.task, name)
            chunk = case.chunk_size if s.chunked else None
            if s.chunked and (
                chunk is None or strategies.chunk_skip_reason(s, case.d_in, case.d_out, chunk)
            ):
                continue
            prepared = s.prepare(fn, x, chunk_size=chunk, batch=case.batch > 1)
            compiled = jax.jit(prepared.fn).lower(x).compile()
            jax.block_until_ready(compiled(x))
            jax.block_until_ready(compiled(x))
            timer = timeit.Timer(lambda c=compiled, x=x: jax.block_until_ready(c(x)))
            number, _ = timer.autorange()
            per_call = [t / number for t in timer.repeat(repeat=7, number=number)]
            out[f"{case.case_id}|{name}"] = per_call
    print(json.dumps(out))


def run_timeit(config: str, dispatch: str) -> dict[str, list[float]]:
    proc = subprocess.run(
        [sys.executable, __file__, "--timeit-child", config, dispatch],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=_ENV,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def one_round(
    config: str, timeit_runs: int = 2, dispatch: str = "run"
) -> tuple[float, list[tuple[str, float, float, float, float]]]:
    import pandas as pd

    befores = [run_timeit(config, dispatch) for _ in range(timeit_runs - timeit_runs // 2)]
    out = Path(tempfile.mkdtemp(prefix="adbench-fidelity-")) / "run"
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "adbench", "run", config, "--out", str(out), "--quiet"],
        check=False,
        cwd=REPO,
        env=_ENV,
    )
    if done.returncode not in (0, 1):  # 1: some strategy did not measure (skipped, refused)
        raise SystemExit(f"adbench run exited {done.returncode}")
    wall = time.perf_counter() - t0
    afters = [run_timeit(config, dispatch) for _ in range(timeit_runs // 2)]
    df = pd.read_csv(out / "results.csv")
    rows = []
    for _, r in df[df["status"] == "ok"].iterrows():
        key = f"{r['case_id']}|{r['strategy']}"
        if any(key not in t for t in (*befores, *afters)):
            continue  # a chunked strategy at a chunk adbench chose itself
        values = [v for t in (*befores, *afters) for v in t[key]]
        ref = float(sorted(values)[len(values) // 2])
        rows.append((key, float(r["median_s"]), ref, min(values), max(values)))
    return wall, rows


def main() -> None:
    if len(sys.argv) > 3 and sys.argv[1] == "--timeit-child":
        timeit_child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default=str(REPO / "configs" / "seed.yaml"))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--timeit-runs",
        type=int,
        default=2,
        help="fresh timeit processes per round, half before adbench's and half after (the "
        "range is theirs together: more processes see more of the machine's between-process "
        "spread)",
    )
    ap.add_argument(
        "--timeit-dispatch",
        choices=("run", "inline", "async"),
        default="run",
        help="how the timeit processes' CPU client dispatches: 'run' (default) as the run file's "
        "cpu_dispatch, so both sides time the same calls; 'async' is JAX's default, what a "
        "notebook's %%timeit sees",
    )
    args = ap.parse_args()
    if args.timeit_runs < 2:
        ap.error("--timeit-runs must be at least 2 (one before adbench's run, one after)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for i in range(args.rounds):
        wall, rows = one_round(args.config, args.timeit_runs, args.timeit_dispatch)
        print(
            f"round {i + 1}: adbench run wall {wall:.1f} s (target <= 30 s for seed.yaml); "
            f"timeit dispatch: {args.timeit_dispatch}"
        )
        print(
            f"  {'case|strategy':40} {'adbench':>10} {'timeit':>10} {'range lo':>10} "
            f"{'range hi':>10} {'ratio':>6} inside"
        )
        judged: dict[str, list[tuple[bool, float]]] = {}
        for key, med, ref, lo, hi in rows:
            big = ref >= MIN_CASE_S
            ok = lo / WIDEN <= med <= hi * WIDEN
            if big:
                judged.setdefault(key.split("|")[1], []).append((ok, math.log(med / ref)))
            print(
                f"  {key:40} {med * 1e6:10.1f} {ref * 1e6:10.1f} {lo * 1e6:10.1f} "
                f"{hi * 1e6:10.1f} {med / ref:6.2f} {'yes' if ok else 'NO'}"
                f"{'' if big else ' (under 10 us, not judged)'}"
            )
        print(f"  {'strategy':16} {'inside':>8} {'share':>6} {'gmean':>6}")
        for name, marks in [*sorted(judged.items()), ("all", sum(judged.values(), []))]:
            inside = sum(ok for ok, _ in marks)
            gmean = math.exp(sum(lg for _, lg in marks) / len(marks)) if marks else math.nan
            share = inside / len(marks) if marks else math.nan
            print(f"  {name:16} {inside:>3}/{len(marks):<4} {share:6.0%} {gmean:6.3f}")
        print(f"  targets: every median inside timeit range x{WIDEN}; gmean within [0.9, 1.1]")


if __name__ == "__main__":
    main()
