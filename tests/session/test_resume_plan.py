"""Resume when strategies vary per family: a stored case is complete when it has a row for every
strategy its family plans (adbench.store.results.completed_keys / repair with a mapping), and
--resume measures exactly the incomplete ones again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.store import schema
from adbench.store.results import completed_keys, count_stored, repair

runner = CliRunner()

CONFIG = (
    FAST
    + """\
name: mixed
families:
  - {name: b, builtin: broyden, points: [[4, 4]], strategies: [jacfwd, sparse]}
  - name: r
    builtin: rosenbrock
    task: hessian
    d_in: [4, 6]
    strategies: [fwd_over_rev, rev_over_rev, sparse]
"""
)
PLAN = {"b": ("jacfwd", "sparse"), "r": ("fwd_over_rev", "rev_over_rev", "sparse")}


def _write(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """A results.csv with (case_id, family, strategy) rows, every other column empty."""
    df = pd.DataFrame(
        [{"case_id": c, "family": f, "strategy": s, "device": "cpu:0"} for c, f, s in rows]
    )
    df.reindex(columns=list(schema.RESULT_COLUMNS)).to_csv(path / schema.RESULTS_FILE, index=False)


def test_completeness_follows_each_family_s_strategies(tmp_path):
    _write(
        tmp_path,
        [
            ("b/4x4", "b", "jacfwd"),
            ("b/4x4", "b", "sparse"),  # complete: b plans two
            ("r/4x1", "r", "fwd_over_rev"),
            ("r/4x1", "r", "sparse"),  # two of r's three: incomplete
            ("gone/2x2", "gone", "jacfwd"),  # a family no longer listed: kept as it is
        ],
    )
    assert completed_keys(tmp_path, PLAN) == {("b/4x4", "cpu:0"), ("gone/2x2", "cpu:0")}
    # one list for every case (the old form) applies to every family, listed or not
    assert completed_keys(tmp_path, ("jacfwd", "sparse")) == {("b/4x4", "cpu:0")}
    assert count_stored(tmp_path, PLAN) == 2
    notes = repair(tmp_path, PLAN)
    assert notes == ["results.csv: dropped 2 rows of 1 unfinished case(s); they are measured again"]
    kept = pd.read_csv(tmp_path / schema.RESULTS_FILE)
    assert sorted(set(kept["case_id"])) == ["b/4x4", "gone/2x2"]


def test_resume_measures_only_cases_missing_one_of_their_strategies(tmp_path):
    config = tmp_path / "mixed.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out / schema.RESULTS_FILE)
    assert res.groupby("case_id")["strategy"].apply(tuple).to_dict() == {
        "b/4x4": PLAN["b"],
        "r/4x1": PLAN["r"],
        "r/6x1": PLAN["r"],
    }
    assert set(res["status"]) == {"ok"}
    # kill-like damage: the last case (r/6x1) lost its last row
    lines = (out / schema.RESULTS_FILE).read_text().splitlines(keepends=True)
    (out / schema.RESULTS_FILE).write_text("".join(lines[:-1]))
    before = "".join(lines[:-3])  # the rows of the complete cases
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume"])
    assert r.exit_code == 0, r.output
    assert "dropped 2 rows of 1 unfinished case(s)" in r.stderr
    assert (out / schema.RESULTS_FILE).read_text().startswith(before)
    again = pd.read_csv(out / schema.RESULTS_FILE)
    assert not again.duplicated(["case_id", "device", "strategy"]).any()
    assert again.groupby("case_id")["strategy"].apply(tuple).to_dict() == {
        "b/4x4": PLAN["b"],
        "r/4x1": PLAN["r"],
        "r/6x1": PLAN["r"],
    }
    samples = pd.read_csv(out / schema.SAMPLES_FILE)
    assert len(samples) == again["n_samples"].sum()
    assert set(samples["task"]) == {"jacobian", "hessian"}
