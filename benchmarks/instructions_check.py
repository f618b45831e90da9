"""Are callgrind instruction counts stable, sensitive where XLA's counts are blind, and cheap?

    .venv/bin/python benchmarks/instructions_check.py          # (a) (b) (c): 6-8.5 min, 2 cores
    .venv/bin/python benchmarks/instructions_check.py --flags  # the settings study: ~4.5 min

Drives adbench/count/instructions.py (one valgrind'd process per run) and prints:

(a) stability: jacfwd/jacrev of a 64x64 tanh-linear map and of a 40-step lax.scan RNN, counted
    in 2 separate valgrind processes x 3 repetitions: the spread of instructions per call within
    a process ((max - min) / median over the repetitions) and between the processes' medians;
(b) sensitivity: the RNN x -> C h_T, h <- tanh(W h), d_in 64, d_out 256, with 40 and 60 steps:
    XLA's cost_analysis flops and bytes (the same, the loop body is counted once) next to
    instructions per call (about 1.5x apart);
(c) cost: wall time of one valgrind'd process counting configs/ci.yaml's 13 cases x 2 modes,
    split into the JAX import, tracing + compiling (instrumentation off), and counting; run
    twice, which is also an A/A check of the whole config: how far apart the medians land.

``--flags`` compares worker settings on the (a) cases, one process each: pinned to one CPU (the
choice), not pinned, pinned with XLA's Eigen single-threaded, pinned with JAX's CPU dispatch
synchronous, pinned with valgrind's --fair-sched=yes; spreads with idle-pool spinning filtered
(adbench.count.valgrind.IDLE_FUNCTIONS) and counted. Then the share of each count that the calling
thread executes (--separate-threads=yes dumps that thread only): what is left ran on XLA's pool
threads and is counted. Figures, not assertions.

Last run (valgrind 3.19, jax 0.10.2, Python 3.11, a shared 2-core AMD EPYC VM):
(a) within a process <= 0.58% (64x64 linear), <= 0.11% (RNN); between processes <= 0.18%;
    with idle spinning counted, up to 28%.
(b) flops x1.000 (fwd and rev), bytes x1.000 / x1.016, native time x1.26 / x1.25 (noisy),
    instructions x1.455 / x1.452 in both processes.
(c) 133-138 s per process under load (84 s on a quieter machine): import 6-10 s, trace/compile
    56-72 s, counting 53-69 s. A/A medians <= 0.85% apart; 2 of 52 label spreads > 5%, from one
    glibc malloc_consolidate burst each, which the median absorbs.
--flags: not pinned: 2.2x the instructions of a small case and 13-16% spread; pinned, the three
    other settings moved medians by <= 0.7%; the calling thread executes 29-30% of a 64x64 case's
    count and 0.4-1.2% of the RNN's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from adbench.count import instructions as ins  # noqa: E402

MODES = ("jacfwd", "jacrev")
STABILITY = [("lin64", "linear", 64, 64, 0), ("rnn40", "rnn", 64, 256, 40)]
SENSITIVITY = [("rnn40", "rnn", 64, 256, 40), ("rnn60", "rnn", 64, 256, 60)]


def make_fn(kind: str, d_in: int, d_out: int, steps: int) -> Any:
    """x: (d_in,) -> (d_out,). 'linear': tanh(A x). 'rnn': C h_T, h_0 = x, h <- tanh(W h)."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    if kind == "linear":
        a = jnp.asarray(rng.normal(0, d_in**-0.5, (d_out, d_in)), dtype=jnp.float32)
        return lambda x: jnp.tanh(a @ x)
    w = jnp.asarray(rng.normal(0, d_in**-0.5, (d_in, d_in)), dtype=jnp.float32)
    c = jnp.asarray(rng.normal(0, d_in**-0.5, (d_out, d_in)), dtype=jnp.float32)

    def fn(x: Any) -> Any:
        h_t, _ = jax.lax.scan(lambda h, _: (jnp.tanh(w @ h), None), x, None, length=steps)
        return c @ h_t

    return fn


def _compile(fn: Any, d_in: int, mode: str) -> tuple[Any, Any]:
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(1).standard_normal(d_in), dtype=jnp.float32)
    transform = jax.jacfwd if mode == "jacfwd" else jax.jacrev
    return jax.jit(transform(fn)).lower(x).compile(), x


