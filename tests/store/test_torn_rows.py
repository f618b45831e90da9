"""A torn last line of results.csv (a kill -9, a full disk or a power cut mid-write) leaves half of
the last case: jacfwd's row whole, jacrev's cut. That case is dropped as a whole by the reader
(so `report` never says "jacfwd: the only strategy that ran"), by merge (which reads through it)
and by repair (so `--resume` measures it again), however far into the row the tear falls."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import C, S, write_run
from typer.testing import CliRunner

from adbench.analysis.results import load_results
from adbench.cli import app
from adbench.store import schema
from adbench.store.reader import split, torn_case
from adbench.store.repair import completed_keys, repair

runner = CliRunner()
FIRST = C("lin", 4, 4, (S("jacfwd", 1e-3), S("jacrev", 2e-3)))
LAST = C("lin", 8, 8, (S("jacfwd", 3e-3), S("jacrev", 1e-3)))  # jacrev wins: its row is torn


@pytest.fixture
def whole(tmp_path: Path) -> Path:
    return write_run(tmp_path / "whole", [FIRST, LAST])


def tear(d: Path, keep: int) -> None:
    """Cut results.csv `keep` bytes into its last row (jacrev of lin/8x8); drop the derived
    tables, as a killed run leaves none."""
    path = d / schema.RESULTS_FILE
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    assert data[start:].startswith(b"lin/8x8,") and b",jacrev," in data[start:]
    path.write_bytes(data[: start + keep])
    for name in (schema.VERDICTS_FILE, schema.RANKING_FILE, schema.CROSSOVER_FILE):
        (d / name).unlink()


# from "a few bytes" (the case name cut) through "inside the key" to "one byte short"
CUTS = [1, 5, 9, 30, 45, 200, -1]


def cut_at(whole: Path, k: int) -> int:
    data = (whole / schema.RESULTS_FILE).read_bytes()
    row = data.rstrip(b"\n")[data.rstrip(b"\n").rfind(b"\n") + 1 :]
    return len(row) + k if k < 0 else k


@pytest.mark.parametrize("k", CUTS)
def test_the_reader_drops_a_half_written_case_as_a_whole(whole, k):
    tear(whole, cut_at(whole, k))
    res = load_results(whole)
    assert set(res.results["case_id"]) == {"lin/4x4"}
    assert set(res.samples["case_id"]) == {"lin/4x4"}  # its samples are not shown either
    assert set(res.verdicts["case_id"]) == {"lin/4x4"}
    assert not res.verdicts["reason"].str.contains("only strategy that ran").any()
    assert any("lin/8x8 on cpu:0, half-written" in n for n in res.notes), res.notes
    # the whole first case is untouched
    assert sorted(res.results["strategy"]) == ["jacfwd", "jacrev"]


def test_a_tear_that_began_a_new_case_keeps_the_case_before_it(tmp_path):
    d = write_run(tmp_path / "d", [FIRST, LAST])
    path = d / schema.RESULTS_FILE
    path.write_bytes(path.read_bytes() + b"lin/16x16,lin,jacob")  # the next case's first bytes
    res = load_results(d)
    assert set(res.results["case_id"]) == {"lin/4x4", "lin/8x8"}
    assert any("incomplete last line" in n for n in res.notes)
    assert not any("half-written" in n for n in res.notes)


def test_torn_case_reads_only_the_fields_the_fragment_holds():
    header = list(schema.RESULT_COLUMNS[:9])
    row = ["p/2x2", "p", "jacobian", "2", "2", "1", "h", "cpu:0", "jacfwd"]
    assert torn_case(header, [row], "p/2x2,p,jacobian,2,2,1,h,cpu:0,jacr") == (
        "p/2x2",
        "h",
        "cpu:0",
    )
    assert torn_case(header, [row], "p/2") == ("p/2x2", "h", "cpu:0")  # too short to tell
    assert torn_case(header, [row], "p/3") is None  # another case's name
    assert torn_case(header, [row], "p/2x2,p,jacobian,2,2,1,h,cpu:1,") is None  # another device
    assert torn_case(header, [row], "p/2x20") is None  # a longer name is another case
    assert torn_case(header, [], "p/2") is None


def test_merge_never_takes_half_a_case(whole, tmp_path):
    tear(whole, cut_at(whole, 45))
    out = tmp_path / "merged"
    r = runner.invoke(app, ["merge", str(whole), "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = load_results(out)
    assert set(res.results["case_id"]) == {"lin/4x4"}
    assert not res.verdicts["reason"].str.contains("only strategy that ran").any()


@pytest.mark.parametrize(
    "expected",
    [("jacfwd", "jacrev"), ("jacfwd",), {"other": ("jacfwd",)}],
    ids=["both", "fewer-expected", "family-not-in-run-file"],
)
def test_repair_drops_the_half_case_so_resume_measures_it_again(whole, expected):
    tear(whole, cut_at(whole, 45))
    assert completed_keys(whole, expected) == {("lin/4x4", "cpu:0")}
    notes = repair(whole, expected)
    assert any("incomplete last line" in n for n in notes)
    assert any("dropped 1 rows of 1 unfinished case(s)" in n for n in notes), notes
    table = split(whole / schema.RESULTS_FILE)
    assert not table.torn
    assert {r[0] for r in table.rows} == {"lin/4x4"}
    samples = split(whole / schema.SAMPLES_FILE)
    assert {r[0] for r in samples.rows} == {"lin/4x4"}
    assert load_results(whole).notes == []


def test_report_does_not_show_the_half_case(whole):
    tear(whole, cut_at(whole, 200))
    r = runner.invoke(app, ["report", str(whole), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert "lin/8x8" not in r.stdout and "lin/4x4" in r.stdout
    assert "half-written" in r.stderr
