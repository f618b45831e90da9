"""Case errors: each bad case is recorded with its status and reason, said in one line on
the terminal, and the sweep goes on; the run exits 1. User factories: tests/data/bad_callables.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench import load_results
from adbench.cli import app
from adbench.store import schema

CALLABLES = Path(__file__).resolve().parent / "data" / "bad_callables.py"
runner = CliRunner()

# family -> (status of jacfwd, status of jacrev, fragment of the reason)
EXPECTED = {
    "raises": ("error", "error", "factory raised RuntimeError: cannot build this model"),
    "takes_no_sizes": ("error", "error", "factory raised TypeError"),
    "not_a_function": ("error", "error", "factory returned int, expected a function"),
    "bad_x0": ("error", "error", "example input has shape (3,), expected (2,)"),
    "fn_raises": ("error", "error", "function raised ValueError: the model diverged"),
    "wrong_shape": ("error", "error", "output has shape (3,), but the family declares d_out = 2"),
    "not_an_array": ("error", "error", "output is a list, expected one array of shape (2,)"),
    "returns_none": ("error", "error", "output is a NoneType"),
    "integer_output": ("error", "error", "output dtype int32 is not floating point"),
    "complex_output": ("error", "error", "output dtype complex64 is complex"),
    "nonfinite": ("nonfinite", "nonfinite", "NaN/Inf entries"),
    "mismatch": ("mismatch", "mismatch", "jacfwd and jacrev disagree"),
    "reverse_only": ("error", "ok", "jacfwd failed to compile"),
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("case_errors")
    lines = [FAST, "name: case-errors", "families:"]
    lines.append("  - {name: first_ok, builtin: linear, points: [[2, 2]]}")
    for fam in EXPECTED:
        lines.append(f'  - {{name: {fam}, callable: "{CALLABLES}:{fam}", points: [[2, 2]]}}')
    lines.append(f'  - {{name: last_ok, callable: "{CALLABLES}:ok", points: [[2, 4]]}}')
    config = d / "bad.yaml"
    config.write_text("\n".join(lines) + "\n")
    out = d / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    return r, out


def test_the_sweep_goes_on_and_exits_1(bad_run):
    r, out = bad_run
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    df = pd.read_csv(out / schema.RESULTS_FILE)
    assert len(df) == 2 * (len(EXPECTED) + 2), "every case is stored, in both modes"
    ok = df[df["family"].isin(["first_ok", "last_ok"])]
    assert set(ok["status"]) == {"ok"} and ok["median_s"].notna().all()
    assert (out / schema.VERDICTS_FILE).is_file()


@pytest.mark.parametrize("family", list(EXPECTED))
def test_case_error_is_recorded_with_its_reason(bad_run, family):
    _, out = bad_run
    fwd_status, rev_status, fragment = EXPECTED[family]
    df = pd.read_csv(out / schema.RESULTS_FILE, keep_default_na=False)
    rows = df[df["family"] == family].set_index("strategy")
    assert rows.loc["jacfwd", "status"] == fwd_status
    assert rows.loc["jacrev", "status"] == rev_status
    failed = [m for m in ("jacfwd", "jacrev") if rows.loc[m, "status"] != "ok"]
    for mode in failed:
        reason = rows.loc[mode, "reason"]
        assert fragment in reason, reason
        assert "\n" not in reason


@pytest.mark.parametrize("family", list(EXPECTED))
def test_each_fault_is_one_line_on_the_terminal(bad_run, family):
    r, _ = bad_run
    mine = [line for line in r.stderr.splitlines() if line.strip().startswith(f"{family}/")]
    fwd_status, rev_status, fragment = EXPECTED[family]
    faults = {(fwd_status, "jacfwd"), (rev_status, "jacrev")} - {("ok", "jacfwd"), ("ok", "jacrev")}
    assert 1 <= len(mine) <= len(faults), mine
    assert all(fragment in line for line in mine), mine
    if family in ("raises", "mismatch", "wrong_shape"):  # the same fault in both modes: said once
        assert len(mine) == 1 and "jacfwd/jacrev" in mine[0]


def test_partial_case_times_the_mode_that_works_and_recommends_it(bad_run):
    _, out = bad_run
    res = load_results(out)
    rows = res.results[res.results["family"] == "reverse_only"].set_index("strategy")
    assert rows.loc["jacrev", "n_samples"] >= 2 and rows.loc["jacrev", "median_s"] > 0
    verdict = res.verdicts.set_index("case_id").loc["reverse_only/2x2"]
    assert verdict["recommended"] == "jacrev" and verdict["n_ran"] == 1
    assert verdict["reason"].startswith("jacrev: the only strategy that ran; jacfwd error")


def test_a_wrong_jacobian_is_never_timed(bad_run):
    _, out = bad_run
    df = pd.read_csv(out / schema.RESULTS_FILE)
    for family in ("mismatch", "nonfinite"):
        assert df[df["family"] == family]["n_samples"].fillna(0).eq(0).all()


def test_report_lists_the_failures_and_exits_0(bad_run):
    _, out = bad_run
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    assert "raises/2x2 jacfwd on cpu:0: error: factory raised RuntimeError" in r.stderr