def build_jobs(cases: list[list[Any]]) -> list[ins.Job]:
    """The worker's builder: cases [name, kind, d_in, d_out, steps] x MODES, compiled."""
    jobs = []
    for name, kind, d_in, d_out, steps in cases:
        for mode in MODES:
            compiled, x = _compile(make_fn(kind, d_in, d_out, steps), d_in, mode)
            compiled(x).block_until_ready()
            jobs.append(ins.Job(f"{name} {mode}", lambda c=compiled, x=x: c(x).block_until_ready()))
    return jobs


def build_ci_jobs() -> list[ins.Job]:
    """The worker's builder for (c): configs/ci.yaml's cases x MODES, made as `adbench run` does."""
    import jax
    import jax.numpy as jnp

    try:  # the package is being restructured; either layout
        from adbench.config.cases import expand  # type: ignore[import-not-found]
        from adbench.config.model import load_config  # type: ignore[import-not-found]
    except ImportError:
        from adbench.cases import expand

        from adbench.config import load_config

    loaded = load_config(str(REPO / "configs" / "ci.yaml"))
    jobs = []
    for case in expand(loaded):
        made = case.factory(case.d_in, case.d_out, **dict(case.params))
        fn, x0 = made if isinstance(made, tuple) else (made, None)
        if x0 is None:
            x0 = np.random.default_rng(0).standard_normal(case.d_in)
        x = jnp.asarray(x0, dtype=loaded.config.dtype)
        for mode in MODES:
            transform = jax.jacfwd if mode == "jacfwd" else jax.jacrev
            compiled = jax.jit(transform(fn)).lower(x).compile()
            compiled(x).block_until_ready()
            label = f"{case.family}/{case.d_in}x{case.d_out} {mode}"
            jobs.append(ins.Job(label, lambda c=compiled, x=x: c(x).block_until_ready()))
    return jobs


def count(builder: str, kwargs: dict[str, Any], **options: Any) -> ins.Counted:
    """One valgrind'd process counting a builder's jobs (options: WorkerSpec fields, and
    run_under_valgrind's env / extra_flags)."""
    run_opts = {k: options.pop(k) for k in ("env", "extra_flags") if k in options}
    spec = ins.WorkerSpec(
        builder=f"instructions_check:{builder}", kwargs=kwargs, sys_path=(str(HERE),), **options
    )
    with tempfile.TemporaryDirectory() as tmp:
        return ins.run_under_valgrind(spec, workdir=Path(tmp), timeout=1800, **run_opts)


def raw_spread(counted: ins.Counted, label: str) -> float:
    """The spread a label would have with idle spinning counted (what the filter removes)."""
    per_call = [(r.instructions + r.idle) / r.calls for r in counted.regions if r.label == label]
    return (max(per_call) - min(per_call)) / statistics.median(per_call)


def xla_costs(kind: str, d_in: int, d_out: int, steps: int, mode: str) -> dict[str, float]:
    """XLA's flops and bytes accessed, and the native median seconds per call (21 x 20 calls)."""
    import timeit

    compiled, x = _compile(make_fn(kind, d_in, d_out, steps), d_in, mode)
    ca = compiled.cost_analysis()
    ca = ca[0] if isinstance(ca, list | tuple) else ca
    compiled(x).block_until_ready()
    times = timeit.repeat(lambda: compiled(x).block_until_ready(), number=20, repeat=21)
    return {
        "flops": float(ca["flops"]),
        "bytes": float(ca["bytes accessed"]),
        "seconds": statistics.median(times) / 20,
    }


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def report_stability(runs: list[ins.Counted], labels: list[str]) -> None:
    print("\n(a) stability: instructions per call, 2 processes x 3 repetitions")
    print(f"{'case x mode':16} {'process 1':>12} {'process 2':>12} {'within':>8} {'between':>8}")
    for label in labels:
        c1, c2 = (run.counts[label] for run in runs)
        between = abs(c1.median - c2.median) / min(c1.median, c2.median)
        within = max(c1.spread, c2.spread)
        print(f"{label:16} {c1.median:12.0f} {c2.median:12.0f} {pct(within):>8} {pct(between):>8}")
    worst = max(max(raw_spread(run, label) for run in runs) for label in labels)
    calls = sorted({c.calls for run in runs for c in run.counts.values()})
    print(f"  calls per region {calls}; worst spread with idle spinning counted: {pct(worst)}")


