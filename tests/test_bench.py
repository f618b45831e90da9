"""adbench.bench(f, *args): one call measured as `adbench run` measures a case, with a table for
the terminal and the notebook, and a results directory every command reads."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import adbench
from adbench.api import load_results
from adbench.store import schema

QUICK = {"time_budget_s": 0.3}


# issue 15's pair is at n = 10000 (docs/your-code.md); 2000 keeps jacrev's rounds short here
N = 2000


def power(x):
    return x[0] ** jnp.arange(float(N))


def mean_squares(x):
    return jnp.mean(x**2)


@pytest.fixture(scope="module")
def classic():
    two = ["jacfwd", "jacrev"]
    wide = adbench.bench(power, jnp.array([0.999]), strategies=two, **QUICK)
    tall = adbench.bench(mean_squares, jnp.ones(N), strategies=two, **QUICK)
    return wide, tall


def test_the_classic_pair_recommends_jacfwd_then_jacrev(classic):
    wide, tall = classic
    assert (wide.recommended, tall.recommended) == ("jacfwd", "jacrev")
    assert wide.times["jacrev"] > 10 * wide.times["jacfwd"]
    assert "faster than" in wide.reason
    # d_in, d_out measured from the arguments and the output
    assert tuple(wide.results[["d_in", "d_out"]].iloc[0]) == (1, N)
    assert tuple(tall.results[["d_in", "d_out"]].iloc[0]) == (N, 1)
    assert wide.results["n_samples"].min() >= 6  # the rounds a verdict needs


def test_the_result_renders_in_a_notebook_and_a_terminal(classic):
    wide, _ = classic
    page = wide._repr_html_()
    assert page.startswith("<table") and "recommended" in page and "jacfwd" in page
    text = str(wide)
    assert "jacfwd" in text and f"1 → {N}" in text and "<table" not in text
    assert repr(wide) == text


def test_save_writes_a_results_directory_that_loads(classic, tmp_path):
    wide, _ = classic
    d = wide.save(tmp_path / "b")
    res = load_results(d)
    assert res.meta["schema_version"] == schema.SCHEMA_VERSION
    assert res.verdicts.iloc[0]["recommended"] == "jacfwd"
    assert set(res.results["strategy"]) == {"jacfwd", "jacrev"}
    with pytest.raises(Exception, match="--force|not empty|exists"):
        wide.save(tmp_path / "b")


def test_pytree_arguments_and_declared_per_example():
    rng = np.random.default_rng(0)
    p = {
        "w": rng.normal(size=(8, 1)).astype(np.float32),
        "v": rng.normal(size=8).astype(np.float32),
    }
    x = np.linspace(-1, 1, 20, dtype=np.float32)[:, None]

    def u(p, x):
        return jnp.tanh(x @ p["w"].T) @ p["v"]

    r = adbench.bench(u, p, x, per_example=1, time_budget_s=0.2)
    rows = r.results.set_index("strategy")
    assert rows.loc["per_example", "status"] == "ok", rows.loc["per_example", "reason"]
    assert rows.loc["per_example", "per_example_how"] == "declared"
    assert set(rows.index) == {*schema.DEFAULT_STRATEGIES["jacobian"], "per_example"}
    assert rows.loc["jacfwd", "in_tree"] == "args[0]['v'] f32[8]; args[0]['w'] f32[8,1]"


def test_faults_are_value_errors_naming_argument_and_leaf():
    with pytest.raises(ValueError, match=r"argument 0, leaf \['n'\]: dtype int32"):
        adbench.bench(lambda p: p["w"] * 2.0, {"w": jnp.ones(2), "n": jnp.arange(2)})
    with pytest.raises(ValueError, match="argnums 1 is out of range"):
        adbench.bench(jnp.sin, jnp.ones(2), argnums=1)
    with pytest.raises(ValueError, match="unknown jacobian strategy 'jacfast'"):
        adbench.bench(jnp.sin, jnp.ones(2), strategies=["jacfast"])
    with pytest.raises(ValueError, match="unknown task"):
        adbench.bench(jnp.sin, jnp.ones(2), task="gradient")
    with pytest.raises(ValueError, match="needs a scalar function"):
        adbench.bench(jnp.sin, jnp.ones(2), task="hessian")


def test_a_bug_in_the_function_keeps_its_own_exception():
    def buggy(x):
        return x / {}["missing"]

    with pytest.raises(KeyError, match="missing"):
        adbench.bench(buggy, jnp.ones(2))


def test_hessian_of_a_mean_over_points_per_example_and_has_aux():
    rng = np.random.default_rng(0)
    p = {
        "w": rng.normal(size=(4, 1)).astype(np.float32),
        "v": rng.normal(size=4).astype(np.float32),
    }
    x = np.linspace(-1, 1, 12, dtype=np.float32)[:, None]

    def loss(p, x):
        r = jnp.tanh(x @ p["w"].T) @ p["v"] - x[:, 0]
        return jnp.mean(r**2), {"residual": r}

    r = adbench.bench(
        loss,
        p,
        x,
        task="hessian",
        has_aux=True,
        per_example=1,
        strategies=["fwd_over_rev", "per_example"],
        time_budget_s=0.1,
    )
    rows = r.results.set_index("strategy")
    assert list(rows["status"]) == ["ok", "ok"], list(rows["reason"])
    assert rows.loc["per_example", "max_abs_diff"] <= 1e-3 * rows.loc["per_example", "max_abs"]
    assert (rows.loc["per_example", "d_in"], rows.loc["per_example", "d_out"]) == (8, 1)
