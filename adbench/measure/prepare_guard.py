"""The preparation guard: a strategy's one-off preparation, bounded in memory and time.

Why: the memory guard (:mod:`adbench.measure.memory`) reads XLA's memory analysis of *compiled*
code; a strategy's preparation runs before anything is compiled, and one of them is heavy. The
sparse strategy's preparation is asdex's sparsity detection and colouring: it interprets the
jaxpr in Python with one set of input indices per element of every intermediate array, so its
memory grows as (intermediate elements) x (inputs each depends on). On the Gauss–Newton Jacobian
of a Laplacian residual with respect to 7851 network parameters at 32 points it reached 23 GB
and the kernel killed the whole run (issue 18, item 4). Measured here (2-core CPU, jax 0.10.2,
asdex; loaded machine): a dense 3-layer tanh network, n = 200 -> 25 MB in 1.8 s, n = 1000 ->
270 MB in 26 s; banded problems of n = 2000-3000, what sparse AD is for, 0.1-0.9 s
(docs/hardening-notes.md). An up-front estimate would have to bound every index set by d_in,
which refuses exactly those banded problems; so the preparation is watched while it runs.

How: :func:`bounded` runs the preparation in the calling thread while a watchdog thread samples
the process's resident memory (``/proc/self/statm``) and the clock every ``POLL_S``. On a breach
it raises :class:`PreparationLimit` in the preparing thread (CPython's
``PyThreadState_SetAsyncExc``), which lands at that thread's next function call or loop jump:
detection is pure Python over the jaxpr, so within a poll or so; the memory overshoot is what it
allocates meanwhile. The exception is a BaseException, so no ``except Exception`` in asdex or JAX
swallows it, and is raised again every ``REPEAT_S`` while the preparation goes on. The watchdog
raises only while the preparing thread is inside the preparation (it checks the thread's frames
with the interpreter lock held), so the exception never lands in the guard's own code or after
it. Compiled code (numba's colouring, XLA) cannot be interrupted: a breach lands when it returns.
The preparation unwinds and its memory is freed (its index sets die with its frames), JAX's
trace state is reset if the exception left it dirty, and the strategy is recorded as refused
(status ``memory``) or timed out (``timeout``) with the reason; the case's other strategies and
the run go on.

Why not a child process: forking a process that has loaded JAX is unsafe (XLA's thread pools are
not copied into the child; CUDA refuses a forked child, see adbench.session.worker), and a
spawned one would need the user's function pickled (closures over device arrays, modules loaded
from a path) and a fresh JAX import, seconds per case.

Bounds. Memory: the growth of resident memory during the preparation may not exceed the run's
memory budget (``--max-memory``; by default half of the memory available when the run started,
:func:`adbench.measure.memory.default_budget`), nor the memory available now; ``--max-memory
off`` leaves only the time bound. Time: ``PREPARE_TIMEOUT_S``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from adbench.measure import memory
from adbench.store import schema

T = TypeVar("T")

# 60 s: about 60x the slowest detection + colouring measured on the banded problems sparse AD is
# for (0.9 s at n = 3000, METHOD.md), and over twice a dense n = 1000 network's (26 s), where
# sparse needs as many colours as the dense modes anyway. --case-timeout, when given, bounds the
# whole case as well.
PREPARE_TIMEOUT_S = 60.0
POLL_S = 0.02  # the watchdog's sampling period
REPEAT_S = 0.25  # raise again if the preparation goes on (the exception was swallowed)


class PreparationLimit(BaseException):  # noqa: N818 - raised into a thread, like KeyboardInterrupt
    """Raised inside the preparing thread by the watchdog. A BaseException: preparation code that
    catches ``Exception`` does not swallow it. Never leaves :func:`bounded`."""


class Refusal(str):
    """A strategy's one-line reason (adbench.measure.case's ``_compile`` returns a reason as a
    ``str``) that also carries the status to record: ``memory`` or ``timeout``."""

    status: str

    def __new__(cls, reason: str, status: str) -> Refusal:
        obj = super().__new__(cls, reason)
        obj.status = status
        return obj


class PreparationRefused(Exception):
    """A preparation stopped by the guard; ``refusal`` is the reason and status to record."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


