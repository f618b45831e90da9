"""The static prediction: cost model, decision, rules, agreement, XLA costs, `adbench predict`."""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.analysis import predict as pr
from adbench.cli import app
from adbench.measure import costs as C
from adbench.store import predictions as pst
from adbench.store import schema

runner = CliRunner()
M = pr.Machine(flop_rate=1e9, byte_rate=1e9, overhead_s=0.0, cache_bytes=1e6)


def test_traffic_within_the_cache_is_free_and_beyond_it_is_charged():
    # equal flops; b moves 8x more bytes but all of it fits the cache: a plain sum of bytes would
    # call b slower, the cache term calls them equal ...
    a, b = pr.Costs(flops=1e6, bytes_accessed=1e5), pr.Costs(flops=1e6, bytes_accessed=8e5)
    assert pr.predicted_seconds(a, M) == pr.predicted_seconds(b, M) == pytest.approx(1e-3)
    # ... and only the part beyond the cache counts
    c = pr.Costs(flops=0.0, bytes_accessed=3e6)
    assert pr.predicted_seconds(c, M) == pytest.approx(2e-3)
    assert math.isnan(pr.predicted_seconds(pr.Costs(math.nan, math.nan), M))


def test_predict_cheapest_tie_within_margin_and_order_breaks_equal_costs():
    costs = {"jacfwd": pr.Costs(1e6, 0), "jacrev": pr.Costs(3e6, 0)}
    p = pr.predict(costs, M, margin=0.1)
    assert (p.predicted, p.best, p.ratio) == ("jacfwd", "jacfwd", pytest.approx(3.0))
    assert "3x faster" in p.reason()
    close = {"jacfwd": pr.Costs(1.05e6, 0), "jacrev": pr.Costs(1e6, 0)}
    p = pr.predict(close, M, margin=0.1)
    assert (p.predicted, p.best) == ("tie", "jacrev")
    assert set(p.tie_set) == {"jacfwd", "jacrev"}
    # a missing margin would call a 5% difference a win
    assert pr.predict(close, M, margin=0.0).predicted == "jacrev"
    same = {"jacrev": pr.Costs(1e6, 0), "jacfwd": pr.Costs(1e6, 0)}
    assert pr.predict(same, M, order=["jacfwd", "jacrev"]).best == "jacfwd"
    assert pr.predict(same, M, order=["jacrev", "jacfwd"]).best == "jacrev"


def test_predict_without_counts_is_none():
    p = pr.predict({"jacfwd": pr.Costs(math.nan, math.nan)}, M)
    assert (p.predicted, p.best) == ("none", "")
    assert pr.predict({"jacfwd": pr.Costs(1.0, 1.0)}, M).predicted == "jacfwd"


def test_shape_rules():
    assert pr.textbook_rule(1, 10) == "jacfwd" and pr.textbook_rule(10, 1) == "jacrev"
    # lineax: forward if d_in < 100 or d_in <= 1.5 d_out
    assert pr.lineax_rule(99, 1) == "jacfwd"
    assert pr.lineax_rule(100, 66) == "jacrev"  # 100 > 99
    assert pr.lineax_rule(100, 67) == "jacfwd"  # 100 <= 100.5
    assert pr.lineax_rule(1000, 10) == "jacrev"


