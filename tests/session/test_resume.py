"""Nothing lost: kill -9 keeps every finished case, --resume repairs and completes without
duplicating a row, Ctrl-C stops cleanly and prints the command that continues, --case-timeout
stops a case that runs too long (and survives a crashing one)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench import load_results
from adbench.cli import app
from adbench.store import schema

CALLABLES = Path(__file__).resolve().parents[1] / "data" / "bad_callables.py"
runner = CliRunner()

SIX = """\
name: six
modes: [jacfwd, jacrev]
families:
  - {name: lin, builtin: linear, points: [[2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7]]}
"""
# each case spends its whole budget (stop_early: false), so a run lasts long enough to interrupt
SLOWER = (
    "time_budget_s: 0.3\nmin_sample_s: 0.0005\nmin_rounds: 3\nmax_rounds: 1000\nstop_early: false\n"
)


def rows(out: Path, name: str = schema.RESULTS_FILE) -> pd.DataFrame:
    return pd.read_csv(out / name, keep_default_na=False)


def assert_whole(out: Path, n_cases: int) -> None:
    """Every case once per mode, no duplicates, samples exactly those of the stored rows."""
    res, smp = rows(out), rows(out, schema.SAMPLES_FILE)
    assert not res.duplicated(["case_id", "device", "strategy"]).any()
    assert res.groupby("case_id")["strategy"].nunique().eq(2).all()
    assert res["case_id"].nunique() == n_cases
    assert not smp.duplicated(["case_id", "device", "strategy", "round"]).any()
    assert set(smp["case_id"]) <= set(res["case_id"])
    assert len(smp) == pd.to_numeric(res["n_samples"]).sum()


def wait_for_rows(path: Path, n: int, proc: subprocess.Popen, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().count("\n") >= n + 1:
            return
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} rows")


def start(config: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(
        [sys.executable, "-m", "adbench", "run", str(config), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run of three tiny cases, to copy and damage."""
    d = tmp_path_factory.mktemp("finished")
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


def test_kill_9_keeps_every_finished_case_and_resume_completes(tmp_path):
    config = tmp_path / "six.yaml"
    config.write_text(SLOWER + SIX)
    out = tmp_path / "out"
    proc = start(config, out)
    try:
        wait_for_rows(out / schema.RESULTS_FILE, 2, proc)  # the first case has landed
    finally:
        proc.kill()  # SIGKILL: no handler runs, no file is closed
        proc.communicate()
    before = (out / schema.RESULTS_FILE).read_bytes()
    kept = rows(out)
    assert 2 <= len(kept) < 12 and len(kept) % 2 == 0, "whole cases only"
    assert not (out / schema.VERDICTS_FILE).exists()

    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume", "--quiet"])
    assert r.exit_code == 0, r.output
    assert (out / schema.RESULTS_FILE).read_bytes().startswith(before), "kept rows untouched"
    assert_whole(out, 6)
    assert len(load_results(out).verdicts) == 6


