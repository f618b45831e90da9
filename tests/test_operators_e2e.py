"""The operator tasks (derivative, biharmonic, ntk, the new Laplacian strategies) through every
door, measured for real on a tiny run file: ``run``, ``report``, ``compare --tier
deterministic``, ``predict``, ``policy``, and the policy read back by ``adbench.derivative`` /
``biharmonic`` / ``laplacian`` / ``ntk``.

One run (module fixture) serves every test; the sizes are a few points of a width-4 network and
the budget 0.02 s (up to 2 s for the 6 rounds a verdict needs), so the time goes to compiling.
Timing decides nothing asserted here: only what must hold whatever the machine (every case
stored, verdicts present, an estimator never recommended without a tolerance, the policy's
choice used by the auto API, values exact).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import adbench
from adbench.cli import app

PINN = Path(__file__).resolve().parent.parent / "configs" / "pinn.py"
CONFIG = f"""\
name: ops_e2e
time_budget_s: 0.02
min_sample_s: 0.001
max_case_s: 2
families:
  - name: lap
    callable: "{PINN}:pinn_u"
    task: laplacian
    d_in: [3]
    batch: 4
    params: {{width: 4, depth: 1}}
    strategies: [hessian_trace, forward_laplacian, forward_laplacian_sparse, hutchinson, stde]
    samples: 2
  - name: d4
    callable: "{PINN}:pinn_u"
    task: derivative
    d_in: [2]
    batch: 4
    params: {{width: 4, depth: 1}}
    strategies: [nested_jacfwd, nested_jvp, taylor]
    wrt: [0, 0, 0, 0]
  - name: bih
    callable: "{PINN}:pinn_u"
    task: biharmonic
    d_in: [2]
    batch: 4
    params: {{width: 4, depth: 1}}
    strategies: [hessian_of_hessian, nested_forward_laplacian, taylor]
  - name: ntk
    callable: "{PINN}:ntk_mlp"
    task: ntk
    per_example: 1
    sizes: {{width: [4], n_points: [3]}}
"""
FAMILIES = {"lap": "laplacian", "d4": "derivative", "bih": "biharmonic", "ntk": "ntk"}
runner = CliRunner()


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the run file, its results directory), measured once."""
    root = tmp_path_factory.mktemp("ops_e2e")
    config = root / "ops.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    out = root / "results"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    return config, out


def test_run_stores_every_operator_case_and_its_estimator_errors(ran):
    _, out = ran
    res = pd.read_csv(out / "results.csv")
    assert dict(zip(res["family"], res["task"], strict=True)) == FAMILIES
    assert set(res["status"]) == {"ok"}, res[["strategy", "reason"]]
    est = res[res["strategy"].isin(["hutchinson", "stde"])]
    assert len(est) == 2 and (est["samples"] == 2).all()
    assert (est["rel_error_draws"] > 1).all() and (est["rel_error_mean"] >= 0).all()
    exact = res[~res["strategy"].isin(["hutchinson", "stde"])]
    assert exact["rel_error_mean"].isna().all()  # an exact strategy is checked, not estimated
    verdicts = pd.read_csv(out / "verdicts.csv").set_index("family")
    assert sorted(verdicts.index) == sorted(FAMILIES)
    # without tolerance: an estimate is never recommended, and the ranking says why
    assert verdicts.loc["lap", "recommended"] not in ("hutchinson", "stde")
    assert "hutchinson" not in str(verdicts.loc["lap", "tie_set"])
    ranking = pd.read_csv(out / "ranking.csv")
    lap = ranking[ranking["family"] == "lap"].set_index("strategy")
    for name in ("hutchinson", "stde"):
        assert np.isnan(lap.loc[name, "rank"])
        assert "set tolerance: to allow it" in lap.loc[name, "reason"]


def test_report_shows_every_operator_case(ran):
    _, out = ran
    r = runner.invoke(app, ["report", str(out), "--format", "md"])
    assert r.exit_code == 0, r.output
    for family in FAMILIES:
        assert f"| {family} " in r.stdout
    for name in ("forward_laplacian_sparse", "nested_jvp", "nested_forward_laplacian"):
        assert name in r.stdout
    assert "per_example_contraction" in r.stdout


