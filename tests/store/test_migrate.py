"""Results schema version 1 -> 2 on load (adbench.store.migrate), on the committed v1 fixtures."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adbench.cli import app
from adbench.store import schema
from adbench.store.results import ResultsError, ResultsWriter, check_out_dir, load_results

V1_SWEEP = Path(__file__).parents[1] / "data" / "report" / "sweep"


def _f(text: str) -> float:
    return float(text) if text else math.nan


def _same(a: list[float], b: list[float]) -> bool:
    return all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True))


def _v1_rows(name: str) -> list[dict[str, str]]:
    with open(V1_SWEEP / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_fixture_really_is_version_1():
    assert '"schema_version": 1' in (V1_SWEEP / schema.META_FILE).read_text()
    assert "mode" in _v1_rows(schema.RESULTS_FILE)[0]


def test_version_1_results_load_with_current_columns_and_values_kept():
    res = load_results(V1_SWEEP)
    assert list(res.results.columns) == list(schema.RESULT_COLUMNS)
    assert list(res.samples.columns) == list(schema.SAMPLE_COLUMNS)
    raw = _v1_rows(schema.RESULTS_FILE)
    assert len(res.results) == len(raw)
    # mode became strategy, row by row, with the measurements untouched
    assert list(res.results["strategy"]) == [r["mode"] for r in raw]
    assert _same(list(res.results["median_s"]), [_f(r["median_s"]) for r in raw])
    assert _same(list(res.results["max_abs_diff"]), [_f(r["jac_max_abs_diff"]) for r in raw])
    assert set(res.results["task"]) == {"jacobian"}
    assert set(res.results["batch"]) == {1}
    assert set(res.results["host"]) == {""}
    assert res.samples["strategy"].isin(schema.MODES).all()


def test_version_1_verdicts_keep_their_stored_judgement():
    res = load_results(V1_SWEEP)
    raw = {r["case_id"]: r for r in _v1_rows(schema.VERDICTS_FILE)}
    v = res.verdicts.set_index("case_id")
    assert set(v.index) == set(raw)
    for cid, old in raw.items():
        new = v.loc[cid]
        assert new["recommended"] == old["recommended"]
        assert new["fwd_rev"] == old["recommended"]
        if not old["ratio"]:  # a mode failed: no ratio then, none now
            assert math.isnan(new["fwd_rev_ratio"]) and math.isnan(new["ratio"])
            continue
        assert new["fwd_rev_ratio"] == pytest.approx(float(old["ratio"]))
        if old["recommended"] == "jacrev":  # t(best)/t(runner-up) = t(rev)/t(fwd) = 1/ratio
            assert new["ratio"] == pytest.approx(1 / float(old["ratio"]))
            assert new["ratio_ci_high"] == pytest.approx(1 / float(old["ratio_ci_low"]))
            assert new["runner_up"] == "jacfwd"
        elif old["recommended"] == "jacfwd":
            assert new["ratio"] == pytest.approx(float(old["ratio"]))
            assert new["runner_up"] == "jacrev"
        elif old["recommended"] == "tie":
            assert new["tie_set"] == "jacfwd|jacrev"
            assert math.isnan(new["ratio"])


def test_version_1_directory_reports_and_is_never_rewritten(tmp_path):
    copy = tmp_path / "v1"
    shutil.copytree(V1_SWEEP, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    r = CliRunner().invoke(app, ["report", str(copy), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_resume_into_a_version_1_directory_is_refused(tmp_path):
    copy = tmp_path / "v1"
    shutil.copytree(V1_SWEEP, copy)
    with pytest.raises(ResultsError, match="older adbench .*version 1.*not resumed"):
        check_out_dir(copy, resume=True, force=False)


def test_a_version_2_directory_round_trips_through_the_writer(tmp_path):
    """The current writer's rows load back with the same columns (no migration applied)."""
    out = tmp_path / "v2"
    w = ResultsWriter(out)
    w.create()
    w.write_meta({"schema_version": schema.SCHEMA_VERSION, "host": "h"})
    key = dict(case_id="f/2x3", family="f", task="jacobian", d_in=2, d_out=3, batch=1, host="h")
    rows = [
        {**key, "device": "cpu:0", "strategy": s, "status": "ok", "reason": "", "median_s": t}
        for s, t in (("jacfwd", 1e-5), ("sparse", 2e-6))
    ]
    samples = [
        {
            **key,
            "device": "cpu:0",
            "strategy": r["strategy"],
            "round": i,
            "position": i % 2,
            "n_inner": 1,
            "seconds": r["median_s"],
        }
        for r in rows
        for i in range(3)
    ]
    w.append_case(rows, samples)
    res = load_results(out, with_verdicts=False)
    assert list(res.results["strategy"]) == ["jacfwd", "sparse"]
    assert list(res.samples["position"]) == [0, 1, 0, 0, 1, 0]
