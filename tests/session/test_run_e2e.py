"""`adbench run` end to end with a fake measurer: exact, known output (hyperfine's mock
executor). The sweep's measuring function is replaced by one returning the rows of known case
specs (tests/builders.py), so everything after it (the writer, the verdicts, the ranking, the
crossover, the table) runs for real on numbers known in advance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from builders import C, FakeMeasurer, S
from typer.testing import CliRunner

from adbench.cli import app
from adbench.session import sweep
from adbench.store import schema

MS = 1e-3
CUSTOM_VJP = "jacfwd failed to compile: TypeError: can't apply forward-mode autodiff to custom_vjp"

CASES = [
    C("power", 1, 10, (S("jacfwd", 0.10 * MS), S("jacrev", 0.30 * MS), S("linearize", 0.104 * MS))),
    C("power", 1, 100, (S("jacfwd", 0.12 * MS), S("jacrev", 1.0 * MS), S("linearize", 0.2 * MS))),
    C(
        "power",
        1,
        1000,
        (S("jacfwd", 0.2 * MS, compile_s=0.3), S("jacrev", 9 * MS), S("linearize", 1 * MS)),
    ),
    C("ode", 4, 4, (S("jacfwd", status="error", reason=CUSTOM_VJP), S("jacrev", 0.5 * MS))),
]
CONFIG = """\
name: e2e
time_budget_s: 0.05
families:
  - {name: power, builtin: power, d_in: [1], d_out: [10, 100, 1000]}
  - {name: ode, builtin: linear, points: [[4, 4]]}
"""

# what `adbench run` prints on stdout (the table's natural width when not on a terminal and
# COLUMNS is unset), lines right-stripped
PLAIN = {"COLUMNS": None, "NO_COLOR": None, "FORCE_COLOR": None}
EXPECTED_TABLE = Path(__file__).parents[1] / "data" / "e2e" / "run_stdout.txt"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMeasurer:
    measurer = FakeMeasurer({c.case_id: c for c in CASES})
    monkeypatch.setattr(sweep, "_in_process", lambda *args, **kwargs: measurer)
    return measurer


def test_run_with_a_fake_measurer_gives_exact_output(fake, tmp_path: Path) -> None:
    config = tmp_path / "e2e.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", str(config), "--out", str(out), "--device", "cpu"]
    r = CliRunner().invoke(app, args, env=PLAIN)
    assert fake.seen == ["power/1x10", "power/1x100", "power/1x1000", "ode/4x4"]
    assert r.exit_code == 1, r.output  # a strategy failed: recorded, and the run went on
    expected = EXPECTED_TABLE.read_text(encoding="utf-8").splitlines()
    assert [ln.rstrip() for ln in r.stdout.splitlines()] == expected
    assert f"results: {out}" in r.stderr

    v = pd.read_csv(out / schema.VERDICTS_FILE, keep_default_na=False).set_index("case_id")
    assert list(v.reset_index().columns) == list(schema.VERDICT_COLUMNS)
    assert list(v["recommended"]) == ["tie", "jacfwd", "jacfwd", "jacrev"]
    assert v.loc["power/1x10", "tie_set"] == "jacfwd|linearize"
    assert v.loc["power/1x1000", "runner_up"] == "linearize"
    # jacfwd's one-off cost is 0.25 s more than linearize's; it saves the difference of their
    # medians per call: 293.8 calls, so the 294th repays it
    res = pd.read_csv(out / schema.RESULTS_FILE).set_index(["case_id", "strategy"])
    gain = res.loc[("power/1x1000", "linearize"), "median_s"]
    gain -= res.loc[("power/1x1000", "jacfwd"), "median_s"]
    assert 293 < 0.25 / gain < 294
    assert v.loc["power/1x1000", "break_even_calls"] == "294"
    assert v.loc["ode/4x4", "reason"].startswith("jacrev: the only strategy that ran; jacfwd error")
    ranking = pd.read_csv(out / schema.RANKING_FILE, keep_default_na=False)
    assert list(ranking.columns) == list(schema.RANKING_COLUMNS)
    assert list(ranking["rank"]) == ["1", "3", "1", "1", "3", "2", "1", "3", "2", "", "1"]
    cross = pd.read_csv(out / schema.CROSSOVER_FILE, keep_default_na=False)
    assert list(cross["outcome"]) == ["jacfwd", "n/a"]

    again = CliRunner().invoke(app, ["report", str(out)])
    assert again.exit_code == 0
    assert again.stdout.startswith(r.stdout)  # the same table, then the ranking and crossover
    assert "ranking: e2e" in again.stdout and "where jacfwd and jacrev tie" in again.stdout
