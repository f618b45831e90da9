"""Jobs for the instruction-counting tests, importable by the valgrind'd worker (its builder).

Kept apart from the test module so the worker does not import pytest under valgrind.
"""

from __future__ import annotations

from typing import Any

from adbench.count.instructions import Job


def scan_jobs(steps: list[int], d: int = 32) -> list[Job]:
    """jacfwd of x: (d,) -> h_T: (d,), h_0 = x, h <- tanh(W h), one job per step count.

    The step counts leave XLA's flops unchanged (a loop body is counted once) and scale the work
    done on XLA's threads: what an instruction count must see.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    w = jnp.asarray(np.random.default_rng(0).normal(0, d**-0.5, (d, d)), dtype=jnp.float32)
    x = jnp.ones((d,), dtype=jnp.float32)
    jobs = []
    for n in steps:

        def fn(h: Any, n: int = n) -> Any:
            return jax.lax.scan(lambda h, _: (jnp.tanh(w @ h), None), h, None, length=n)[0]

        compiled = jax.jit(jax.jacfwd(fn)).lower(x).compile()
        jobs.append(Job(f"scan{n} jacfwd", lambda c=compiled: c(x).block_until_ready()))
    return jobs
