"""Time every strategy of adbench/strategies/registry.py on the cases behind its claims.

    .venv/bin/python benchmarks/strategies_micro.py            # ~70 s on 2 cores
    .venv/bin/python benchmarks/strategies_micro.py --repeat 9 # tighter medians

Cases (float32, CPU unless JAX_PLATFORMS says otherwise):
  jacobian   Broyden tridiagonal residual R^3000 -> R^3000; chunked strategies at chunk 256
  hessian    extended Rosenbrock (independent pairs), n = 200
  laplacian  MLP u: R^d -> R (two tanh layers of 32), d in {2, 8, 32}, batch of 256 points
  batch      sparse Jacobian of Broyden n = 3000 over 32 points: the batched BCOO with one shared
             copy of the indices (what Prepared returns) against a plain jax.vmap (indices repeated)

Each strategy is prepared (setup_s: sparse detection + colouring, after one warm-up detection on a
tiny function so JAX's first-use cost is not charged to the first case), lowered and compiled
(compile_s), checked against the task's reference, then timed with timeit: the inner loop count
from autorange (>= 0.2 s per sample), --repeat samples, median per call, block_until_ready on the
whole result. "x best dense" divides by the fastest dense strategy of the case. Sequential medians
on a shared 2-core machine move by tens of percent (docs/METHOD.md): read factors, not digits.
The claims checked at the end: sparse >= 10x faster than the best dense for the tridiagonal
Jacobian; rev_over_fwd >= 100x slower than fwd_over_rev for the Hessian.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from adbench.strategies import registry as S  # noqa: E402

CHUNK = 256


def broyden(x: jax.Array) -> jax.Array:
    """Broyden tridiagonal residual: R^n -> R^n, Jacobian nnz = 3n - 2."""
    xp = jnp.pad(x, 1)
    return (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1


def extended_rosenbrock(x: jax.Array) -> jax.Array:
    """sum over pairs of 100 (x_2i+1 - x_2i^2)^2 + (1 - x_2i)^2: R^n -> R, 2x2 Hessian blocks."""
    a, b = x[0::2], x[1::2]
    return jnp.sum(100 * (b - a**2) ** 2 + (1 - a) ** 2)


def mlp(d: int, width: int = 32) -> Callable[[jax.Array], jax.Array]:
    rng = np.random.default_rng(d)
    w1 = jnp.asarray(rng.normal(size=(width, d)) / np.sqrt(d), jnp.float32)
    w2 = jnp.asarray(rng.normal(size=(width, width)) / np.sqrt(width), jnp.float32)
    w3 = jnp.asarray(rng.normal(size=width) / np.sqrt(width), jnp.float32)
    b1 = jnp.asarray(rng.normal(size=width), jnp.float32)

    def u(x: jax.Array) -> jax.Array:
        return w3 @ jnp.tanh(w2 @ jnp.tanh(w1 @ x + b1))

    return u


def per_call(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds per call over ``repeat`` samples of an autoranged inner loop."""
    timer = timeit.Timer(lambda: jax.block_until_ready(fn()))
    number, _ = timer.autorange()
    return float(np.median(timer.repeat(repeat, number)) / number)