def test_agreement_joins_predictions_with_verdicts():
    preds = pd.DataFrame(
        {
            "case_id": ["a", "b", "c", "d"],
            "device": ["cpu:0"] * 4,
            "predicted": ["jacfwd", "tie", "jacrev", "jacfwd"],
            "predicted_best": ["jacfwd", "jacrev", "jacrev", "jacfwd"],
            "predicted_ratio": [5.0, 1.05, 2.0, 3.0],
        }
    )
    verdicts = pd.DataFrame(
        {
            "case_id": ["a", "b", "c", "e"],
            "device": ["cpu:0"] * 4,
            "recommended": ["jacfwd", "jacrev", "tie", "jacfwd"],
            "speedup": [4.0, 1.2, 1.01, 9.0],
        }
    )
    out = pr.agreement(preds, verdicts).set_index("case_id")
    assert list(out.reset_index().columns) == list(pr.AGREEMENT_COLUMNS)
    assert sorted(out.index) == ["a", "b", "c"]
    assert out.loc["a", ["decisive", "agrees"]].tolist() == ["yes", "yes"]
    # a predicted tie is judged by its cheapest strategy
    assert out.loc["b", ["decisive", "agrees"]].tolist() == ["no", "yes"]
    assert out.loc["c", ["decisive", "agrees"]].tolist() == ["no", "n/a"]


def test_accuracy_counts_picks_of_the_fastest_and_the_geometric_mean():
    acc = pr.accuracy([1.0, 1.0, 4.0])
    assert (acc.decisive, acc.agreed) == (3, 2)
    assert acc.geomean_slowdown == pytest.approx(4 ** (1 / 3))
    assert math.isnan(pr.accuracy([]).rate)


# --- XLA costs ----------------------------------------------------------------------------------


def _power(x):
    return x[0] ** jnp.arange(300, dtype=x.dtype)


def test_compile_strategy_costs_follow_the_basis():
    fwd = C.compile_strategy("jacobian", "jacfwd", _power, (1,), np.float32, d_out=300)
    rev = C.compile_strategy("jacobian", "jacrev", _power, (1,), np.float32, d_out=300)
    assert fwd.costs.flops * 10 < rev.costs.flops  # one tangent against 300 cotangents
    x = jnp.array([0.9], jnp.float32)
    assert np.allclose(fwd.executable(x), rev.executable(x))


def test_chunked_costs_count_every_trip_of_the_loop():
    def f(x):
        return jnp.tanh(jnp.outer(x, x).sum(axis=1))

    full = C.compile_strategy("jacobian", "jacfwd", f, (64,), np.float32, d_out=64)
    chunk = C.compile_strategy(
        "jacobian", "jacfwd_chunked", f, (64,), np.float32, d_out=64, chunk_size=8
    )
    assert chunk.costs.loop_trips == 8
    # XLA counts the loop body once; times 8 it is of the order of the unchunked program
    assert 0.5 < chunk.costs.flops / full.costs.flops < 4
    assert C.default_chunk(64) == 32 and C.default_chunk(1) == 1


# --- adbench predict ----------------------------------------------------------------------------

CONFIG = """\
name: tiny
families:
  - name: power
    builtin: power
    d_in: [1]
    d_out: [10, 1000]
  - name: mean_squares
    builtin: mean_squares
    d_in: [1000]
    d_out: [1]
"""