def test_torn_lines_and_orphan_samples_are_tolerated_then_repaired(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    res_path, smp_path = out / schema.RESULTS_FILE, out / schema.SAMPLES_FILE
    # killed mid-write of the last results row: its case (lin/4x4) now lacks jacrev
    text = res_path.read_text()
    res_path.write_text(text[: text.rstrip("\n").rfind("\n") + 40])
    # ... and samples of a case whose results never landed, the last one torn as well
    smp_path.write_text(
        smp_path.read_text()
        + "lin/9x9,lin,jacobian,9,9,1,h,cpu:0,jacfwd,0,0,10,1e-05\nlin/9x9,lin,jacobian,9,9,1,h,cp"
    )
    (out / schema.VERDICTS_FILE).unlink()

    res = load_results(out)  # a reader copes, and says what it skipped
    assert len(res.results) == 4  # lin/4x4 was half-written: none of it is shown
    assert "lin/9x9" not in set(res.samples["case_id"])
    assert any("incomplete last line" in n for n in res.notes)
    assert any("never written" in n for n in res.notes)
    report = runner.invoke(app, ["report", str(out), "--format", "json"])
    assert report.exit_code == 0 and "note: results.csv: ignored an incomplete" in report.stderr

    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "note: results.csv: dropped an incomplete last line" in r.stderr
    assert "note: results.csv: dropped 1 rows of 1 unfinished case(s)" in r.stderr
    assert "samples.csv: dropped" in r.stderr
    assert_whole(out, 3)
    assert res_path.read_text().endswith("\n") and smp_path.read_text().endswith("\n")
    assert load_results(out).notes == []


def test_resume_with_nothing_missing_adds_nothing(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    before = rows(out)
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume", "--quiet"])
    assert r.exit_code == 0, r.output
    pd.testing.assert_frame_equal(rows(out), before)


def test_resume_measures_only_an_added_family(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    config.write_text(config.read_text() + "  - {name: sm, builtin: softmax, points: [[3, 3]]}\n")
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume"])
    assert r.exit_code == 0, r.output
    assert "[1/1] sm/3x3" in r.stderr
    assert_whole(out, 4)
    assert "sm/3x3" in set(load_results(out).verdicts["case_id"]), "stale verdicts are redone"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("dtype: float32", "dtype: float64"), "cannot resume: dtype was 'float32'"),
        (("builtin: linear", "builtin: softmax"), "family 'lin': builtin was 'linear'"),
        (("min_rounds: 3", "min_rounds: 4"), "cannot resume: min_rounds was 3"),
        (("stop_early: true", "stop_early: false"), "cannot resume: stop_early was True"),
    ],
)
def test_resume_with_other_settings_is_refused(finished, tmp_path, change, fragment):
    config, out = copy_of(finished, tmp_path)
    text = config.read_text()
    if change[0] not in text:
        text = change[0] + "\n" + text
    config.write_text(text.replace(*change))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume"])
    assert r.exit_code == 2
    assert fragment in r.stderr and "--force" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_existing_results_need_resume_or_force(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    before = rows(out)
    r = runner.invoke(app, ["run", str(config), "--out", str(out)])
    assert r.exit_code == 2
    assert "--resume" in r.stderr and "--force" in r.stderr
    pd.testing.assert_frame_equal(rows(out), before)
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--force", "--quiet"])
    assert r.exit_code == 0
    assert_whole(out, 3)


@pytest.mark.parametrize("flag", ["--resume", "--force"])
def test_a_foreign_directory_is_never_written_into(finished, tmp_path, flag):
    config, _ = finished
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.csv").write_text("my own spreadsheet\n")
    r = runner.invoke(app, ["run", str(config), "--out", str(out), flag])
    assert r.exit_code == 2
    assert "not an adbench results directory" in r.stderr
    assert [p.name for p in out.iterdir()] == ["results.csv"]
    assert (out / "results.csv").read_text() == "my own spreadsheet\n"


def test_resume_of_another_schema_version_is_refused(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    meta = out / schema.META_FILE
    current = f'"schema_version": {schema.SCHEMA_VERSION}'
    meta.write_text(meta.read_text().replace(current, '"schema_version": 99'))
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume"])
    assert r.exit_code == 2 and "schema version 99" in r.stderr


def test_ctrl_c_stops_cleanly_and_says_how_to_continue(tmp_path):
    config = tmp_path / "six.yaml"
    config.write_text(SLOWER + SIX)
    out = tmp_path / "out"
    proc = start(config, out)
    try:
        wait_for_rows(out / schema.RESULTS_FILE, 2, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted:")]
    kept = rows(out)
    n = kept["case_id"].nunique()
    assert f"{n} finished case(s) are kept in {out}" in line
    assert len(kept) == 2 * n
    command = line.split("Continue with: ", 1)[1]
    words = shlex.split(command)
    assert words[:2] == ["adbench", "run"] and words[-1] == "--resume"
    r = runner.invoke(app, [*words[1:], "--quiet"])  # the printed command works as printed
    assert r.exit_code == 0, r.output
    assert_whole(out, 6)


def test_case_timeout_and_a_crashing_case_do_not_sink_the_sweep(tmp_path):
    config = tmp_path / "slow.yaml"
    config.write_text(
        FAST + "name: slow\nfamilies:\n"
        "  - {name: a, builtin: linear, points: [[2, 2]]}\n"
        f'  - {{name: slow, callable: "{CALLABLES}:sleeps", points: [[2, 2]]}}\n'
        f'  - {{name: crash, callable: "{CALLABLES}:crashes", points: [[2, 2]]}}\n'
        "  - {name: b, builtin: linear, points: [[3, 3]]}\n"
    )
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--case-timeout", "2"])
    elapsed = time.monotonic() - t0
    assert r.exit_code == 1, r.output
    df = rows(out).set_index(["case_id", "strategy"])
    assert set(df.loc["slow/2x2", "status"]) == {"timeout"}
    assert "did not finish within --case-timeout 2 s" in df.loc[("slow/2x2", "jacfwd"), "reason"]
    assert set(df.loc["crash/2x2", "status"]) == {"error"}
    assert "killed by SIGSEGV" in df.loc[("crash/2x2", "jacrev"), "reason"]
    for ok in ("a/2x2", "b/3x3"):
        assert set(df.loc[ok, "status"]) == {"ok"}
    assert elapsed < 50, "the sleeping case (60 s) was stopped"
    assert "slow/2x2 jacfwd/jacrev on cpu:0: timeout" in r.stderr


def test_meta_records_how_timing_stops(finished):
    """stop_early and its looks are in meta.json's settings (FAST: max_rounds 6, so no look)."""
    import json

    _, out = finished
    meta = json.loads((out / schema.META_FILE).read_text())
    assert meta["config"]["stop_early"] is True
    assert meta["settings"]["stop_early"] is True and meta["settings"]["stop_looks"] == []
