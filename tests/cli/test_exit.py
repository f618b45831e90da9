"""The console entry point (adbench.cli.main) ends the process itself once a command returns:
its output is all there even through a pipe (a print() still in the buffer included), its exit
code is the command's, the interpreter's teardown is skipped (an atexit hook does not run), and
under a tracer the normal exit stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "configs" / "seed.yaml"

# an atexit hook that says whether the interpreter's teardown ran, then adbench's entry point
_ENTRY = """
import atexit, sys
atexit.register(lambda: print("TEARDOWN", flush=True))
if sys.argv[1] == "traced":
    sys.settrace(lambda *a: None)
sys.argv = ["adbench", *sys.argv[2:]]
import adbench.cli as cli
if sys.argv[1:] == ["buffered"]:
    def unflushed():  # a command that leaves its last words in the buffer, and its code
        sys.stdout.write("PENDING")
        sys.stderr.write("WARNED")
        raise SystemExit(3)
    cli.app = unflushed
cli.main()
"""


def _entry(*args: str, traced: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, "traced" if traced else "plain", *args],
        capture_output=True,  # pipes: block-buffered stdout, lost unless flushed
        text=True,
        cwd=REPO,
        # block-buffered stdout, as a user's shell gives it (.ci/run sets PYTHONUNBUFFERED)
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        timeout=120,
    )


def test_a_command_keeps_its_output_and_code_and_skips_the_teardown():
    r = _entry("validate", str(SEED))
    assert r.returncode == 0, r.stderr
    assert "valid; 2 families, 8 cases" in r.stdout
    assert "TEARDOWN" not in r.stdout


def test_what_is_still_buffered_reaches_the_pipe():
    """A print() of the user's factory, or of a command, that nothing flushed yet."""
    r = _entry("buffered")
    assert (r.returncode, r.stdout, r.stderr) == (3, "PENDING", "WARNED")


def test_bad_input_keeps_exit_2_and_its_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dtype: f16\nfamilies: [{name: p, builtin: power, d_in: [1], d_out: [2]}]\n")
    r = _entry("validate", str(bad))
    assert r.returncode == 2
    assert "dtype" in r.stderr and str(bad) in r.stderr
    assert "Traceback" not in r.stderr and "TEARDOWN" not in r.stdout


def test_help_exits_0_with_the_whole_text():
    r = _entry("--help")
    assert r.returncode == 0
    assert "policy" in r.stdout  # the last command listed: nothing was cut off


def test_under_a_tracer_the_normal_exit_stays():
    """coverage, pdb and profilers write their data in exit hooks."""
    r = _entry("validate", str(SEED), traced=True)
    assert r.returncode == 0
    assert "valid" in r.stdout and "TEARDOWN" in r.stdout
