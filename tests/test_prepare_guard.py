"""The preparation guard: the sparse strategy's sparsity detection + colouring is bounded in memory
(the run's memory budget) and time; a breach is that strategy's `memory` / `timeout` row with a
clear reason, and the case's other strategies (and the run) go on. And the guard's own rules:
a preparation within its bounds returns its value, its own exception propagates, the exception
that stops it never escapes the guard nor lands after it, and JAX still works afterwards."""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adbench.config.cases import Case
from adbench.measure import prepare_guard
from adbench.measure.case import Settings, measure_case
from adbench.store import schema

CPU = jax.devices("cpu")[0]
FAST = Settings(time_budget_s=0.02, min_sample_s=0.0002, min_rounds=3, max_rounds=4)
N = 200
NAMES = ("jacfwd", "jacrev", "linearize", "sparse")

pytestmark = pytest.mark.skipif(
    prepare_guard.resident_bytes() is None, reason="resident memory is read from /proc"
)


def dense_net(d_in: int, d_out: int):
    """A 4-layer tanh network: every intermediate depends on every input, so asdex keeps one
    set of d_in indices per element (measured here: ~25 MB and ~1.8 s at n = 200), while its
    compiled Jacobians need well under 1 MiB."""
    w = jnp.asarray(np.random.default_rng(0).standard_normal((d_out, d_in)) / d_in**0.5)

    def f(x):
        y = jnp.tanh(w @ x)
        for _ in range(3):
            y = jnp.tanh(w @ y)
        return y

    return f


def case() -> Case:
    return Case("dense", N, N, "callable:test:dense_net", dense_net, strategies=NAMES)


def by_name(r):
    return {s.strategy: s for s in r.strategies}


def _over_budget() -> None:
    """In a fresh interpreter (``python tests/test_prepare_guard.py``): the guard reads the growth
    of resident memory, and a long-lived process (this test session) may hold enough freed memory
    to serve the detection without growing, so the breach is provoked where the baseline is
    known. Prints the outcome as JSON."""
    import json

    budget = 8 * 2**20  # 8 MiB: the dense strategies' XLA estimates fit, the detection does not
    t0 = time.monotonic()
    r = by_name(measure_case(case(), CPU, replace(FAST, max_memory_bytes=budget)))
    out = {n: [s.status, s.reason, len(s.samples)] for n, s in r.items()}
    print(json.dumps({"strategies": out, "elapsed": time.monotonic() - t0}))


def test_a_detection_over_the_memory_budget_is_refused_and_the_rest_is_measured():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    status, reason, _ = got["strategies"]["sparse"]
    assert status == schema.STATUS_MEMORY, reason
    assert reason.startswith("sparse preparation stopped after ")
    assert "over the 8 MiB it may use (the memory budget, --max-memory)" in reason
    for name in ("jacfwd", "jacrev", "linearize"):
        status, reason, n = got["strategies"][name]
        assert status == schema.STATUS_OK, (name, reason)
        assert n >= FAST.min_rounds
    assert got["elapsed"] < 60


def test_a_detection_past_the_time_limit_is_stopped(monkeypatch):
    monkeypatch.setattr(prepare_guard, "PREPARE_TIMEOUT_S", 0.3)
    r = by_name(measure_case(case(), CPU, FAST))
    sparse = r["sparse"]
    assert sparse.status == schema.STATUS_TIMEOUT, sparse.reason
    assert "still running after 0.3 s, the limit of a strategy's preparation" in sparse.reason
    assert all(r[n].status == schema.STATUS_OK for n in ("jacfwd", "jacrev", "linearize"))


def test_within_its_bounds_sparse_is_measured_as_before():
    r = by_name(
        measure_case(
            Case("dense", 12, 12, "callable:test:dense_net", dense_net, strategies=NAMES),
            CPU,
            replace(FAST, max_memory_bytes=2**30),
        )
    )
    assert r["sparse"].status == schema.STATUS_OK, r["sparse"].reason
    assert r["sparse"].info["colors"] == 12


def test_the_guard_returns_values_and_passes_exceptions_through():
    assert prepare_guard.bounded(lambda: 42, what="x", memory_bytes=2**30) == 42

    def bad():
        raise ValueError("the user's bug")

    with pytest.raises(ValueError, match="the user's bug"):
        prepare_guard.bounded(bad, what="x", memory_bytes=2**30)


def test_the_guard_returns_as_soon_as_the_preparation_does(monkeypatch):
    """The watchdog wakes when the preparation ends rather than at its next poll: with a poll
    of 60 s, a guard that waited for it would hold a microsecond preparation for a minute (in
    the default run it held each of 16 trivial preparations for up to POLL_S)."""
    import threading

    monkeypatch.setattr(prepare_guard, "POLL_S", 60.0)
    got: list[int] = []
    worker = threading.Thread(
        target=lambda: got.append(
            prepare_guard.bounded(lambda: 7, what="quick", memory_bytes=1 << 40, seconds=None)
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=20.0)
    assert got == [7]
    assert not any(t.name == "adbench-prepare-guard" for t in threading.enumerate())


def test_a_preparation_that_swallows_exceptions_is_still_stopped():
    def stubborn():
        t = time.monotonic()
        with contextlib.suppress(BaseException):  # what a careless library might do, once
            busy(20)
        while time.monotonic() - t < 20:
            with contextlib.suppress(Exception):  # the common careless catch: not ours
                sum(range(1000))
        return "never"

    t0 = time.monotonic()
    with pytest.raises(prepare_guard.PreparationRefused) as info:
        prepare_guard.bounded(stubborn, what="stubborn preparation", memory_bytes=None, seconds=0.2)
    assert time.monotonic() - t0 < 5
    assert info.value.refusal.status == schema.STATUS_TIMEOUT


def busy(seconds: float) -> None:
    t = time.monotonic()
    while time.monotonic() - t < seconds:
        pass


def test_nothing_lands_after_the_guard_and_jax_still_works():
    f = dense_net(30, 30)

    def trace_then_spin():
        jax.make_jaxpr(jax.jacrev(f))(jnp.ones(30))
        busy(5)

    for seconds in (0.0, 0.01, 0.05):  # stopped inside JAX's tracing or after it
        with pytest.raises(prepare_guard.PreparationRefused):
            prepare_guard.bounded(trace_then_spin, what="x", memory_bytes=None, seconds=seconds)
        busy(2 * prepare_guard.REPEAT_S)  # a late exception would land here
    # a preparation that ends just as the watchdog acts: its value, or a refusal, nothing else
    for _ in range(8):
        with contextlib.suppress(prepare_guard.PreparationRefused):
            got = prepare_guard.bounded(
                lambda: busy(0.02), what="x", memory_bytes=None, seconds=0.02
            )
            assert got is None
    busy(2 * prepare_guard.REPEAT_S)
    assert jax.jacfwd(f)(jnp.ones(30)).shape == (30, 30)


def test_memory_limit_is_capped_by_what_is_available(monkeypatch):
    monkeypatch.setattr(prepare_guard.memory, "available_bytes", lambda: 5 * 2**30)
    assert prepare_guard.memory_limit(8 * 2**30) == 5 * 2**30
    assert prepare_guard.memory_limit(2**30) == 2**30
    assert prepare_guard.memory_limit(None) is None


if __name__ == "__main__":
    _over_budget()