def bench(
    label: str, task: str, fn: Callable, x: jax.Array, *, batch: bool, repeat: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ref = None
    for name in S.names(task):  # the reference comes first in every task
        strategy = S.get(task, name)
        prepared = strategy.prepare(
            fn, x, chunk_size=CHUNK if strategy.chunked else None, batch=batch
        )
        start = time.perf_counter()
        compiled = jax.jit(prepared.fn).lower(x).compile()
        compile_s = time.perf_counter() - start
        value = prepared.to_dense(compiled(x))
        if ref is None:
            ref = value
        scale = max(1.0, float(np.max(np.abs(ref))))
        ok = bool(np.allclose(value, ref, rtol=1e-3, atol=1e-4 * scale))
        run_s = per_call(partial(compiled, x), repeat)
        rows.append(
            {"case": label, "strategy": name, "dense": strategy.dense, "ok": ok,
             "setup_s": prepared.setup_s, "compile_s": compile_s, "run_s": run_s,
             "info": dict(prepared.info)}
        )  # fmt: skip
        print(f"  {label:<28} {name:<15} {run_s * 1e3:10.3f} ms", file=sys.stderr)
    best = min(r["run_s"] for r in rows if r["dense"])
    for r in rows:
        r["vs_best_dense"] = r["run_s"] / best
    return rows


def bench_sparse_batch(repeat: int) -> list[dict[str, Any]]:
    n, b = 3000, 32
    xs = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, size=(b, n)), jnp.float32)
    strategy = S.get("jacobian", "sparse")
    shared = strategy.prepare(broyden, xs, batch=True)
    plain = jax.vmap(strategy.prepare(broyden, xs[0]).fn)
    rows = []
    for name, fn in (("shared indices", shared.fn), ("plain vmap", plain)):
        compiled = jax.jit(fn).lower(xs).compile()
        out = compiled(xs)
        mem = compiled.memory_analysis()
        rows.append(
            {"case": f"sparse batch n={n} B={b}", "strategy": name, "run_s": per_call(
                partial(compiled, xs), repeat), "indices": tuple(out.indices.shape),
             "out_bytes": getattr(mem, "output_size_in_bytes", float("nan"))}
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timing samples per strategy")
    args = parser.parse_args()
    S.get("jacobian", "sparse").prepare(broyden, jnp.ones(8))  # warm-up, see the docstring

    rng = np.random.default_rng(0)
    rows = bench(
        "jacobian broyden n=3000", "jacobian", broyden,
        jnp.asarray(rng.uniform(-1, 1, 3000), jnp.float32), batch=False, repeat=args.repeat,
    )  # fmt: skip
    rows += bench(
        "hessian ext-rosenbrock n=200", "hessian", extended_rosenbrock,
        jnp.asarray(rng.uniform(-1, 1, 200), jnp.float32), batch=False, repeat=args.repeat,
    )  # fmt: skip
    for d in (2, 8, 32):
        xs = jnp.asarray(rng.uniform(-1, 1, (256, d)), jnp.float32)
        rows += bench(
            f"laplacian mlp d={d} B=256", "laplacian", mlp(d), xs, batch=True, repeat=args.repeat
        )

    print(f"{'case':<29} {'strategy':<15} {'run ms':>10} {'x best dense':>12} {'compile s':>9} "
          f"{'setup s':>8} {'ok':>3}  info")  # fmt: skip
    for r in rows:
        info = " ".join(f"{k}={v}" for k, v in r["info"].items())
        print(
            f"{r['case']:<29} {r['strategy']:<15} {r['run_s'] * 1e3:10.3f} "
            f"{r['vs_best_dense']:12.3g} {r['compile_s']:9.2f} {r['setup_s']:8.3f} "
            f"{'yes' if r['ok'] else 'NO':>3}  {info}"
        )
    print()
    for r in bench_sparse_batch(args.repeat):
        print(
            f"{r['case']:<29} {r['strategy']:<15} {r['run_s'] * 1e3:10.3f} ms  "
            f"indices {r['indices']}  output {r['out_bytes'] / 1e6:.1f} MB"
        )

    def run_s(case: str, strategy: str) -> float:
        return next(r["run_s"] for r in rows if r["case"] == case and r["strategy"] == strategy)

    jac = [r for r in rows if r["case"].startswith("jacobian")]
    best_dense = min(r["run_s"] for r in jac if r["dense"])
    speedup = best_dense / run_s(jac[0]["case"], "sparse")
    hess = "hessian ext-rosenbrock n=200"
    slowdown = run_s(hess, "rev_over_fwd") / run_s(hess, "fwd_over_rev")
    print()
    print(f"claim: sparse >= 10x faster than best dense (tridiagonal): {speedup:.1f}x "
          f"-> {'holds' if speedup >= 10 else 'FAILS'}")  # fmt: skip
    print(f"claim: rev_over_fwd >= 100x slower than fwd_over_rev (n=200): {slowdown:.0f}x "
          f"-> {'holds' if slowdown >= 100 else 'FAILS'}")  # fmt: skip


if __name__ == "__main__":
    main()
