"""adbench.derivative / adbench.biharmonic / adbench.ntk in user code, without a policy (the
policy path: tests/test_operators_e2e.py): values against closed forms, options refused with a
one-line ValueError, the NTK's choice under jit and its output layouts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import adbench


def u(x):
    """sin(2 x0) exp(x1 / 2): u_t = u / 2, u_xx = -4 u, u_xxxx = 16 u, u_xt = cos(2 x0) e^(x1/2)."""
    return jnp.sin(2 * x[0]) * jnp.exp(0.5 * x[1])


X = jnp.asarray([[0.3, -0.4], [0.1, 0.2], [-0.5, 0.7]], jnp.float32)
U = np.sin(2 * np.asarray(X[:, 0])) * np.exp(0.5 * np.asarray(X[:, 1]))


def test_derivative_terms_and_mixed_partials_under_jit():
    residual = adbench.derivative(
        u,
        terms=[(1, [1]), (1, [0, 0]), {"coef": 2, "wrt": [0] * 4}],
        strategies=["nested_jvp", "taylor"],
    )
    got = jax.jit(jax.vmap(residual))(X)  # traced: decided by XLA's costs, not by timing
    np.testing.assert_allclose(got, (0.5 - 4 + 32) * U, rtol=1e-4, atol=1e-5)
    mixed = adbench.derivative(u, wrt=[0, 1], batched=True)
    want = 2 * np.cos(2 * np.asarray(X[:, 0])) * 0.5 * np.exp(0.5 * np.asarray(X[:, 1]))
    np.testing.assert_allclose(mixed(X), want, rtol=1e-4, atol=1e-5)
    assert mixed.choose(X) in ("nested_jacfwd", "nested_grad", "nested_jvp", "taylor")
    # the biharmonic of u: (-4 + 1/4)^2 u
    bih = adbench.biharmonic(u, batched=True, strategies=["taylor", "nested_forward_laplacian"])
    np.testing.assert_allclose(bih(X), (-4 + 0.25) ** 2 * U, rtol=1e-3, atol=1e-4)


def test_derivative_refuses_bad_options_in_one_line():
    with pytest.raises(ValueError, match="give wrt=.* or terms=, not both"):
        adbench.derivative(u, wrt=[0], terms=[(1, [0])])
    with pytest.raises(ValueError, match="order 0"):
        adbench.derivative(u, wrt=[])
    with pytest.raises(ValueError, match=r"no strategy applies: .*index 2 out of range"):
        adbench.derivative(u, wrt=[0, 2])(X[0])
    with pytest.raises(ValueError, match="scalar f"):
        adbench.biharmonic(lambda x: x)(X[0])


def mlp(params, x):
    """x (N, 1) -> (N, 2): a two-output network, so trace_axes matters."""
    return jnp.tanh(x @ params["w1"]) @ params["w2"]


PARAMS = {
    "w1": jnp.asarray(np.random.default_rng(0).normal(size=(1, 5)), jnp.float32),
    "w2": jnp.asarray(np.random.default_rng(1).normal(size=(5, 2)), jnp.float32),
}
X1 = jnp.linspace(-1, 1, 4, dtype=jnp.float32)[:, None]
X2 = jnp.linspace(0, 2, 3, dtype=jnp.float32)[:, None]


@jax.jit
def jacobian(x):
    j = jax.jacrev(lambda p: mlp(p, x))(PARAMS)  # (N, 2, ...) per leaf
    return jnp.concatenate([jnp.reshape(v, (x.shape[0], 2, -1)) for v in j.values()], axis=2)


@pytest.mark.parametrize(
    "strategy", ["jacobian_contraction", "per_example_contraction", "ntk_vector_products"]
)
def test_ntk_strategies_and_layouts(strategy):
    j1, j2 = jacobian(X1), jacobian(X2)
    full = jnp.einsum("akp,blp->abkl", j1, j2)  # (N1, N2, O, O)
    k = adbench.ntk(mlp, strategy)
    np.testing.assert_allclose(k(PARAMS, X1, X2), jnp.einsum("abkk->ab", full), rtol=1e-4)
    untraced = adbench.ntk(mlp, strategy, trace_axes=None)
    np.testing.assert_allclose(untraced(PARAMS, X1, X2), full, rtol=1e-4, atol=1e-6)
    assert k.explain() == f"ntk: strategy {strategy} (given)"


def test_ntk_times_its_candidates_once_per_shape_and_takes_per_example_when_traced():
    k = adbench.ntk(mlp, budget_s=0.02)
    want = jnp.einsum("akp,bkp->ab", jacobian(X1), jacobian(X1))
    np.testing.assert_allclose(k(PARAMS, X1), want, rtol=1e-4, atol=1e-6)
    (choice,) = k.choices.values()
    assert set(choice.medians) == {
        "jacobian_contraction",
        "per_example_contraction",
        "ntk_vector_products",
    }
    assert choice.strategy == min(choice.medians, key=choice.medians.__getitem__)
    assert "measured: " in k.explain()
    traced = adbench.ntk(mlp)
    np.testing.assert_allclose(jax.jit(traced)(PARAMS, X1), want, rtol=1e-4, atol=1e-6)
    assert not traced.choices  # a traced call's choice is not a measurement: not kept
    assert "a traced call cannot be timed: per_example_contraction" in traced.explain()
    with pytest.raises(ValueError, match="policy= needs family="):
        adbench.ntk(mlp, policy="policy.json")
    with pytest.raises(ValueError, match="unknown strategy 'jacfwd'"):
        adbench.ntk(mlp, "jacfwd")
