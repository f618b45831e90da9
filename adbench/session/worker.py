"""Measure cases in a child process, so a case that runs too long can be stopped (--case-timeout).

Why a process and not a thread or an alarm: tracing, compiling and running a Jacobian spend
their time in XLA's C++ code. Python handles signals only between bytecodes and cannot kill a
thread, so neither SIGALRM nor a watchdog thread can stop a compile that takes an hour. A child
process can be killed at any moment, and the parent, which alone writes the results files, goes
on with the next case. The same isolation turns a crash of the measuring process (a segfault in
a user's extension, the kernel's OOM killer) into one failed case instead of a lost sweep.

The child is started with ``spawn`` (forking a process that has loaded JAX is unsafe), imports
JAX and the run file's factories once, and then measures case after case; only a timeout or a
crash costs a fresh one. Its start-up is not counted against the timeout. It ignores Ctrl-C:
the parent handles that and kills it.

Without --case-timeout, cases are measured in the parent process (see adbench.sweep), which
is faster to start and keeps tracebacks of adbench's own bugs simple.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from adbench.config.cases import Case
from adbench.config.model import LoadedConfig
from adbench.measure.case import Settings
from adbench.measure.outcome import CaseResult, failed_case, this_host
from adbench.store import schema

# Seconds the child may take to import JAX and the user's factories before a case is sent.
START_TIMEOUT_S = 300.0
_PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"
_saved_env: dict[str, str | None] = {}


def prepare_parent() -> None:
    """Call before the parent process initialises JAX when cases will run in a child.

    On a GPU, JAX preallocates 75% of the device's memory in every process; the parent only
    needs to list devices, so it must not hold that memory while the child measures. The
    child gets the environment as the user set it.
    """
    if _PREALLOCATE not in _saved_env:
        _saved_env[_PREALLOCATE] = os.environ.get(_PREALLOCATE)
        os.environ.setdefault(_PREALLOCATE, "false")


@contextlib.contextmanager
def _child_environment() -> Iterator[None]:
    changed = {k: os.environ.get(k) for k in _saved_env}
    for key, value in _saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in changed.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class _Job:
    case_id: str
    platform: str
    device_id: int
    # the sizes, for a case of a searched family the run file does not list (adbench.config.search)
    family: str = ""
    d_in: int = 0
    d_out: int = 0


def _die_with_parent() -> None:
    """Linux: have the kernel kill this process when its parent dies (even by kill -9)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _child(conn: Any, loaded: LoadedConfig, settings: Settings) -> None:
    """The child's main loop: receive a _Job, send back ('done', fields) or ('failed', why)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    try:
        import jax

        from adbench.config.cases import expand
        from adbench.errors import first_line
        from adbench.measure.case import measure_case
        from adbench.measure.devices import use_cpu_dispatch

        use_cpu_dispatch(loaded.config.cpu_dispatch)  # a fresh process: the run's own mode
        if settings.dtype == "float64":
            jax.config.update("jax_enable_x64", True)
        cases = {c.case_id: c for c in expand(loaded)}
        templates = {c.family: c for c in cases.values()}
    except BaseException as exc:  # reported to the parent, which goes on
        conn.send(("failed", f"the measuring process could not start: {type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if job is None:
            return
        try:
            device = next(d for d in jax.devices(job.platform) if d.id == job.device_id)
            case = cases.get(job.case_id) or replace(
                templates[job.family], d_in=job.d_in, d_out=job.d_out
            )
            with jax.default_device(device):
                r = measure_case(case, device, settings)
            reply: tuple[str, Any] = (
                "done",
                (r.device, r.device_kind, r.platform, r.dtype, r.jit, r.strategies, r.started_at),
            )
        except Exception as exc:
            reply = ("failed", f"adbench failed on this case: {first_line(exc)}")
        except BaseException as exc:  # SystemExit from user code: that case's error, go on
            reply = ("failed", f"the case raised {first_line(exc)} (user code called sys.exit()?)")
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"the measuring process was killed by {name}{hint}"
    return f"the measuring process exited with code {exitcode}"


class Worker:
    """A reusable child process that measures one case at a time, each within a deadline."""

    def __init__(self, loaded: LoadedConfig, settings: Settings) -> None:
        self.loaded = loaded
        self.settings = settings
        self._proc: Any = None
        self._conn: Any = None

    def _start(self) -> str | None:
        """Start the child and wait until it is ready; a reason if it could not start."""
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_child,
            args=(child, self.loaded, self.settings),
            name="adbench-worker",
            daemon=True,
        )
        with _child_environment():
            proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        if not parent.poll(START_TIMEOUT_S):
            self.close()
            return f"the measuring process did not start within {START_TIMEOUT_S:g} s"
        try:
            kind, why = parent.recv()
        except (EOFError, OSError):
            kind, why = "failed", _death(self._stop())
        if kind != "ready":
            self.close()
            return str(why)
        return None

    def measure(self, case: Case, device: Any, timeout_s: float) -> CaseResult:
        """Measure `case` on `device` in the child; status timeout if it takes over `timeout_s`
        seconds, status error if the child dies. Never raises for the case's faults."""
        where: dict[str, Any] = dict(
            device=f"{device.platform}:{device.id}",
            device_kind=str(device.device_kind),
            platform=str(device.platform),
            dtype=self.settings.dtype,
            jit=self.settings.jit,
            host=this_host(),
        )

        def failed(status: str, reason: str) -> CaseResult:
            return failed_case(case, status, reason, **where)

        if self._proc is None:
            problem = self._start()
            if problem is not None:
                return failed(schema.STATUS_ERROR, problem)
        job = _Job(
            case.case_id, str(device.platform), int(device.id), case.family, case.d_in, case.d_out
        )
        try:
            self._conn.send(job)
        except OSError:  # the child died while idle: start another, once
            self._stop()
            problem = self._start()
            if problem is not None:
                return failed(schema.STATUS_ERROR, problem)
            self._conn.send(job)
        if not self._conn.poll(timeout_s):
            self._stop()
            return failed(
                schema.STATUS_TIMEOUT,
                f"did not finish within --case-timeout {timeout_s:g} s; stopped",
            )
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            return failed(schema.STATUS_ERROR, _death(self._stop()))
        if kind != "done":
            return failed(schema.STATUS_ERROR, str(payload))
        dev, kind_, platform, dtype, jit, results, started_at = payload
        where.update(device=dev, device_kind=kind_, platform=platform, dtype=dtype, jit=jit)
        return CaseResult(
            case=case, **where, strategies=results, started_at=started_at, ended_at=time.time()
        )

    def _stop(self) -> int | None:
        """Kill the child now; its exit code."""
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is None:
            return None
        if proc.is_alive():
            proc.kill()
        proc.join(10)
        return proc.exitcode

    def close(self) -> None:
        """Ask the child to stop, killing it if it does not within a second."""
        if self._proc is not None and self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
            self._proc.join(1)
        self._stop()
