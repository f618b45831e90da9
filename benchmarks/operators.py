"""The operators of physics-informed models: every new strategy timed twice, and the estimators'
error against the exact operator.

    .venv/bin/python benchmarks/operators.py              # every case, ~3-6 min on 2 cores
    .venv/bin/python benchmarks/operators.py --only lap   # cases whose label starts with "lap"
    .venv/bin/python benchmarks/operators.py --draws 100  # the estimators' error over 100 draws

Cases (float32, CPU unless JAX_PLATFORMS says otherwise; networks from configs/pinn.py):
  lap_d{1,2,16,128}  Laplacian of a tanh MLP [d, 64, 64, 1] at 4096 / 2048 / 512 / 128 points
                  (estimators with S = 4 probes at d = 16, 16 at d = 128, as configs/pinn.yaml)
  d4_x            d^4 u / dx^4 of an MLP u(x, t) [2, 64, 64, 1] at 1024 points (KS's term)
  ks_linear       u_t + u_xx + u_xxxx, the same u and points (one residual, three terms)
  mixed_xt        d^2 u / dx dt, the same u and points (a mixed partial: Taylor by polarization)
  biharmonic      Delta^2 u of an MLP [2, 32, 32, 1] at 512 points
  ntk_1d          NTK K(X, X) of the [1, 512, 1] tanh net at 200 points, parameters P = 1537

Each strategy is prepared, jitted and compiled (compile_s), checked against the task's
reference (adbench.strategies.check.cross_check, the run's own tolerances for float32), then
timed two ways: "adbench" is the median of adbench's own loop (adbench.measure.timing:
calibrate to >= 5 ms samples, then all of the case's strategies interleaved, rotating order,
--budget seconds); "timeit" is plain timeit (autorange >= 0.2 s per sample, --repeat samples,
median per call), run before and after adbench's loop, their geometric mean shown; both with
block_until_ready on the result. adbench/timeit is the fidelity figure (near 1 when adbench
times what a careful timeit does); "drift" = timeit after / before, how far the machine moved
while the two were measured (a fidelity is worth reading only when its drift is near 1).
"x best" divides by the fastest exact strategy's adbench median. Estimators (hutchinson, stde;
samples S in the label) are not checked equal: their relative error ||est - exact|| / ||exact||
over the case's points is given as mean +- std over --draws draws
(adbench.analysis.estimators.relative_error).
Sequential medians on a shared 2-core machine move by tens of percent (METHOD.md): read
factors, not digits, and say the machine's state with any figure quoted.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "configs")]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pinn  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from adbench.analysis.estimators import relative_error  # noqa: E402
from adbench.measure import timing  # noqa: E402
from adbench.strategies import (  # noqa: E402
    biharmonic,
    check,
    derivative,
    forward_laplacian,
    laplacian,
    ntk,
    stochastic,
)
from adbench.strategies.params import TaskParams, Term, bind  # noqa: E402

RTOL, ATOL = 2e-3, 1e-4  # float32 after several nested derivatives


@dataclass(frozen=True)
class Case:
    label: str
    task: str
    build: Callable[[], tuple[Any, Any]]  # -> (fn, x): fn of one point, x (B, d)
    strategies: tuple[Any, ...]
    reference: str
    params: TaskParams = field(default_factory=TaskParams)


def points(n: int, d: int, seed: int = 1) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, d)), jnp.float32)


LAPLACIANS = laplacian.STRATEGIES + forward_laplacian.STRATEGIES + stochastic.LAPLACIAN


def cases(samples: int | None) -> list[Case]:
    lap = [
        Case(
            f"lap_d{d}",
            "laplacian",
            lambda d=d, b=b: (pinn.pinn_u(d), points(b, d)),
            LAPLACIANS,
            "hessian_trace",
            TaskParams(samples=samples or s),
        )
        for d, b, s in ((1, 4096, 4), (2, 2048, 4), (16, 512, 4), (128, 128, 16))
    ]

    def ks() -> tuple[Any, Any]:
        return pinn.pinn_u(2), points(1024, 2)

    deriv = [
        Case(label, "derivative", ks, derivative.STRATEGIES, "nested_jacfwd", TaskParams(terms=t))
        for label, t in (
            ("d4_x", (Term((0, 0, 0, 0)),)),
            ("ks_linear", (Term((1,)), Term((0, 0)), Term((0, 0, 0, 0)))),
            ("mixed_xt", (Term((0, 1)),)),
        )
    ]
    bih = Case(
        "biharmonic",
        "biharmonic",
        lambda: (pinn.pinn_u(2, width=32), points(512, 2)),
        biharmonic.STRATEGIES + stochastic.BIHARMONIC,
        "hessian_of_hessian",
        TaskParams(samples=samples or 4),
    )
    return [*lap, *deriv, bih]


def per_call(run: Callable[[], Any], repeat: int) -> float:
    timer = timeit.Timer(run)
    number, _ = timer.autorange()
    return float(np.median(timer.repeat(repeat, number)) / number)


def adbench_medians(runners: dict[str, Callable[[], Any]], budget: float) -> dict[str, float]:
    clock = time.perf_counter
    n_inner = {
        k: timing.calibrate(r, min_sample_s=0.005, max_inner=10_000, clock=clock)
        for k, r in runners.items()
    }
    samples = timing.interleave(
        runners, n_inner, budget_s=budget, min_rounds=5, max_rounds=50, clock=clock
    )
    return {k: float(np.median(v)) for k, v in samples.items()}


def report(
    label: str,
    compiled: dict[str, tuple[float, Callable[[], Any]]],
    notes: dict[str, str],
    exact: set[str],
    args: argparse.Namespace,
) -> None:
    """One row per strategy. timeit runs before and after adbench's loop: "drift" (after /
    before) says how much the machine moved meanwhile, and the fidelity divides by their
    geometric mean, so a fidelity far from 1 with a drift near 1 is adbench's, not the load's."""
    runners = {k: r for k, (_, r) in compiled.items()}
    before = {k: per_call(r, args.repeat) for k, r in runners.items()}
    ours = adbench_medians(runners, args.budget)
    after = {k: per_call(r, args.repeat) for k, r in runners.items()}
    best = min(ours[k] for k in ours if k in exact)
    for k, (compile_s, _) in compiled.items():
        plain = math.sqrt(before[k] * after[k])
        print(
            f"{label:11} {k:32} {compile_s:8.2f} {ours[k] * 1e3:10.3f} {plain * 1e3:10.3f} "
            f"{ours[k] / plain:8.2f} {after[k] / before[k]:6.2f} {ours[k] / best:7.2f}  "
            f"{notes.get(k, '')}",
            flush=True,
        )


def operator_case(case: Case, args: argparse.Namespace) -> None:
    fn, xs = case.build()
    compiled: dict[str, tuple[float, Callable[[], Any]]] = {}
    values: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    estimators: list[str] = []
    for s in case.strategies:
        name = s.name
        if stochastic.is_estimator(case.task, name):
            name = f"{name} S={case.params.samples}"
            estimators.append(s.name)
        try:
            prepared = bind(s, case.params).prepare(fn, xs, batch=True)
            t0 = time.perf_counter()
            exe = jax.jit(prepared.fn).lower(xs).compile()
            compile_s = time.perf_counter() - t0
            value = jax.block_until_ready(exe(xs))
        except Exception as exc:  # a strategy that cannot run here is a row, not a crash
            print(f"{case.label:11} {name:32} failed: {str(exc).splitlines()[0][:80]}")
            continue
        compiled[name] = (compile_s, lambda exe=exe: jax.block_until_ready(exe(xs)))
        if s.name in estimators:
            continue
        values[name] = np.asarray(value, np.float64)
    verdicts = check.cross_check(values, list(values), case.reference, rtol=RTOL, atol=ATOL)
    for k, v in verdicts.items():
        notes[k] = "ok" if v.status is None else f"{v.status}: {v.reason}"
    exact_value = values[case.reference]
    for name in estimators:
        d = stochastic.draws(
            case.task, name, fn, xs, params=case.params, repeats=args.draws, batch=True
        )
        e = relative_error(d, exact_value)
        notes[f"{name} S={case.params.samples}"] = f"rel. error {e.mean:.3g} +- {e.std:.2g}"
    report(case.label, compiled, notes, set(values), args)


def ntk_case(args: argparse.Namespace) -> None:
    f, (params, x) = pinn.ntk_mlp(1, 1, width=512, n_points=200)
    theta, _ = ravel_pytree(params)
    compiled: dict[str, tuple[float, Callable[[], Any]]] = {}
    values: dict[str, np.ndarray] = {}
    for name in ntk.NAMES:
        prepared = ntk.prepare(name, f, params, x)
        t0 = time.perf_counter()
        exe = jax.jit(prepared.fn).lower(theta).compile()
        compile_s = time.perf_counter() - t0
        values[name] = np.asarray(exe(theta), np.float64)
        compiled[name] = (compile_s, lambda exe=exe: jax.block_until_ready(exe(theta)))
    verdicts = check.cross_check(values, list(values), ntk.REFERENCE, rtol=RTOL, atol=ATOL)
    notes = {
        k: "ok" if v.status is None else f"{v.status}: {v.reason}" for k, v in verdicts.items()
    }
    report("ntk_1d", compiled, notes, set(values), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="timeit samples per strategy, before and after"
    )
    parser.add_argument("--budget", type=float, default=1.0, help="adbench loop seconds per case")
    parser.add_argument("--draws", type=int, default=50, help="estimator draws for the error")
    parser.add_argument(
        "--samples", type=int, default=None, help="estimator probes S (default: per case)"
    )
    parser.add_argument("--only", default="", help="run cases whose label starts with this")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, float32; ms per call")
    print(
        f"{'case':11} {'strategy':32} {'compile':>8} {'adbench':>10} {'timeit':>10} "
        f"{'ad/timeit':>8} {'drift':>6} {'x best':>7}  check"
    )
    for case in cases(args.samples):
        if case.label.startswith(args.only):
            operator_case(case, args)
    if "ntk_1d".startswith(args.only):
        ntk_case(args)


if __name__ == "__main__":
    main()
