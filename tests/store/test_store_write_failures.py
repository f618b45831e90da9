"""Write failures: one line naming the path and the OS error, exit 2, nothing half-written, no
temporary file left; mid-run, the command that continues is printed. And a report's --output
never overwrites a results directory's own files."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.store import schema, writer
from adbench.store.reader import load_results

runner = CliRunner()
FOUR = FAST + (
    "name: four\nfamilies:\n  - {name: lin, builtin: linear, points: [[2, 2], [3, 3], [4, 4], "
    "[5, 5]]}\n"
)


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if p.name.endswith(".tmp") or p.name == ".lock")


def one_error(r, *, extra: int = 0) -> str:
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 + extra, r.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "four.yaml"
    path.write_text(FOUR)
    return path


def test_disk_full_mid_run_says_where_and_how_to_continue(config, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_write, calls = os.write, []

    def full(fd: int, data) -> int:
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if name.endswith(schema.RESULTS_FILE):
            calls.append(name)
            if len(calls) == 3:  # the third case's results rows: the disk is full now
                n = real_write(fd, bytes(data)[:17])  # a short write first, as a full disk does
                assert n == 17
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(writer.os, "write", full)
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    line = one_error(r, extra=1)
    assert line == f"error: {out / schema.RESULTS_FILE}: cannot write: No space left on device"
    follow = r.stderr.strip().splitlines()[1]
    assert follow.startswith(f"2 finished case(s) are kept in {out}. Continue with: adbench run")
    assert follow.endswith("--resume")
    assert leftovers(out) == []
    # nothing half-written: the two stored cases load without a note, samples cut back too
    res = load_results(out)
    assert res.notes == [] and res.results["case_id"].nunique() == 2
    monkeypatch.undo()
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume", "--quiet"])
    assert r.exit_code == 0, r.output
    assert load_results(out).results["case_id"].nunique() == 4


def test_file_size_limit_in_a_real_process(config, tmp_path):
    out = tmp_path / "out"

    # every file the child writes stops at 4 KiB (EFBIG past it); set in the child itself, as
    # a preexec_fn would fork this multithreaded (JAX) process
    start = (
        "import resource, runpy, sys; "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); "
        "sys.argv = ['adbench', *sys.argv[1:]]; "
        "runpy.run_module('adbench', run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", start, "run", str(config), "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: {out}/") and first.endswith("cannot write: File too large")
    assert "--resume" in proc.stderr
    assert leftovers(out) == []
    assert load_results(out).notes == []


def test_read_only_out_is_one_line(config, tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args, **kwargs) -> None:
        if self == parent / "out":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    r = runner.invoke(app, ["run", str(config), "--out", str(parent / "out"), "--quiet"])
    line = one_error(r)
    assert line == f"error: {parent / 'out'}: cannot write: Read-only file system"
    assert list(parent.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_for_real(config, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        r = runner.invoke(app, ["run", str(config), "--out", str(parent / "out"), "--quiet"])
    finally:
        parent.chmod(0o700)
    assert "Permission denied" in one_error(r)


def test_out_below_a_file(config, tmp_path):
    (tmp_path / "afile").write_text("x")
    r = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "afile" / "sub")])
    line = one_error(r)
    assert f"{tmp_path / 'afile'} is a file, not a directory" in line


def test_atomic_write_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "meta.json"
    target.write_text("old")

    def full(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer.os, "write", full)
    with pytest.raises(writer.WriteError, match="meta.json: cannot write: No space left"):
        writer.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("stored")
    (d / "two.yaml").write_text(
        FAST + "name: two\nfamilies:\n  - {name: lin, builtin: linear, points: [[2, 2], [3, 3]]}\n"
    )
    r = runner.invoke(app, ["run", str(d / "two.yaml"), "--out", str(d / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    return d / "out"


@pytest.mark.parametrize("fmt", ["table", "md", "csv"])
def test_report_into_a_missing_directory(stored, tmp_path, fmt):
    target = tmp_path / "nowhere" / "report.txt"
    r = runner.invoke(app, ["report", str(stored), "--format", fmt, "-o", str(target)])
    line = one_error(r)
    assert line == f"error: {target}: cannot write: {target.parent} no such directory"
    assert not (tmp_path / "nowhere").exists()


def test_report_onto_a_directory(stored, tmp_path):
    r = runner.invoke(app, ["report", str(stored), "--format", "csv", "-o", str(tmp_path)])
    assert one_error(r) == f"error: {tmp_path}: is a directory; give a file name"


@pytest.mark.parametrize("name", [schema.RESULTS_FILE, schema.META_FILE, schema.VERDICTS_FILE])
def test_report_never_overwrites_the_results_files(stored, tmp_path, name):
    d = tmp_path / "copy"
    shutil.copytree(stored, d)
    before = (d / name).read_bytes()
    r = runner.invoke(app, ["report", str(d), "--format", "csv", "-o", str(d / name)])
    assert "refusing to overwrite" in one_error(r)
    assert (d / name).read_bytes() == before
    # the same file reached by another spelling of the path is refused too
    other = d / ".." / d.name / name
    r = runner.invoke(app, ["report", str(d), "--format", "csv", "-o", str(other)])
    assert "refusing to overwrite" in one_error(r)


def test_export_and_compare_outputs_fail_cleanly(stored, tmp_path):
    target = tmp_path / "missing" / "x.json"
    r = runner.invoke(app, ["export", str(stored), "-o", str(target)])
    assert "no such directory" in one_error(r)
    r = runner.invoke(app, ["compare", str(stored), str(stored), "-f", "json", "-o", str(target)])
    assert "no such directory" in one_error(r)
