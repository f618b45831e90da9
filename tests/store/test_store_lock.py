"""One run per results directory: a lock held for the run; a case stored twice is detected on
load (kept once, with a warning) and removed by --resume."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.store import schema
from adbench.store.reader import load_results
from adbench.store.writer import LOCK_FILE, LockedError, check_out_dir, locked

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    d = tmp_path_factory.mktemp("lockrun")
    config = d / "three.yaml"
    config.write_text(
        FAST + "name: three\nfamilies:\n"
        "  - {name: lin, builtin: linear, points: [[2, 2], [3, 3], [4, 4]]}\n"
    )
    out = d / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    return config, out


def copy_of(finished, tmp_path) -> tuple[Path, Path]:
    config, out = finished
    shutil.copy(config, tmp_path / config.name)
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / config.name, tmp_path / "out"


def test_a_second_holder_is_refused_with_who_holds_it(tmp_path):
    d = tmp_path / "out"
    with locked(d):
        with pytest.raises(LockedError) as err, locked(d):
            pass
        info = json.loads((d / LOCK_FILE).read_text())
    msg = str(err.value)
    assert f"pid {os.getpid()}" in msg and socket.gethostname() in msg
    assert f"since {info['since']}" in msg
    # released: the lock file is gone, and the directory it created (still empty) too
    assert not d.exists()
    with locked(d):
        pass


def test_the_lock_file_does_not_make_a_directory_foreign(tmp_path):
    d = tmp_path / "out"
    with locked(d):
        check_out_dir(d, resume=False, force=False)  # only .lock inside: still "empty"


def test_a_run_into_a_locked_directory_exits_2_naming_the_holder(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    before = (out / schema.RESULTS_FILE).read_bytes()
    with locked(out):
        r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume", "--quiet"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "another adbench run is writing into it" in lines[0]
    assert f"pid {os.getpid()}" in lines[0]
    assert "Traceback" not in r.output
    assert (out / schema.RESULTS_FILE).read_bytes() == before
    assert not (out / LOCK_FILE).exists(), "released by its holder"


def double(out: Path) -> None:
    """Store every case a second time, as two runs writing at once did before the lock."""
    for name in (schema.SAMPLES_FILE, schema.RESULTS_FILE):
        lines = (out / name).read_text().splitlines(keepends=True)
        (out / name).write_text("".join(lines + lines[1:]))


def test_a_case_stored_twice_is_kept_once_and_said_loudly(finished, tmp_path):
    _, out = copy_of(finished, tmp_path)
    clean = load_results(out)
    double(out)
    res = load_results(out)
    assert len(res.results) == len(clean.results) == 6
    assert len(res.samples) == len(clean.samples)
    pd.testing.assert_frame_equal(res.samples, clean.samples)
    assert any(n.startswith("WARNING results.csv: 6 rows store 3 case(s)") for n in res.notes)
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    assert "WARNING results.csv" in r.stderr


def test_resume_removes_the_copies(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    clean = (out / schema.RESULTS_FILE).read_text()
    clean_samples = (out / schema.SAMPLES_FILE).read_text()
    double(out)
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "stored a case a second time" in r.stderr
    assert (out / schema.RESULTS_FILE).read_text() == clean
    assert (out / schema.SAMPLES_FILE).read_text() == clean_samples
    assert load_results(out).notes == []