def report_sensitivity(runs: list[ins.Counted]) -> None:
    print("\n(b) sensitivity: RNN 64 -> 256, 40 vs 60 lax.scan steps")
    print(
        f"{'mode':8} {'flops 60/40':>12} {'bytes 60/40':>12} {'time 60/40':>11} {'instr 60/40':>12}"
    )
    for mode in MODES:
        short = xla_costs("rnn", 64, 256, 40, mode)
        long = xla_costs("rnn", 64, 256, 60, mode)
        instr = [run.counts[f"rnn60 {mode}"].median / run.counts[f"rnn40 {mode}"].median
                 for run in runs]  # fmt: skip
        flops, nbytes = long["flops"] / short["flops"], long["bytes"] / short["bytes"]
        seconds = long["seconds"] / short["seconds"]
        cells = " ".join(f"{r:.3f}" for r in instr)
        print(f"{mode:8} {flops:12.3f} {nbytes:12.3f} {seconds:11.2f} {cells:>12}")


def report_cost(runs: list[ins.Counted]) -> None:
    n = len(runs[0].counts)
    print(f"\n(c) cost: configs/ci.yaml, {n} case x mode, one valgrind'd process each, twice")
    for run in runs:
        s = run.seconds
        print(
            f"  wall {run.wall_s:.0f} s = JAX import {s['import']:.0f} s + trace/compile "
            f"{s['build']:.0f} s + counting {s['count']:.0f} s + start/exit "
            f"{run.wall_s - sum(s.values()):.0f} s"
        )
    a, b = (run.counts for run in runs)
    between = {
        lab: abs(a[lab].median - b[lab].median) / min(a[lab].median, b[lab].median) for lab in a
    }
    worst_between = max(between, key=between.__getitem__)
    spreads = [c.spread for run in runs for c in run.counts.values()]
    worst = max((c for run in runs for c in run.counts.values()), key=lambda c: c.spread)
    print(
        f"  A/A, same code in 2 processes: medians differ by <= {pct(between[worst_between])} "
        f"({worst_between}); spread within a process > 5% for {sum(x > 0.05 for x in spreads)}"
        f" of {len(spreads)}, worst {pct(worst.spread)} ({worst.label})"
    )


def flags_study() -> None:
    cases = [list(c) for c in STABILITY]
    labels = [f"{c[0]} {m}" for c in STABILITY for m in MODES]
    variants: dict[str, dict[str, Any]] = {
        "pinned to 1 CPU (chosen)": {},
        "not pinned (2 CPUs here)": {"one_cpu": False},
        "pinned, Eigen single-threaded": {
            "env": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
        },
        "pinned, JAX dispatch synchronous": {"env": {"JAX_CPU_ENABLE_ASYNC_DISPATCH": "false"}},
        "pinned, --fair-sched=yes": {"extra_flags": ["--fair-sched=yes"]},
    }
    print("\nsettings, one process each: median instructions per call, and spread over 3")
    print(f"repetitions with idle spinning filtered / counted ({', '.join(labels)})")
    chosen = None
    for name, options in variants.items():
        run = count("build_jobs", {"cases": cases}, **options)
        chosen = chosen or run
        spreads = [f"{pct(run.counts[lab].spread)}/{pct(raw_spread(run, lab))}" for lab in labels]
        medians = [f"{run.counts[lab].median:.0f}" for lab in labels]
        print(f"  {name:34} {' '.join(medians)}  ({run.wall_s:.0f} s)")
        print(f"  {'':34} {' '.join(spreads)}")
    assert chosen is not None
    own = count("build_jobs", {"cases": cases}, extra_flags=["--separate-threads=yes"])
    shares = [f"{own.counts[lab].median / chosen.counts[lab].median:.3f}" for lab in labels]
    print("\nthreads: a dump with --separate-threads=yes holds the calling thread only; its count")
    print(f"over the all-threads count (--separate-threads=no): {' '.join(shares)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", action="store_true", help="run the settings study instead")
    args = parser.parse_args()
    ins.require_valgrind()
    print(f"{ins.valgrind_version()}; host {ins.host_cpu()[0]}; worker env {ins.WORKER_ENV}")
    print(f"valgrind {' '.join(ins.VALGRIND_FLAGS)}")
    if args.flags:
        flags_study()
        return
    started = time.perf_counter()
    cases = [list(c) for c in STABILITY + SENSITIVITY[1:]]
    runs = [count("build_jobs", {"cases": cases}) for _ in range(2)]
    print(f"CPU under valgrind: {runs[0].cpu_seen}")
    report_stability(runs, [f"{c[0]} {m}" for c in STABILITY + SENSITIVITY[1:] for m in MODES])
    report_sensitivity(runs)
    report_cost([count("build_ci_jobs", {}) for _ in range(2)])
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
