"""`adbench merge`: joins runs of one config, keeps each host's rows apart, recomputes the
verdicts; refuses (exit 2, one line, nothing written) other configs, mixed schema versions,
corrupted inputs, non-results directories and a case measured twice on one host and device."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench import load_results
from adbench.cli import app
from adbench.store import schema

runner = CliRunner()
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run of three tiny cases, to copy and alter."""
    d = tmp_path_factory.mktemp("merge")
    config = d / "three.yaml"
    config.write_text(
        FAST + "name: three\nfamilies:\n"
        "  - {name: lin, builtin: linear, points: [[2, 2], [3, 3], [40, 4]]}\n"
    )
    out = d / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    return out


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def as_host(d: Path, host: str) -> Path:
    """Make `d` look measured on another machine: every row's host and meta's."""
    for name in (schema.RESULTS_FILE, schema.SAMPLES_FILE):
        with (d / name).open(newline="") as fh:
            rows = list(csv.reader(fh))
        i = rows[0].index("host")
        for row in rows[1:]:
            row[i] = host
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        (d / name).write_text(buf.getvalue())
    (d / schema.VERDICTS_FILE).unlink()
    edit_meta(d, host=host)
    return d


def edit_meta(d: Path, **changes) -> None:
    meta = json.loads((d / schema.META_FILE).read_text())
    for key, value in changes.items():
        if key.startswith("config."):
            meta["config"][key.removeprefix("config.")] = value
        else:
            meta[key] = value
    (d / schema.META_FILE).write_text(json.dumps(meta))


def merge(*args: Path | str):
    return runner.invoke(app, ["merge", *map(str, args)])


def refused(r, out: Path, message: str) -> None:
    assert r.exit_code == 2, r.output
    assert message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_two_hosts_are_kept_apart_with_a_verdict_each(finished, tmp_path):
    a = copy(finished, tmp_path / "a")
    b = as_host(copy(finished, tmp_path / "b"), "other-host")
    out = tmp_path / "merged"
    r = merge(a, b, "--out", out)
    assert r.exit_code == 0, r.output
    assert "several hosts" in r.stderr and "every host's rows are kept" in r.stderr

    res = load_results(out)
    here = json.loads((a / schema.META_FILE).read_text())["host"]
    assert sorted(res.results["host"].unique()) == sorted([here, "other-host"])
    assert len(res.results) == 2 * len(load_results(a).results)
    assert not res.results.duplicated(list(schema.ROW_KEY)).any()
    # verdicts were written by the merge (not recomputed on load), one per case and host
    on_disk = pd.read_csv(out / schema.VERDICTS_FILE)
    assert len(on_disk) == 6 and on_disk.groupby("host").size().tolist() == [3, 3]
    # each host's verdicts come from its own rows only: host `here`'s are the source's, exactly
    mine = on_disk[on_disk["host"] == here].set_index("case_id")
    source = pd.read_csv(a / schema.VERDICTS_FILE).set_index("case_id")
    for col in ("recommended", "fwd_rev_ratio", "fwd_rev_ci_low", "fwd_rev_ci_high"):
        assert mine.loc[source.index, col].tolist() == source[col].tolist(), col
    assert (out / schema.CROSSOVER_FILE).is_file()

    meta = json.loads((out / schema.META_FILE).read_text())
    assert [s["path"] for s in meta["sources"]] == [str(a), str(b)]
    assert meta["hosts"] == sorted([here, "other-host"]) and meta["host"] is None
    assert meta["schema_version"] == schema.SCHEMA_VERSION and meta["finished_at"]


def test_the_same_case_twice_on_one_host_and_device_is_refused(finished, tmp_path):
    a, b = copy(finished, tmp_path / "a"), copy(finished, tmp_path / "b")
    out = tmp_path / "merged"
    refused(merge(a, b, "--out", out), out, "measured twice on the same machine and device")
    refused(merge(a, a, "--out", out), out, "given twice")


def test_another_config_is_refused(finished, tmp_path):
    a = copy(finished, tmp_path / "a")
    b = as_host(copy(finished, tmp_path / "b"), "other-host")
    edit_meta(b, **{"config.seed": 7})
    out = tmp_path / "merged"
    refused(merge(a, b, "--out", out), out, "measured another config")
    assert "'seed'" in merge(a, b, "--out", out).stderr


def test_another_schema_version_is_refused(finished, tmp_path):
    old = DATA / "compare" / "base"  # written by schema version 1
    assert json.loads((old / schema.META_FILE).read_text())["schema_version"] == 1
    out = tmp_path / "merged"
    refused(merge(finished, old, "--out", out), out, "schema version 1")