def test_compare_deterministic_judges_the_operator_rows(ran, tmp_path):
    _, out = ran
    same = tmp_path / "same"
    shutil.copytree(out, same)
    r = runner.invoke(app, ["compare", "--tier", "deterministic", str(out), str(same)])
    assert r.exit_code == 0, r.output
    # a derivative strategy that now does twice XLA's flops is a regression of that row
    worse = tmp_path / "worse"
    shutil.copytree(out, worse)
    res = pd.read_csv(worse / "results.csv")
    row = (res["family"] == "d4") & (res["strategy"] == "taylor")
    res.loc[row, "flops"] = res.loc[row, "flops"] * 2
    res.to_csv(worse / "results.csv", index=False)
    r = runner.invoke(app, ["compare", "--tier", "deterministic", str(out), str(worse)])
    assert r.exit_code == 1, r.output
    assert "taylor" in r.output and "d4" in r.output


def test_predict_costs_every_operator_case(ran, tmp_path):
    config, _ = ran
    out = tmp_path / "pred"
    r = runner.invoke(app, ["predict", str(config), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    pred = pd.read_csv(out / "predictions.csv").set_index("family")
    assert sorted(pred.index) == sorted(FAMILIES)
    assert set(pred["status"]) == {"ok"}, pred["reason"]
    for family in FAMILIES:
        assert pred.loc[family, "predicted"] != "none"
    assert pred.loc["d4", "taylor_flops"] > 0


def _points(n: int, d: int) -> jax.Array:
    return jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (n, d)), jnp.float32)


def test_policy_is_read_back_by_the_auto_api(ran, tmp_path):
    _, out = ran
    path = tmp_path / "policy.json"
    r = runner.invoke(app, ["policy", str(out), "-o", str(path)])
    assert r.exit_code == 0, r.output
    entries = {e["family"]: e for e in json.loads(path.read_text())["entries"]}
    assert {f: e["task"] for f, e in entries.items()} == FAMILIES
    sys.path.insert(0, str(PINN.parent))
    try:
        import pinn
    finally:
        sys.path.remove(str(PINN.parent))
    u2, u3 = pinn.pinn_u(2, width=4, depth=1), pinn.pinn_u(3, width=4, depth=1)
    x2, x3 = _points(4, 2), _points(4, 3)

    def fourth(x):
        return jax.jacfwd(jax.jacfwd(jax.jacfwd(jax.grad(u2))))(x)[0, 0, 0, 0]

    def bih(x):
        return jnp.einsum("iijj->", jax.hessian(jax.hessian(u2))(x))

    def lap(x):
        return jnp.trace(jax.hessian(u3)(x))

    def chosen(family: str) -> list[str]:
        region = entries[family]["regions"][0]
        return region["tie_set"] or [region["recommended"]]

    # candidates: the policy's first choice and the task's reference, so each compiles twice at
    # most (a tie would compile every tied strategy); the policy must still pick among them
    def among(family: str, reference: str) -> dict[str, object]:
        return {
            **_pol(path, family),
            "strategies": list(dict.fromkeys([chosen(family)[0], reference])),
        }

    checks = [
        (adbench.derivative(u2, wrt=[0, 0, 0, 0], **among("d4", "nested_jacfwd")), x2, fourth),
        (adbench.biharmonic(u2, **among("bih", "hessian_of_hessian")), x2, bih),
        (adbench.laplacian(u3, **among("lap", "hessian_trace")), x3, lap),
    ]
    for auto, x, want in checks:
        got = auto(x)
        np.testing.assert_allclose(got, jax.jit(jax.vmap(want))(x), rtol=2e-3, atol=1e-4)
        assert "by policy" in auto.explain(x), auto.explain(x)
        assert auto.choose(x) in chosen(auto.family)
    f, (params, x) = pinn.ntk_mlp(1, 1, width=4, n_points=3)
    k = adbench.ntk(f, policy=path, family="ntk", budget_s=0.02)
    j = jax.jacrev(lambda p: f(p, x)[:, 0])(params)
    flat = jnp.concatenate([jnp.reshape(v, (3, -1)) for v in jax.tree_util.tree_leaves(j)], 1)
    np.testing.assert_allclose(k(params, x), flat @ flat.T, rtol=1e-4, atol=1e-6)
    assert "policy" in k.explain() and "family 'ntk'" in k.explain()


def _pol(path: Path, family: str) -> dict[str, object]:
    """The auto API's options to follow the policy's entry for ``family``."""
    return {"batched": True, "policy": path, "family": family}
