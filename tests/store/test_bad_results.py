"""`adbench report` / `compare` on a missing, partial or corrupted results directory: one clear
line naming the file (and line and column where there is one), exit 2, no traceback. And run
and family names can never make adbench write outside its results directory."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.store import schema
from adbench.store.results import OWN_FILES, ResultsError, load_results, safe_path

runner = CliRunner()


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("good")
    config = d / "two.yaml"
    config.write_text(
        FAST + "name: two\nfamilies:\n  - {name: lin, builtin: linear, points: [[2, 2], [3, 3]]}\n"
    )
    r = runner.invoke(app, ["run", str(config), "--out", str(d / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    return d / "out"


def edit(name: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        path = d / name
        path.write_text(change(path.read_text()))

    return apply


def set_cell(column: str, value: str) -> Callable[[str], str]:
    """Put `value` in `column` of the first data row of a CSV text."""

    def change(text: str) -> str:
        lines = text.split("\n")
        header = lines[0].split(",")
        cells = lines[1].split(",")
        cells[header.index(column)] = value
        lines[1] = ",".join(cells)
        return "\n".join(lines)

    return change


def remove(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).unlink()


def drop_column(column: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        rows = [line.split(",") for line in text.split("\n") if line]
        i = rows[0].index(column)
        return "\n".join(",".join(r[:i] + r[i + 1 :]) for r in rows) + "\n"

    return change


OTHER_VERSION = '"schema_version": 9'
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "no_meta": (remove(schema.META_FILE), "meta.json: missing; is"),
    "meta_not_json": (edit(schema.META_FILE, lambda t: t[:40]), "meta.json: not valid JSON"),
    "meta_a_list": (
        edit(schema.META_FILE, lambda t: "[1, 2]"),
        "meta.json: expected a JSON object",
    ),
    "meta_other_schema": (
        edit(schema.META_FILE, lambda t: re.sub(r'"schema_version": \d+', OTHER_VERSION, t)),
        "results schema version 9; this adbench reads versions 1, 2",
    ),
    "results_missing": (remove(schema.RESULTS_FILE), "results.csv: missing or empty"),
    "results_empty": (edit(schema.RESULTS_FILE, lambda t: ""), "results.csv: missing or empty"),
    "results_header_only": (
        edit(schema.RESULTS_FILE, lambda t: t.split("\n")[0] + "\n"),
        "results.csv: holds no case yet",
    ),
    "results_garbled": (
        lambda d: (d / schema.RESULTS_FILE).write_bytes(b"\x00\xff\xfe garbage \x81\n" * 3),
        "results.csv: not UTF-8 text",
    ),
    "results_not_csv_of_ours": (
        edit(schema.RESULTS_FILE, lambda t: "hello,world\n1,2\n"),
        "results.csv: missing columns case_id, family",
    ),
    "results_missing_column": (
        edit(schema.RESULTS_FILE, drop_column("median_s")),
        "results.csv: missing columns median_s",
    ),
    "results_short_row": (
        edit(schema.RESULTS_FILE, lambda t: t.replace("\n", "\nlin/9x9,lin\n", 1)),
        "results.csv:2: 2 fields where the header has",
    ),
    "results_text_in_number": (
        edit(schema.RESULTS_FILE, set_cell("median_s", "fast")),
        "results.csv:2: column median_s: 'fast' is not a number",
    ),
    "results_unknown_status": (
        edit(schema.RESULTS_FILE, set_cell("status", "great")),
        "results.csv:2: column status: 'great' is not one of ok, error",
    ),
    "results_unknown_mode": (
        edit(schema.RESULTS_FILE, set_cell("strategy", "jacmid")),
        "results.csv:2: column strategy: 'jacmid' is not one of jacfwd, jacrev",
    ),
    "results_bad_quote": (
        edit(schema.RESULTS_FILE, lambda t: t.replace("\n", '\n"lin/2x2', 1)),
        "results.csv",
    ),
    "samples_missing_column": (
        edit(schema.SAMPLES_FILE, drop_column("seconds")),
        "samples.csv: missing columns seconds",
    ),
    "samples_text_in_number": (
        edit(schema.SAMPLES_FILE, set_cell("seconds", "1,5")),
        "samples.csv:2:",
    ),
    "verdicts_missing_column": (
        edit(schema.VERDICTS_FILE, drop_column("recommended")),
        "verdicts.csv: missing columns recommended",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_report_on_a_damaged_directory_exits_2_with_one_line(good, tmp_path, damage):
    out = tmp_path / "out"
    shutil.copytree(good, out)
    apply, fragment = DAMAGE[damage]
    apply(out)
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert fragment in lines[0]
    with pytest.raises(ResultsError):
        load_results(out)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "nothing", "no such results directory"),
        (lambda d: (d / "file.txt").write_text("x") and d / "file.txt", "not a directory"),
        (lambda d: d, "meta.json: missing"),
    ],
    ids=["missing", "a_file", "empty_dir"],
)
def test_report_on_something_that_is_not_a_results_directory(tmp_path, make, fragment):
    r = runner.invoke(app, ["report", str(make(tmp_path))])
    assert r.exit_code == 2
    assert fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_missing_verdicts_are_recomputed(good, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(good, out)
    (out / schema.VERDICTS_FILE).unlink()
    r = runner.invoke(app, ["report", str(out), "--format", "json"])
    assert r.exit_code == 0
    assert len(json.loads(r.stdout)["verdicts"]) == 2


def test_compare_on_a_damaged_directory_exits_2(good, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(good, out)
    (out / schema.META_FILE).write_text("{")
    r = runner.invoke(app, ["compare", str(good), str(out)])
    assert r.exit_code == 2, r.output
    assert "meta.json: not valid JSON" in r.stderr


# --------------------------------------------------------------------------- names and paths


def test_default_results_dir_stays_under_results(tmp_path, monkeypatch):
    """The default --out is results/<name>-<timestamp>; a name cannot climb out of it (the
    config's pattern refuses '/', '..' and leading dots: tests/data/bad/run_name_*.yaml)."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(
        FAST + "name: a..b\nfamilies:\n  - {name: x.-_y, builtin: linear, points: [[2, 2]]}\n"
    )
    r = runner.invoke(app, ["run", str(config), "--quiet"])
    assert r.exit_code == 0, r.output
    (made,) = (tmp_path / "results").iterdir()
    assert made.name.startswith("a..b-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "results"]
    assert {p.name for p in made.iterdir()} <= set(OWN_FILES)


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/etc/passwd", "a\\b", "a\0b"])
def test_safe_path_refuses_names_that_leave_the_directory(tmp_path, name):
    with pytest.raises(ResultsError):
        safe_path(tmp_path, name)


def test_safe_path_accepts_plain_names(tmp_path):
    assert safe_path(tmp_path, "a..b.csv") == tmp_path / "a..b.csv"
