"""Ctrl-C ends `adbench run` within seconds whatever the main thread is doing, keeps every
stored case whole, and holds the results directory's lock until the process is gone; the
printed command then continues the run (adbench.session.interrupt).

Real processes, real signals: a main thread that cannot answer (SIGINT blocked, as in a long
XLA compile), a real slow XLA compile, and a second Ctrl-C.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.session.interrupt import GRACE_S
from adbench.store import schema
from adbench.store.writer import LOCK_FILE

CALLABLES = Path(__file__).resolve().parent.parent / "data" / "ctrl_c_callables.py"
runner = CliRunner()
SLACK_S = 10.0  # a loaded 2-core machine: the exit itself, Python's teardown skipped


class Run:
    """`adbench run CONFIG --out OUT --quiet` in a child process; its stderr read as it comes."""

    def __init__(self, config: Path, out: Path, marker: Path, **env: str) -> None:
        environ = {**os.environ, "JAX_PLATFORMS": "cpu", "ADBENCH_TEST_MARKER": str(marker)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adbench", "run", str(config), "--out", str(out), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**environ, **env},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def poll(self) -> int | None:
        return self.proc.poll()

    def stderr(self) -> str:
        """What it said so far; all of it, and the pipe closed, once it has ended."""
        if self.proc.poll() is not None:
            self._reader.join(timeout=5)
            if not self._reader.is_alive() and self.proc.stderr is not None:
                self.proc.stderr.close()
        return "\n".join(self.lines)

    def wait_for_line(self, fragment: str, limit_s: float = 240) -> None:
        deadline = time.monotonic() + limit_s
        while not any(fragment in line for line in self.lines):
            assert self.poll() is None, self.stderr()
            assert time.monotonic() < deadline, f"never said {fragment!r}"
            time.sleep(0.05)


def wait_for(path: Path, proc: Run, limit_s: float = 180) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists():
        assert proc.poll() is None, proc.stderr()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def locked_by_other(lock: Path) -> bool:
    """Whether another process holds the flock on `lock` (as adbench.store.writer takes it)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def interrupt(run: Run, lock: Path, *, twice: bool = False) -> tuple[float, str]:
    """SIGINT (twice: again 0.3 s later); (seconds until the process was gone, its stderr).
    While it lives, its lock must be held: a --resume cannot start beside it."""
    proc = run.proc
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    if twice:
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
    try:
        while proc.poll() is None and time.monotonic() - t0 < GRACE_S + SLACK_S + 20:
            if not locked_by_other(lock):  # released: the process must be ending right now
                proc.wait(timeout=2)
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
    finally:
        proc.kill()
        proc.wait()
    return elapsed, run.stderr()


def test_ctrl_c_ends_a_run_whose_main_thread_cannot_answer(tmp_path):
    config = tmp_path / "stuck.yaml"
    config.write_text(
        FAST + "name: stuck\nfamilies:\n"
        "  - {name: a, builtin: linear, points: [[2, 2]]}\n"
        f'  - {{name: stuck, callable: "{CALLABLES}:stuck", points: [[2, 2]]}}\n'
    )
    out, marker = tmp_path / "out", tmp_path / "reached"
    proc = Run(config, out, marker, ADBENCH_TEST_STUCK="1")
    wait_for(marker, proc)
    elapsed, err = interrupt(proc, out / LOCK_FILE)
    assert proc.proc.returncode == 130, err
    assert elapsed < GRACE_S + SLACK_S, f"took {elapsed:.1f} s"
    assert not locked_by_other(out / LOCK_FILE)  # the kernel released it with the process
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert line.startswith(f"interrupted (no answer within {GRACE_S:g} s, ended hard): ")
    assert f"1 finished case(s) are kept in {out}" in line
    kept = pd.read_csv(out / schema.RESULTS_FILE)
    assert sorted(kept["strategy"]) == ["jacfwd", "jacrev"]  # the stored case is whole
    words = shlex.split(line.split("Continue with: ", 1)[1])
    r = runner.invoke(app, [*words[1:], "--quiet"])  # the printed command works as printed
    assert r.exit_code == 0, r.output
    assert set(pd.read_csv(out / schema.RESULTS_FILE)["case_id"]) == {"a/2x2", "stuck/2x2"}


def test_a_second_ctrl_c_ends_it_at_once(tmp_path):
    config = tmp_path / "stuck.yaml"
    config.write_text(
        FAST + "name: stuck\nfamilies:\n"
        f'  - {{name: stuck, callable: "{CALLABLES}:stuck", points: [[2, 2]]}}\n'
    )
    out, marker = tmp_path / "out", tmp_path / "reached"
    proc = Run(config, out, marker, ADBENCH_TEST_STUCK="1")
    wait_for(marker, proc)
    elapsed, err = interrupt(proc, out / LOCK_FILE, twice=True)
    assert proc.proc.returncode == 130, err
    assert "interrupted (second Ctrl-C): no case was kept" in err


def test_ctrl_c_during_a_slow_xla_compile(tmp_path):
    """The issue's reproduction: a factory unrolling ~1500 ops, Ctrl-C while it is traced or
    compiled (each strategy's compile alone takes ~20 s here)."""
    config = tmp_path / "slow.yaml"
    config.write_text(
        FAST + "name: slow\nfamilies:\n"
        f'  - {{name: slow, callable: "{CALLABLES}:slow_compile", points: [[8, 8]]}}\n'
    )
    out, marker = tmp_path / "out", tmp_path / "reached"
    proc = Run(config, out, marker, JAX_LOG_COMPILES="1")
    # JAX logs this as it hands the module to XLA: from here the main thread is in C++
    proc.wait_for_line("Finished jaxpr to MLIR module conversion jit(<lambda>)")
    time.sleep(1.0)
    assert proc.poll() is None, "the slow case ended before it could be interrupted"
    elapsed, err = interrupt(proc, out / LOCK_FILE)
    assert proc.proc.returncode == 130, err
    assert elapsed < GRACE_S + SLACK_S, f"took {elapsed:.1f} s"
    assert "Traceback" not in err
    assert "Continue with: adbench run" in err
