"""Run files whose factories return (fn, args): argnums, named sizes, per_example (declared and
detected), the structure columns of schema 3, faults as one line naming the argument and leaf,
older directories still loading, and `adbench predict` on the same check as `run`."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from adbench.api import load_results
from adbench.cli import app
from adbench.store import predictions as pst
from adbench.store import schema

runner = CliRunner()
QUICK = """\
time_budget_s: 0.05
min_sample_s: 0.0005
min_rounds: 3
max_rounds: 6
"""

FACTORIES = """
import sys

import jax.numpy as jnp
import numpy as np


def _params(width):
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(width, 1)), rng.normal(size=(1, width))
    return {"w1": w1, "b1": np.zeros(width), "w2": w2}


def _u(p, x):
    return (jnp.tanh(x @ p["w1"].T + p["b1"]) @ p["w2"].T)[:, 0]


def ntk(width, n_points):
    return _u, (_params(width), np.linspace(-1, 1, n_points)[:, None])


def int_leaf(width, n_points):
    p = _params(width)
    p["steps"] = np.arange(3)
    return (lambda p, x: _u(p, x)), (p, np.ones((n_points, 1)))


def short_output(width, n_points):
    return (lambda p, x: _u(p, x)[1:]), (_params(width), np.ones((n_points, 1)))


def declared(d_in, d_out):
    return (lambda a, b: jnp.tanh(a[:d_out] * b)), (np.ones(d_in), np.float32(2.0))


def tuple_x0(d_in, d_out):
    return (lambda x: x * x), (0.5, 0.25)


def exits(d_in, d_out):
    sys.exit(3)


def int_output(d_in, d_out):
    return lambda x: jnp.round(x).astype(jnp.int32)


def wrong_shape(d_in, d_out):
    return lambda x: jnp.concatenate([x, x])
