"""Bad run files: exit 2, one line naming the file (and line and key), nothing written.

The corpus is tests/data/bad/*.yaml, one fault per file; the first line of each file is
``# expect: <fragment of the message>``. Its neighbours helpers.py, raises_on_import.py and
exits_on_import.py are the user files some of them point at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adbench.cli import app

BAD = Path(__file__).resolve().parent / "data" / "bad"
GOOD = Path(__file__).resolve().parent.parent / "configs" / "seed.yaml"
CORPUS = sorted(BAD.glob("*.yaml"))
runner = CliRunner()


def expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    return first.removeprefix("# expect: ")


def run_bad(args: list[str], out: Path) -> str:
    """Invoke `adbench run ARGS --out OUT`; check the contract; return the error line."""
    r = runner.invoke(app, ["run", *args, "--out", str(out)])
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert r.stdout == "", r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.output
    assert lines[0].startswith("error: ")
    assert not out.exists(), "a bad config must not create the results directory"
    return lines[0]


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_config_exits_2_with_one_clear_line(path: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written by accident would land here
    line = run_bad([str(path)], tmp_path / "out")
    assert expected(path) in line
    assert line.removeprefix("error: ").startswith(str(path)), "the message names the file first"
    assert list(tmp_path.iterdir()) == [], "nothing may be written anywhere"


def test_yaml_tags_never_execute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("python_tag_apply.yaml", "python_tag_in_params.yaml"):
        run_bad([str(BAD / name)], tmp_path / "out")
    assert not (tmp_path / "PWNED_BY_YAML").exists()
    assert not (BAD / "PWNED_BY_YAML").exists()


def test_default_out_dir_is_not_created_for_a_bad_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["run", str(BAD / "size_zero.yaml")])
    assert r.exit_code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing.yaml", "missing.yaml: no such file"),
        (lambda d: d, "is a directory, not a YAML run file"),
        (lambda d: Path(os.devnull), "not a regular file"),
    ],
    ids=["missing", "directory", "device"],
)
def test_config_path_that_is_not_a_file(make, fragment, tmp_path):
    line = run_bad([str(make(tmp_path))], tmp_path / "out")
    assert fragment in line


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert "latin1.yaml: not UTF-8 text" in run_bad([str(path)], tmp_path / "out")


def test_unreadable_config(tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text("families: []\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root reads anything
            pytest.skip("running as root")
        assert "secret.yaml: cannot be read (Permission denied)" in run_bad(
            [str(path)], tmp_path / "out"
        )
    finally:
        path.chmod(0o600)


def test_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\nfamilies: [{name: p, builtin: power, points: [[1, 2]]}]\n")
    assert "expands to more than" in run_bad([str(path)], tmp_path / "out")


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--max-memory", "lots"], "--max-memory"),
        (["--max-memory", "-5GiB"], "--max-memory"),
        (["--case-timeout", "0"], "--case-timeout"),
        (["--case-timeout", "soon"], "--case-timeout"),
        (["--resume", "--force"], "--resume and --force cannot be combined"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(option, fragment, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(GOOD), "--out", str(out), *option])
    assert r.exit_code == 2, r.output
    assert fragment in r.output
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "taken"
    target.write_text("mine")
    r = runner.invoke(app, ["run", str(GOOD), "--out", str(target)])
    assert r.exit_code == 2
    assert "exists and is not a directory" in r.stderr
    assert target.read_text() == "mine"
