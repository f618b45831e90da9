"""adbench.jacobian / adbench.hessian with ``per_example=K``: the per_example strategy joins the
candidates, equals JAX's transform leaf by leaf, reads each call's points (never the first
call's), and a wrong declaration is one ValueError naming the argument."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adbench


def _init(widths, seed=0):
    key, params = jax.random.PRNGKey(seed), []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        key, sub = jax.random.split(key)
        params.append({"w": jax.random.normal(sub, (a, b)) / a**0.5, "b": jnp.zeros(b)})
    return params


def net(params, X):  # X (n, 1) -> (n, 1): row i depends on the parameters and X[i] only
    h = X
    for i, p in enumerate(params):
        h = h @ p["w"] + p["b"]
        if i < len(params) - 1:
            h = jnp.tanh(h)
    return h


def mean_loss(params, X):
    return jnp.mean(net(params, X) ** 2)


def sum_loss(params, X):
    return jnp.sum(net(params, X) ** 2)


PARAMS = _init([1, 16, 1])
X = jnp.linspace(-1.0, 1.0, 20)[:, None]


def _close(got, want, atol):
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=atol), got, want)


def test_an_ntk_style_jacobian_picks_per_example_and_equals_jacrev():
    d = adbench.jacobian(net, per_example=1)
    assert d.choose(PARAMS, X) == "per_example"  # 49 parameters, 20 rows of one output each
    assert "per_example" in d.explain(PARAMS, X)
    _close(d(PARAMS, X), jax.jacrev(net)(PARAMS, X), 1e-5)
    assert adbench.jacobian(net).choose(PARAMS, X) != "per_example"  # not without per_example=


@pytest.mark.parametrize("loss", [mean_loss, sum_loss])
def test_a_hessian_of_a_mean_or_a_sum_over_points(loss):
    h = adbench.hessian(loss, "per_example", per_example=1)
    _close(h(PARAMS, X), jax.hessian(loss)(PARAMS, X), 1e-4)


def test_each_call_reads_its_own_points_under_jit():
    d = jax.jit(adbench.jacobian(net, "per_example", per_example=1))
    for scale in (1.0, 2.0, -0.5):
        _close(d(PARAMS, X * scale), jax.jacrev(net)(PARAMS, X * scale), 1e-5)
    h = jax.jit(adbench.hessian(mean_loss, "per_example", per_example=1))
    _close(h(PARAMS, X * 3.0), jax.hessian(mean_loss)(PARAMS, X * 3.0), 1e-4)


def test_several_output_leaves_and_has_aux():
    def f(params, X):
        y = net(params, X)
        return {"u": y, "u2": jnp.concatenate([y, y**2], axis=1)}, jnp.sum(y)

    d = adbench.jacobian(f, "per_example", per_example=1, has_aux=True)
    got, aux = d(PARAMS, X)
    want, want_aux = jax.jacrev(f, has_aux=True)(PARAMS, X)
    _close(got, want, 1e-5)
    np.testing.assert_allclose(aux, want_aux, rtol=1e-5)


def test_wrong_declarations_are_one_value_error_each():
    def mixed(params, X):  # row i depends on every point
        return net(params, X) * jnp.mean(X)

    def total(params, X):
        return jnp.sum(net(params, X)) * jnp.ones(3)  # 3 rows for 20 points

    cases = [
        (adbench.jacobian(net, per_example=5), "out of range for 2 argument"),
        (adbench.jacobian(net, per_example=0), "is a differentiated argument"),
        (adbench.jacobian(total, per_example=1), "leading axis must enumerate them"),
    ]
    for d, message in cases:
        with pytest.raises(ValueError, match=message):
            d(PARAMS, X)
    with pytest.raises(ValueError, match="not both"):
        adbench.jacobian(net, per_example=1, batched=True)
    with pytest.raises(ValueError, match="per_example must be an argument position"):
        adbench.jacobian(net, per_example="1")
    with pytest.raises(ValueError, match="applies to adbench.jacobian and adbench.hessian"):
        adbench.laplacian(mean_loss, per_example=1)
    with pytest.raises(ValueError, match="needs per_example=K"):
        adbench.jacobian(net, "per_example")(PARAMS, X)
    # a non-per-example function declared as one is measured against the reference elsewhere
    # (run files); here its Jacobian per point is simply another function: not silently equal
    got = adbench.jacobian(mixed, "per_example", per_example=1)(PARAMS, X)
    want = jax.jacrev(mixed)(PARAMS, X)
    assert not all(jax.tree_util.tree_leaves(jax.tree_util.tree_map(np.allclose, got, want)))


def test_a_scalar_neither_sum_nor_mean_is_refused():
    def regularised(params, X):
        return jnp.sum(net(params, X) ** 2) + jnp.sum(params[0]["w"] ** 2)  # R added once

    with pytest.raises(ValueError, match="neither the sum nor the mean"):
        adbench.hessian(regularised, "per_example", per_example=1)(PARAMS, X)
