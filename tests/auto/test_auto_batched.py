"""batched=True: a derivative at B points, decided for B points (compiled, costed, calibrated
and looked up in a policy at batch B); the result is the per-point derivative stacked."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adbench

W = jnp.asarray(np.random.default_rng(0).normal(size=(3, 8)), jnp.float32)


def u(x):
    """A PINN-style scalar field R^3 -> R."""
    return jnp.sum(jnp.tanh(x @ W) ** 2)


X = jnp.asarray(np.random.default_rng(1).normal(size=(6, 3)), jnp.float32)


def _lap_reference(x):
    return jnp.trace(jax.hessian(u)(x))


def test_laplacian_at_b_points_is_the_per_point_laplacian_stacked():
    lap = adbench.laplacian(u, batched=True)
    want = jax.jit(jax.vmap(_lap_reference))(X)
    got = lap(X)
    assert got.shape == (6,)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(lap)(X), want, rtol=1e-5)
    assert "6 points of x float32[3]" in lap.explain(X)


def test_the_decision_is_made_for_the_batch():
    lap = adbench.laplacian(u, "hvp", batched=True)
    one = adbench.laplacian(u, "hvp")
    batch_costs = lap.choice(X).costs["hvp"]
    point_costs = one.choice(X[0]).costs["hvp"]
    # XLA counts the 6 points' work (4.8x one point's flops here: the batched program shares
    # some work across points); a decision for one point would count 1x
    assert 3 * point_costs.flops < batch_costs.flops <= 6 * point_costs.flops


def test_jacobian_batched_with_a_shared_argument_and_has_aux():
    def f(x, params):
        y = jnp.tanh(params["w"] @ x)
        return y, jnp.sum(y)

    params = {"w": jnp.asarray(np.random.default_rng(2).normal(size=(4, 3)), jnp.float32)}
    jac, aux = adbench.jacobian(f, batched=True, has_aux=True)(X, params)
    want, want_aux = jax.vmap(jax.jacfwd(f, has_aux=True), in_axes=(0, None))(X, params)
    assert jac.shape == (6, 4, 3)
    np.testing.assert_allclose(jac, want, rtol=1e-5)
    np.testing.assert_allclose(aux, want_aux, rtol=1e-5)


def test_batched_pytree_points():
    def f(p):
        return p["a"] * jnp.sum(p["b"] ** 2)

    pts = {"a": jnp.ones((5, 2)), "b": jnp.arange(15.0).reshape(5, 3)}
    got = adbench.jacobian(f, "jacrev", batched=True)(pts)
    want = jax.vmap(jax.jacrev(f))(pts)
    for key in ("a", "b"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5)
        assert got[key].shape == want[key].shape


def test_calibration_times_the_batch():
    lap = adbench.laplacian(
        u, batched=True, strategies=["hvp", "fwd_fwd"], calibrate=True, budget_s=0.05
    )
    big = jnp.ones((64, 3))
    c = lap.choice(big)
    assert c.source == "calibration" and set(c.measured_s) == {"hvp", "fwd_fwd"}
    assert "of 64 points" in c.why
    np.testing.assert_allclose(lap(big), jax.vmap(_lap_reference)(big), rtol=1e-5)


@pytest.mark.parametrize(
    ("points", "words"),
    [
        ({"a": jnp.ones((5, 2)), "b": jnp.ones((4, 3))}, "['a']: 5, ['b']: 4"),
        ({"a": jnp.ones((5, 2)), "b": jnp.asarray(1.0)}, "argument 0['b'] is 0-d"),
    ],
)
def test_batched_leaves_must_share_the_points_axis(points, words):
    jac = adbench.jacobian(lambda p: p["a"] * p["b"], batched=True)
    with pytest.raises(ValueError, match=re.escape(words)):
        jac(points)