"""


@pytest.fixture
def run_file(tmp_path: Path):
    (tmp_path / "fns.py").write_text(FACTORIES, encoding="utf-8")

    def write(body: str, quick: str = QUICK) -> Path:
        path = tmp_path / "run.yaml"
        path.write_text(quick + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


def _run(path: Path, out: Path) -> pd.DataFrame:
    r = runner.invoke(app, ["run", str(path), "--out", str(out), "-q"])
    assert r.exit_code in (0, 1), r.output
    return load_results(out).results


def test_named_sizes_argnums_and_declared_per_example(run_file, tmp_path):
    path = run_file(
        """\
        strategies: [jacfwd, jacrev]
        families:
          - name: ntk
            callable: fns.py:ntk
            sizes: {width: [3], n_points: [4, 6]}
            argnums: 0
            per_example: 1
        """
    )
    res = _run(path, tmp_path / "out")
    assert sorted(res["case_id"].unique()) == ["ntk/width=3,n_points=4", "ntk/width=3,n_points=6"]
    # declared: per_example measured beside the run's strategies, checked like them
    by = res.set_index(["case_id", "strategy"])
    row = by.loc[("ntk/width=3,n_points=6", "per_example")]
    assert row["status"] == "ok", row["reason"]
    assert (row["d_in"], row["d_out"]) == (3 + 3 + 3, 6)  # measured: w1 (3,1), b1 (3,), w2 (1,3)
    assert row["sizes"] == "width=3,n_points=6"
    assert row["in_tree"] == "args[0]['b1'] f32[3]; args[0]['w1'] f32[3,1]; args[0]['w2'] f32[1,3]"
    assert row["out_tree"] == "out f32[6]"
    assert str(row["argnums"]) == "0" and row["per_example"] == 1
    assert row["per_example_how"] == "declared"
    assert set(res["status"]) == {"ok"}
    rep = runner.invoke(app, ["report", str(tmp_path / "out")])
    assert rep.exit_code == 0 and "per_example" in rep.output


def test_undeclared_per_example_structure_is_detected_and_offered(run_file, tmp_path):
    path = run_file(
        """\
        families:
          - name: ntk
            callable: fns.py:ntk
            sizes: {width: [2], n_points: [3]}
          - name: listed
            callable: fns.py:ntk
            sizes: {width: [2], n_points: [3]}
            strategies: [jacfwd, jacrev]
        """
    )
    res = _run(path, tmp_path / "out")
    ntk = res[res["family"] == "ntk"].set_index("strategy")
    assert ntk.loc["per_example", "status"] == "ok", ntk.loc["per_example", "reason"]
    assert set(ntk["per_example_how"]) == {"detected"}
    assert set(ntk.index) == {*schema.DEFAULT_STRATEGIES["jacobian"], "per_example"}
    # strategies listed by hand: the structure is recorded, the strategy not added
    listed = res[res["family"] == "listed"]
    assert set(listed["strategy"]) == {"jacfwd", "jacrev"}
    assert set(listed["per_example_how"]) == {"detected"}


def test_faults_of_arguments_and_output_are_the_case_s_one_line(run_file, tmp_path):
    path = run_file(
        """\
        strategies: [jacfwd, jacrev]
        families:
          - name: int_leaf
            callable: fns.py:int_leaf
            sizes: {width: [2], n_points: [3]}
          - name: short
            callable: fns.py:short_output
            sizes: {width: [2], n_points: [3]}
            per_example: 1
          - name: far
            callable: fns.py:ntk
            sizes: {width: [2], n_points: [3]}
            argnums: 2
          - name: ok
            callable: fns.py:ntk
            sizes: {width: [2], n_points: [3]}
        """
    )
    res = _run(path, tmp_path / "out").set_index(["family", "strategy"])
    reason = {f: res.loc[(f, "jacrev"), "reason"] for f in ("int_leaf", "short", "far")}
    assert reason["int_leaf"] == (
        "argument 0, leaf ['steps']: dtype int64 is not floating point, so it cannot be "
        "differentiated (cast it to float, or leave this argument out of argnums)"
    )
    assert reason["short"].startswith(
        "the output: shape (2,), but argument 1 (per_example) holds 3 points"
    )
    assert reason["far"].startswith("argnums 2 is out of range: the function is given 2 arguments")
    for f in reason:
        assert res.loc[(f, "jacrev"), "status"] == "error"
    assert res.loc[("ok", "jacrev"), "status"] == "ok"  # the run went on


def test_declared_sizes_are_checked_and_old_tuple_x0_still_works(run_file, tmp_path):
    path = run_file(
        """\
        strategies: [jacfwd, jacrev]
        families:
          - name: declared
            callable: fns.py:declared
            points: [[3, 2]]
          - name: liar
            callable: fns.py:declared
            points: [[3, 5]]
          - name: x0
            callable: fns.py:tuple_x0
            points: [[2, 2]]
        """
    )
    res = _run(path, tmp_path / "out").set_index(["family", "strategy"])
    assert res.loc[("declared", "jacrev"), "status"] == "ok"
    assert res.loc[("declared", "jacrev"), "in_tree"] == "args[0] f32[3]"
    assert res.loc[("liar", "jacrev"), "reason"] == (
        "the output holds 3 values (out f32[3]), but the family declares d_out = 5"
    )
    # an old factory's (fn, (0.5, 0.25)) is its x0, not two arguments
    assert res.loc[("x0", "jacrev"), "status"] == "ok"
    assert pd.isna(res.loc[("x0", "jacrev"), "in_tree"])


def test_validate_refuses_a_negative_seed(run_file):
    path = run_file("seed: -1\nfamilies:\n  - {name: p, builtin: power, d_in: [1], d_out: [3]}\n")
    r = runner.invoke(app, ["validate", str(path)])
    assert r.exit_code == 2
    assert "seed: must be an integer >= 0" in r.output and len(r.output.strip().splitlines()) == 1


def test_a_schema_2_directory_loads_with_the_structure_columns_empty():
    res = load_results(Path(__file__).parent / "data" / "schema2" / "report")
    assert res.meta["schema_version"] == 2
    assert list(res.results.columns) == list(schema.RESULT_COLUMNS)
    for col in schema.STRUCTURE_COLUMNS:
        assert res.results[col].isna().all(), col
    assert len(res.verdicts) and set(res.verdicts["family"]) >= {"chunked", "hess"}


def test_predict_records_a_factory_that_exits_and_goes_on(run_file, tmp_path):
    """issue 18: sys.exit(3) in a factory ended `adbench predict` silently with exit 3."""
    path = run_file(
        """\
        strategies: [jacfwd, jacrev]
        families:
          - {name: gone, callable: "fns.py:exits", points: [[2, 2]]}
          - {name: power, builtin: power, d_in: [1], d_out: [50]}
          - {name: int_out, callable: "fns.py:int_output", points: [[3, 3]]}
          - {name: shape, callable: "fns.py:wrong_shape", points: [[3, 3]]}
          - {name: ntk, callable: "fns.py:ntk", sizes: {width: [2], n_points: [4]}}
        """
    )
    out = tmp_path / "pred"
    r = runner.invoke(app, ["predict", str(path), "--out", str(out), "-q"])
    assert r.exit_code == 1, r.output
    by = pd.read_csv(out / pst.PREDICTIONS_FILE).set_index("case_id")
    assert by.loc["gone/2x2", "status"] == "error"
    assert by.loc["gone/2x2", "reason"] == "factory raised SystemExit: 3"
    assert by.loc["power/1x50", "predicted"] == "jacfwd"
    # the output check is run's: an integer output and a wrong shape are refused, not predicted
    assert "output dtype int32 is not floating point" in by.loc["int_out/3x3", "reason"]
    assert by.loc["shape/3x3", "reason"] == (
        "output has shape (6,), but the family declares d_out = 3"
    )
    assert (by.loc["int_out/3x3", "predicted"], by.loc["shape/3x3", "predicted"]) == (
        "none",
        "none",
    )
    # a family of named sizes is predicted at its measured sizes
    row = by.loc["ntk/width=2,n_points=4"]
    assert (row["d_in"], row["d_out"], row["status"]) == (6, 4, "ok")
    assert not math.isnan(row["jacrev_flops"])


def test_the_example_factories_measure(run_file, tmp_path):
    """configs/my_functions.py:gauss_newton (declared sizes) and configs/your_code.py (named)."""
    configs = Path(__file__).resolve().parent.parent / "configs"
    path = run_file(
        f"""\
        strategies: [jacrev]
        families:
          - name: gn
            callable: "{configs / "my_functions.py"}:gauss_newton"
            points: [[3, 20]]
            argnums: 0
            per_example: 1
          - name: ntk
            callable: "{configs / "your_code.py"}:ntk"
            sizes: {{width: [4], n_points: [8]}}
            per_example: 1
          - name: residual
            callable: "{configs / "your_code.py"}:residual"
            sizes: {{width: [3], n_points: [5]}}
            strategies: [jacrev, per_example]
        """
    )
    res = _run(path, tmp_path / "out").set_index(["family", "strategy"])
    assert set(res["status"]) == {"ok"}, res["reason"].to_dict()
    assert res.loc[("gn", "per_example"), "in_tree"] == (
        "args[0]['powers'] f32[2]; args[0]['slope'] f32[1]"
    )
    assert res.loc[("residual", "per_example"), "per_example_how"] == "detected"
    assert (res.loc[("ntk", "jacrev"), "d_in"], res.loc[("ntk", "jacrev"), "d_out"]) == (13, 8)


def test_measured_shape_survives_the_case_timeout_worker(run_file, tmp_path):
    """The --case-timeout child sends back the strategies only; the measured d_in, d_out and
    structure columns travel with them."""
    path = run_file(
        """\
        strategies: [jacrev]
        families:
          - {name: ntk, callable: "fns.py:ntk", sizes: {width: [3], n_points: [4]}}
        """
    )
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(path), "--out", str(out), "-q", "--case-timeout", "300"])
    assert r.exit_code == 0, r.output
    row = load_results(out).results.set_index("strategy").loc["jacrev"]
    assert (row["d_in"], row["d_out"], row["status"]) == (9, 4, "ok")
    assert row["in_tree"].startswith("args[0]['b1'] f32[3]")
    assert row["per_example_how"] == "detected"
