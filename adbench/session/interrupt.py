"""Ctrl-C ends `adbench run` within seconds, whatever XLA is doing, and never tears a case.

Why a watchdog: Python runs a signal handler only when the main thread next executes bytecode.
While XLA compiles (or a long call runs) in C++, that can be minutes away, and after the run
the interpreter's shutdown may wait on XLA's thread pool for longer still (seen: over 10 min in
``~PjRtClient``, or a glibc mutex assertion). So the command line runs under :func:`guard`:

* CPython's C-level handler writes every signal's number to a wakeup file descriptor at once,
  in whichever thread the kernel interrupted; a small thread reads it.
* First Ctrl-C: the main thread usually raises KeyboardInterrupt in a moment; the session then
  says what was kept and ends the process with ``os._exit`` (no interpreter shutdown, so no
  wait on XLA). If it has not done so within ``grace_s`` seconds (stuck in C++), the thread
  does it instead.
* A second Ctrl-C: the thread does it at once.

Either way the exit first takes :data:`WRITING`, which the sweep holds while it stores a case,
so every stored case is whole (a case is one appended, synced write per file). The results
directory's lock (an ``flock``, adbench.store.writer.locked) is never released by hand on this
path: the kernel drops it when the process is gone, so a ``--resume`` cannot start beside a
process that is still ending. Children die with their parent (adbench.session.worker sets
PR_SET_PDEATHSIG).

A notebook's ``adbench.run()`` does not use it: a kernel must survive Ctrl-C, so there it
raises KeyboardInterrupt as usual.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

WRITING = threading.Lock()  # held while a case is being stored (adbench.session.sweep)
GRACE_S = 3.0  # seconds the main thread has to answer a Ctrl-C before the process is ended
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command
_WRITE_WAIT_S = 30.0  # storing one case is milliseconds; a full disk's retry is not forever


class _Exit:
    """Ends the process once: takes WRITING, says `message()`, flushes, os._exit. Called again
    while that is under way (a further Ctrl-C), it exits at once: the first caller may be stuck
    in `say`."""

    def __init__(self, message: Callable[[], str], say: Callable[[str], None]) -> None:
        self.message, self.say = message, say
        self._once = threading.Lock()

    def __call__(self, why: str = "") -> None:
        if not self._once.acquire(blocking=False):
            WRITING.acquire(timeout=_WRITE_WAIT_S)
            os._exit(EXIT_INTERRUPTED)
        WRITING.acquire(timeout=_WRITE_WAIT_S)
        with contextlib.suppress(BaseException):  # the exit happens whatever the message does
            self.say(f"interrupted{why}: {self.message()}")
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def guard(
    message: Callable[[], str], say: Callable[[str], None], *, grace_s: float = GRACE_S
) -> Iterator[Callable[[], None]]:
    """Within the block, Ctrl-C ends the process as the module docstring says; yields the exit,
    for the main thread to call when it catches KeyboardInterrupt. `message()` is what was kept
    and how to continue; `say` prints one line (it must not need the main thread).

    Outside the main thread (signals cannot be routed there) the block runs unguarded and the
    exit is still offered."""
    end = _Exit(message, say)
    if threading.current_thread() is not threading.main_thread():
        yield end
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    answered = threading.Event()

    def watch() -> None:
        deadline: float | None = None  # set by the first Ctrl-C
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([reader], [], [], wait)
            if not ready:  # the grace is over and the main thread has not answered
                if not answered.is_set():
                    end(f" (no answer within {grace_s:g} s, ended hard)")
                deadline = None
                continue
            try:
                got = reader.recv(64)
            except OSError:
                return
            if not got or 0 in got:  # closed, or the block ended
                return
            hits = got.count(signal.SIGINT)
            if hits and (deadline is not None or answered.is_set() or hits > 1):
                end(" (second Ctrl-C)")
            elif hits:
                deadline = time.monotonic() + grace_s

    thread = threading.Thread(target=watch, name="adbench-ctrl-c", daemon=True)
    thread.start()

    def exit_now() -> None:
        answered.set()
        end()

    try:
        yield exit_now
    finally:
        signal.set_wakeup_fd(previous)
        with contextlib.suppress(OSError):
            writer.send(b"\0")
        thread.join(timeout=1.0)
        reader.close()
        writer.close()