def test_cli_predict_writes_predictions_and_no_meta_json(write_config, tmp_path):
    out = tmp_path / "pred"
    r = runner.invoke(app, ["predict", str(write_config(CONFIG)), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["predictions.csv", "predictions.json"]
    table = pd.read_csv(out / pst.PREDICTIONS_FILE)
    assert list(table.columns) == pst.columns(("jacfwd", "jacrev"))
    assert list(table.columns[: len(schema.CASE_KEY)]) == list(schema.CASE_KEY)
    by = table.set_index("case_id")
    assert by.loc["power/1x1000", "predicted"] == "jacfwd"
    assert by.loc["mean_squares/1000x1", "predicted"] == "jacrev"
    assert by.loc["power/1x1000", "predicted_ratio"] > 10
    assert (by["status"] == "ok").all() and (by["jacrev_flops"] > 0).all()
    meta = json.loads((out / pst.PREDICTIONS_META_FILE).read_text())
    assert meta["predictions_version"] == pst.PREDICTIONS_VERSION and meta["jax_version"]
    assert pst.read(out) is not None


TWO_TASKS = """\
families:
  - name: power
    builtin: power
    d_in: [1]
    d_out: [10]
    strategies: [jacfwd, jacrev]
  - name: quad
    builtin: mean_squares
    task: hessian
    d_in: [5]
    strategies: [fwd_over_rev, rev_over_rev]
"""


def test_cli_predict_table_of_families_of_two_tasks(write_config, tmp_path):
    """Each row has columns for its own task's strategies only: the table leaves the others
    blank rather than failing on the first row that lacks one."""
    out = tmp_path / "pred"
    args = ["predict", str(write_config(TWO_TASKS)), "--out", str(out)]
    r = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "quad/5x1" in r.output and "power/1x10" in r.output
    by = pd.read_csv(out / pst.PREDICTIONS_FILE).set_index("case_id")
    assert by.loc["quad/5x1", "predicted"] in ("fwd_over_rev", "rev_over_rev", "tie")


def test_cli_predict_beside_a_run_and_refusals(write_config, tmp_path):
    config = str(write_config(CONFIG))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / schema.RESULTS_FILE).write_text("x\n")
    (run_dir / schema.META_FILE).write_text("{}\n")
    r = runner.invoke(app, ["predict", config, "--out", str(run_dir), "-q"])
    assert r.exit_code == 0, r.output
    assert (run_dir / schema.META_FILE).read_text() == "{}\n"  # the run's meta is untouched
    again = runner.invoke(app, ["predict", config, "--out", str(run_dir), "-q"])
    assert again.exit_code == 2 and "--force" in again.output
    assert (
        runner.invoke(app, ["predict", config, "-o", str(run_dir), "-q", "--force"]).exit_code == 0
    )


@pytest.mark.parametrize("case", ["no_config", "foreign_out"])
def test_cli_predict_bad_input_exits_2_and_writes_nothing(write_config, tmp_path, case):
    out = tmp_path / "out"
    if case == "foreign_out":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        config = write_config(CONFIG)
    else:
        config = tmp_path / "absent.yaml"
    before = sorted(p.name for p in out.iterdir()) if out.exists() else None
    r = runner.invoke(app, ["predict", str(config), "--out", str(out)])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else None) == before


def test_a_case_whose_function_fails_is_recorded_and_the_rest_predicted(tmp_path):
    bad = tmp_path / "fns.py"
    bad.write_text(
        "def broken(d_in, d_out):\n"
        "    def f(x):\n"
        "        raise RuntimeError('boom')\n"
        "    return f\n"
    )
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        FAST + CONFIG + "  - name: broken\n    callable: fns.py:broken\n    points: [[3, 3]]\n"
    )
    out = tmp_path / "pred"
    r = runner.invoke(app, ["predict", str(cfg), "--out", str(out), "-q"])
    assert r.exit_code == 1
    by = pd.read_csv(out / pst.PREDICTIONS_FILE).set_index("case_id")
    assert by.loc["broken/3x3", "status"] == "error"
    assert "boom" in by.loc["broken/3x3", "reason"]
    assert by.loc["power/1x1000", "predicted"] == "jacfwd"


def test_costs_only_compiles_report_the_same_counts():
    def f(x):
        return jnp.tanh(jnp.outer(x, x) @ x)

    for name in ("jacfwd", "jacrev"):
        full = C.compile_strategy("jacobian", name, f, (40,), np.float32, d_out=40)
        cheap = C.compile_strategy(
            "jacobian", name, f, (40,), np.float32, d_out=40, costs_only=True
        )
        assert cheap.costs == full.costs


def test_a_predicted_tie_says_how_much_cheaper_with_enough_digits():
    """issue 18: a ratio of 1.004 printed as 'cheapest by 1x'."""
    p = pr.Prediction(
        "tie", "jacfwd", ("jacfwd", "jacrev"), 1.004, {"jacfwd": 1e-3, "jacrev": 1.004e-3}
    )
    assert p.reason().endswith("jacfwd cheapest by 0.4%")