def test_version_1_directories_merge_into_version_2(tmp_path):
    a = copy(DATA / "compare" / "base", tmp_path / "a")
    b = copy(DATA / "compare" / "base", tmp_path / "b")
    edit_meta(a, host="old-a")
    edit_meta(b, host="old-b")
    out = tmp_path / "merged"
    r = merge(a, b, "--out", out)
    assert r.exit_code == 0, r.output
    meta = json.loads((out / schema.META_FILE).read_text())
    assert meta["schema_version"] == schema.SCHEMA_VERSION and meta["migrated_from"] == 1
    assert set(load_results(out).results["host"]) == {"old-a", "old-b"}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("garble", "results.csv:3: 2 fields"),
        ("no-meta", "meta.json: missing"),
        ("bad-json", "not valid JSON"),
        ("not-a-number", "is not a number"),
    ],
)
def test_a_corrupted_input_is_refused(finished, tmp_path, damage, message):
    a = copy(finished, tmp_path / "a")
    b = as_host(copy(finished, tmp_path / "b"), "other-host")
    res = b / schema.RESULTS_FILE
    lines = res.read_text().splitlines(keepends=True)
    if damage == "garble":
        lines[2] = "x,y\n"
        res.write_text("".join(lines))
    elif damage == "no-meta":
        (b / schema.META_FILE).unlink()
    elif damage == "bad-json":
        (b / schema.META_FILE).write_text("{")
    else:
        header = lines[0].rstrip("\n").split(",")
        cells = lines[1].rstrip("\n").split(",")
        cells[header.index("median_s")] = "fast"
        lines[1] = ",".join(cells) + "\n"
        res.write_text("".join(lines))
    out = tmp_path / "merged"
    refused(merge(a, b, "--out", out), out, message)


def test_a_directory_that_is_not_results_is_refused(finished, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff")
    out = tmp_path / "merged"
    refused(merge(finished, other, "--out", out), out, "meta.json: missing")
    refused(merge(finished, tmp_path / "nowhere", "--out", out), out, "no such results directory")


def test_an_interrupted_input_merges_its_finished_cases(finished, tmp_path):
    a = copy(finished, tmp_path / "a")
    res = a / schema.RESULTS_FILE
    text = res.read_text()
    res.write_text(text[: text.rstrip("\n").rfind("\n") + 30])  # killed mid-write
    edit_meta(a, finished_at=None)
    out = tmp_path / "merged"
    r = merge(a, "--out", out)
    assert r.exit_code == 0, r.output
    assert "incomplete last line" in r.stderr and "did not finish" in r.stderr
    assert len(load_results(out).results) == len(load_results(a).results)


def test_out_must_be_new_unless_forced(finished, tmp_path):
    out = copy(finished, tmp_path / "existing")
    before = (out / schema.RESULTS_FILE).read_bytes()
    b = as_host(copy(finished, tmp_path / "b"), "other-host")
    r = merge(b, "--out", out)
    assert r.exit_code == 2 and "not empty" in r.stderr
    assert (out / schema.RESULTS_FILE).read_bytes() == before
    r = merge(b, "--out", out, "--force")
    assert r.exit_code == 0, r.output
    assert set(load_results(out).results["host"]) == {"other-host"}
    r = merge(b, "--out", b)
    assert r.exit_code == 2 and "also an input" in r.stderr


# --- what a merge must not get wrong (issue 19: mutants that survived) -----------------------


def _merge_direct(tmp_path: Path, *dirs: Path, margins: list[float] | None = None):
    """merge_results with a derive that records the margin it was asked to judge at."""
    from adbench.session.derived import write_derived
    from adbench.store.merge import merge_results

    seen: list[float] = []

    def derive(writer, margin: float) -> None:
        seen.append(margin)
        write_derived(writer, margin)

    merged = merge_results(list(dirs), tmp_path / "merged", derive=derive)
    if margins is not None:
        margins += seen
    return merged


def test_a_merge_rejudges_at_the_runs_own_margin_not_ten_percent(finished, tmp_path):
    a = copy(finished, tmp_path / "a")
    meta = json.loads((a / schema.META_FILE).read_text())
    edit_meta(a, settings={**meta.get("settings", {}), "tie_margin": 0.25})
    b = as_host(copy(a, tmp_path / "b"), "other-host")
    seen: list[float] = []
    merged = _merge_direct(tmp_path, a, b, margins=seen)
    assert seen == [0.25]
    out = load_results(merged.out)
    assert out.meta["settings"]["tie_margin"] == 0.25
    assert set(out.verdicts["margin"]) == {0.25}


def test_a_missing_last_shard_is_reported(finished, tmp_path):
    """Shards 1/3 and 2/3 merged: 3/3 is missing and said so (a range that stops before the
    count, missing only the last one, would say nothing)."""
    a = copy(finished, tmp_path / "a")
    edit_meta(a, shard={"index": 1, "count": 3})
    b = as_host(copy(finished, tmp_path / "b"), "other-host")
    edit_meta(b, shard={"index": 2, "count": 3})
    merged = _merge_direct(tmp_path, a, b)
    assert any("shard(s) 3/3 are missing" in n for n in merged.notes), merged.notes


def test_merged_meta_is_finished_only_when_every_input_finished(finished, tmp_path):
    a = copy(finished, tmp_path / "a")
    b = as_host(copy(finished, tmp_path / "b"), "other-host")
    edit_meta(b, finished_at=None)
    merged = _merge_direct(tmp_path, a, b)
    meta = json.loads((merged.out / schema.META_FILE).read_text())
    assert meta["finished_at"] is None
    assert any("did not finish" in n for n in merged.notes)


def test_a_note_on_many_hosts_stays_one_readable_line(finished):
    """300 inputs of one case on one device kind: the note names three hosts and counts the
    rest, rather than listing 300 names."""
    import dataclasses

    from adbench.store.merge import _notes

    one = load_results(finished)
    runs = [
        dataclasses.replace(one, results=one.results.assign(host=f"node{i:03d}"), notes=[])
        for i in range(300)
    ]
    (note,) = [n for n in _notes(runs) if "several hosts" in n]
    assert "node000, node001, node002 and 297 more" in note
    assert "node299" not in note and len(note) < 400
