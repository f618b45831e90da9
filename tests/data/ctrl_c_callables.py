"""Factories for the Ctrl-C tests (tests/session/test_ctrl_c.py): a main thread that cannot
answer a signal, and a compile that takes long.

ADBENCH_TEST_MARKER names a file each factory writes when it is called, so the test knows the
run reached it; ADBENCH_TEST_STUCK=1 makes `stuck` hang (a --resume then runs it normally).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import jax.numpy as jnp


def _mark() -> None:
    marker = os.environ.get("ADBENCH_TEST_MARKER")
    if marker:
        Path(marker).write_text("called", encoding="utf-8")


def stuck(d_in, d_out):
    """Blocks SIGINT in the main thread, then sleeps: like XLA compiling for minutes in C++, the
    main thread never runs Python's signal handler; the kernel hands the signal to another
    thread."""
    if os.environ.get("ADBENCH_TEST_STUCK") == "1":
        _mark()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            time.sleep(300)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return lambda x: jnp.tanh(x).sum() * jnp.ones(d_out)


def slow_compile(d_in, d_out):
    """~1500 unrolled ops: tracing a strategy takes 1-8 s and XLA's CPU compile of it 1-20 s on
    2 shared cores (measured here: 1.1 s on a quiet moment, 19.5 s for the plain function at
    load average 9); the test interrupts it once JAX has handed the module to XLA."""
    _mark()

    def f(x):
        for i in range(1500):
            x = jnp.sin(x * (1.0 + i * 1e-4)) + jnp.cos(x[::-1]) * 0.5
        return x[:d_out]

    return f