def resident_bytes() -> int | None:
    """This process's resident memory now, or None where it cannot be read (not Linux)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def memory_limit(budget: int | None) -> int | None:
    """Bytes a preparation may add: the budget, capped by the memory available now."""
    if budget is None:
        return None
    avail = memory.available_bytes()
    return budget if avail is None else min(budget, avail)


@dataclass
class _Watch:
    """The watchdog's state, shared with the preparing thread under ``lock``."""

    target: int  # thread id of the preparing thread
    frame: Any  # bounded()'s frame: the preparation is inside it, one call deeper
    limit: int | None
    deadline: float | None
    start_rss: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    breach: str = ""  # "memory" or "time"
    peak: int = 0  # most resident memory added, bytes
    raised_at: float = -1.0
    # set when the preparation returns: the watchdog's poll wakes at once, so the caller's join
    # does not wait out the rest of a POLL_S sleep (16 strategies x up to 20 ms in the default
    # run, for preparations that take microseconds)
    ended: threading.Event = field(default_factory=threading.Event)

    def inside(self) -> bool:
        """Whether the preparing thread is inside `work` now: its stack is bounded() ->
        _call -> a frame of `work` (not _checkpoint) -> .... An exception raised there lands
        before _call returns (at _checkpoint's call at the latest), never in the guard's own
        code. Called with the interpreter lock held, so the thread does not move meanwhile."""
        chain = []
        top = sys._current_frames().get(self.target)
        while top is not None and top is not self.frame:
            chain.append(top.f_code)
            top = top.f_back
        if top is None or len(chain) < 2 or chain[-1] is not _call.__code__:
            return False
        if chain[-2] is _checkpoint.__code__:
            return False
        # nor in a garbage collector's callback or a finaliser: an exception there is only
        # printed ("Exception ignored in ..."), not raised
        return chain[0].co_name != "__del__" and chain[0] not in _gc_callback_codes()

    def run(self) -> None:
        while True:
            self.ended.wait(POLL_S)
            now = time.monotonic()
            rss = resident_bytes()
            with self.lock:
                if self.done:
                    return
                if rss is not None:
                    self.peak = max(self.peak, rss - self.start_rss)
                if not self.breach:
                    if self.limit is not None and self.peak > self.limit:
                        self.breach = schema.STATUS_MEMORY
                    elif self.deadline is not None and now > self.deadline:
                        self.breach = schema.STATUS_TIMEOUT
                if self.breach and now - self.raised_at >= REPEAT_S and self.inside():
                    _raise_in(self.target, PreparationLimit)
                    self.raised_at = now


def _gc_callback_codes() -> set[Any]:
    return {getattr(cb, "__code__", None) for cb in gc.callbacks} - {None}


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise `exc` in the thread `thread_id` at its next check; None clears a pending one."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


def _call(work: Callable[[], T]) -> T:
    """The preparation's frame (the watchdog raises only below it), with a last function call
    inside it where an exception raised as `work` returns still lands."""
    value = work()
    _checkpoint()
    return value


def _checkpoint() -> None:
    """A function call: the interpreter handles a pending asynchronous exception here."""


def _quiet(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """sys.unraisablehook that drops a PreparationLimit swallowed where exceptions cannot
    propagate (the watchdog raises it again); everything else goes to `hook`."""

    def quiet(unraisable: Any) -> Any:
        if isinstance(unraisable.exc_value, PreparationLimit):
            return None
        return hook(unraisable)

    return quiet


def _stop(watch: _Watch) -> None:
    with watch.lock:
        watch.done = True
        _raise_in(watch.target, None)  # one raised as the preparation returned, never landed
    watch.ended.set()


def _clean_jax() -> None:
    """An exception raised inside JAX's tracing may leave its trace state dirty: reset it."""
    with contextlib.suppress(Exception):
        from jax._src import core

        if not core.trace_state_clean():
            core.reset_trace_state()


def bounded(
    work: Callable[[], T],
    *,
    what: str,
    memory_bytes: int | None,
    seconds: float | None | Literal["default"] = "default",
) -> T:
    """``work()``, stopped with :class:`PreparationRefused` when the process's resident memory
    grows by more than ``memory_limit(memory_bytes)`` bytes, or it runs past ``seconds``
    (default PREPARE_TIMEOUT_S; None: no time bound).

    `what` names the preparation in the reason ("sparse preparation"). An exception of `work`'s
    own propagates unchanged. Where resident memory cannot be read, only time is bounded.
    """
    if seconds == "default":
        seconds = PREPARE_TIMEOUT_S
    limit = memory_limit(memory_bytes)
    start = resident_bytes()
    if start is None:
        limit = None
    if limit is None and seconds is None:
        return work()
    t0 = time.monotonic()
    watch = _Watch(
        target=threading.get_ident(),
        frame=sys._getframe(),
        limit=limit,
        deadline=None if seconds is None else t0 + seconds,
        start_rss=start or 0,
    )
    dog = threading.Thread(target=watch.run, name="adbench-prepare-guard", daemon=True)
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet(hook)
    dog.start()
    stopped = False
    try:
        value = _call(work)
    except PreparationLimit:
        stopped = True
    finally:
        _stop(watch)
        dog.join()
        sys.unraisablehook = hook
    if not stopped:
        return value
    elapsed = time.monotonic() - t0
    _clean_jax()
    if watch.breach == schema.STATUS_MEMORY:
        assert limit is not None
        reason = (
            f"{what} stopped after {elapsed:.1f} s: it had taken {memory.gib(watch.peak)} more "
            f"memory, over the {memory.gib(limit)} it may use (the memory budget, --max-memory); "
            "the case's other strategies still run"
        )
    else:
        reason = (
            f"{what} stopped: still running after {seconds:g} s, the limit of a strategy's "
            "preparation; the case's other strategies still run"
        )
    raise PreparationRefused(Refusal(reason, watch.breach))
