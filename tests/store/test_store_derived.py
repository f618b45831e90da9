"""One staleness rule for derived files, and damaged samples refused with file, line, column.

A derived table (verdicts.csv, crossover.csv) is used only when meta.json records that it was
computed from exactly the results.csv and samples.csv on disk; otherwise it is recomputed, so
the verdict table and the crossover table of one report always come from the same data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.analysis.results import load_results
from adbench.analysis.verdict import verdicts_for
from adbench.cli import app
from adbench.render import views
from adbench.store import schema
from adbench.store.reader import ResultsError, data_stamp, derived_fresh

runner = CliRunner()


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """power 1 -> 2000 (jacfwd wins by far) and mean_squares 2000 -> 1 (jacrev)."""
    d = tmp_path_factory.mktemp("derived")
    (d / "run.yaml").write_text(
        FAST + "name: two\nfamilies:\n"
        "  - {name: power, builtin: power, d_in: [1], d_out: [300, 2000]}\n"
    )
    r = runner.invoke(app, ["run", str(d / "run.yaml"), "--out", str(d / "out"), "--quiet"])
    assert r.exit_code == 0, r.output
    return d / "out"


def copy(stored: Path, tmp_path: Path) -> Path:
    shutil.copytree(stored, tmp_path / "out")
    return tmp_path / "out"


def test_meta_records_what_each_derived_file_came_from(stored):
    meta = json.loads((stored / schema.META_FILE).read_text())
    stamp = data_stamp(stored)
    derived = (schema.VERDICTS_FILE, schema.CROSSOVER_FILE, schema.RANKING_FILE)
    assert meta["derived"] == dict.fromkeys(derived, stamp)
    for name in (schema.VERDICTS_FILE, schema.CROSSOVER_FILE):
        assert derived_fresh(stored, name, meta, stamp)


def slow_down_jacfwd(out: Path) -> None:
    """Rewrite the samples so jacfwd is 1000x slower, keeping every case and file time order
    (verdicts.csv is touched last, so a rule on file times would still trust it)."""
    path = out / schema.SAMPLES_FILE
    smp = pd.read_csv(path, keep_default_na=False)
    smp.loc[smp["strategy"] == "jacfwd", "seconds"] *= 1000
    smp.to_csv(path, index=False, float_format="%.17g")
    for name in (schema.VERDICTS_FILE, schema.CROSSOVER_FILE):
        (out / name).write_bytes((out / name).read_bytes())


def test_verdicts_of_other_data_are_recomputed(stored, tmp_path):
    out = copy(stored, tmp_path)
    assert set(load_results(out).verdicts["recommended"]) == {"jacfwd"}
    slow_down_jacfwd(out)
    res = load_results(out)
    assert set(res.verdicts["recommended"]) == {"jacrev"}
    fresh = verdicts_for(res.results, res.samples, margin=0.1)
    assert list(res.verdicts["recommended"]) == list(fresh["recommended"])
    # and the crossover table of the same report agrees with the verdicts
    assert set(views.build(res).crossovers["outcome"]) == {"jacrev"}


def test_a_fresh_derived_file_is_used_as_stored(stored, tmp_path):
    out = copy(stored, tmp_path)
    path = out / schema.VERDICTS_FILE
    v = pd.read_csv(path, keep_default_na=False)
    v["reason"] = "as stored"
    v.to_csv(path, index=False)  # same data stamp: the stored table is trusted
    assert set(load_results(out).verdicts["reason"]) == {"as stored"}


def test_a_stored_table_that_misses_a_case_is_recomputed(stored, tmp_path):
    out = copy(stored, tmp_path)
    path = out / schema.VERDICTS_FILE
    v = pd.read_csv(path, keep_default_na=False)
    v.iloc[:1].to_csv(path, index=False)
    assert len(load_results(out).verdicts) == 2


def test_a_directory_written_before_stamps_falls_back_to_file_times(stored, tmp_path):
    out = copy(stored, tmp_path)
    meta = json.loads((out / schema.META_FILE).read_text())
    del meta["derived"]
    (out / schema.META_FILE).write_text(json.dumps(meta))
    assert derived_fresh(out, schema.VERDICTS_FILE, meta, "whatever")
    (out / schema.RESULTS_FILE).write_bytes((out / schema.RESULTS_FILE).read_bytes())
    import os

    old = (out / schema.RESULTS_FILE).stat().st_mtime - 60
    os.utime(out / schema.VERDICTS_FILE, (old, old))
    assert not derived_fresh(out, schema.VERDICTS_FILE, meta, "whatever")


@pytest.mark.parametrize("value", ["-0.001", "0", "0.0", "inf", ""])
def test_a_sample_that_is_not_a_duration_is_one_line(stored, tmp_path, value):
    out = copy(stored, tmp_path)
    path = out / schema.SAMPLES_FILE
    lines = path.read_text().split("\n")
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("seconds")] = value
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines))
    with pytest.raises(ResultsError) as err:
        load_results(out)
    assert str(err.value).startswith(f"{path}:4: column seconds: ")
    for cmd in (["report", str(out)], ["compare", str(out), str(out)]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        lines_out = r.stderr.strip().splitlines()
        assert lines_out == [f"error: {err.value}"], r.stderr
