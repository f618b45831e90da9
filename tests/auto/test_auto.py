"""adbench.jacobian / hessian / laplacian: the choice, the transformations, and no overhead."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import adbench
from adbench.measure.calibrate import interleaved, relative_medians

# power at the seed's size (R^1 -> R^10000); mean_squares at R^2000 -> R, since the reference
# jax.jacfwd would build a 400 MB tangent matrix at 10^4 (the full size is checked by hand: see
# the README section "Choosing in code").
N = 10_000
N_MS = 2000


def power(x):
    """R^1 -> R^N: x -> [x^0, ..., x^(N-1)]."""
    return x[0] ** jnp.arange(N, dtype=x.dtype)


def mean_squares(x):
    """R^n -> R: mean(x^2)."""
    return jnp.mean(x**2)


def broyden(x):
    """Tridiagonal residual R^n -> R^n."""
    xp = jnp.pad(x, 1)
    return (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1


X_POWER = jnp.array([0.999])
X_MS = jnp.linspace(-1.0, 1.0, N_MS)


def _program(fn, x) -> str:
    """The optimised HLO computations of jit(fn) at x, without names of files and lines."""
    text = jax.jit(fn).lower(x).compile().as_text()
    text = text[text.index("\n%") if "\n%" in text else text.index("\nENTRY") :]
    return re.sub(r", metadata=\{[^}]*\}", "", text)


@pytest.mark.parametrize(
    ("f", "x", "expected", "reference"),
    [(power, X_POWER, "jacfwd", jax.jacfwd), (mean_squares, X_MS, "jacrev", jax.jacrev)],
)
def test_the_seed_functions(f, x, expected, reference):
    jac = adbench.jacobian(f)
    assert jac.choose(x) == expected
    want = jax.jacfwd(f)(x)
    np.testing.assert_allclose(jac(x), want, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jac)(x), want, rtol=1e-6)
    assert jac(x).shape == want.shape  # (N, 1) and (N,), as jax.jacfwd
    # no overhead: under jit it is the chosen strategy's program, op for op
    assert _program(jac, x) == _program(reference(f), x)


def test_vmap_over_a_batch_and_grad_of_a_function_of_the_jacobian():
    a = jnp.asarray(np.random.default_rng(0).normal(size=(7, 5)), jnp.float32)

    def f(x):
        return jnp.tanh(a @ x)

    jac = adbench.jacobian(f)
    xs = jnp.asarray(np.random.default_rng(1).normal(size=(4, 5)), jnp.float32)
    np.testing.assert_allclose(jax.vmap(jac)(xs), jax.jit(jax.vmap(jax.jacfwd(f)))(xs), rtol=1e-5)
    np.testing.assert_allclose(
        jax.jit(jax.vmap(jac))(xs), jax.jit(jax.vmap(jax.jacfwd(f)))(xs), rtol=1e-5
    )

    def loss(j):
        return lambda x: jnp.sum(j(x) ** 2)

    np.testing.assert_allclose(
        jax.grad(loss(jac))(xs[0]), jax.grad(loss(jax.jacfwd(f)))(xs[0]), rtol=1e-5
    )


def test_tridiagonal_picks_sparse_only_when_allowed():
    x = jnp.asarray(np.random.default_rng(0).normal(size=500), jnp.float32)
    dense = adbench.jacobian(broyden)
    assert dense.choose(x) in ("jacfwd", "jacrev")
    assert not isinstance(dense(x), sparse.BCOO)
    jac = adbench.jacobian(broyden, strategies=["jacfwd", "jacrev", "sparse"])
    assert jac.choose(x) == "sparse"
    out = jac(x)
    assert isinstance(out, sparse.BCOO)
    np.testing.assert_allclose(out.todense(), jax.jit(jax.jacfwd(broyden))(x), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda y: jac(y).todense())(x), out.todense())


def test_choose_and_explain():
    jac = adbench.jacobian(power)
    text = jac.explain(X_POWER)
    first = text.splitlines()[0]
    assert "jacfwd" in first and "prediction" in first and "float32[1]" in first
    assert any(line.lstrip().startswith("* jacfwd") for line in text.splitlines())
    assert any("jacrev: flops" in line for line in text.splitlines())
    abstract = jax.ShapeDtypeStruct((1,), jnp.float32)
    assert jac.choose(abstract) == "jacfwd"  # no data needed


def test_decided_once_per_shape_and_dtype():
    jac = adbench.jacobian(mean_squares)
    small = jnp.ones(10)
    assert jac.choice(small) is jac.choice(jnp.zeros(10))
    assert jac.choice(small) is not jac.choice(jnp.ones(20))
    jax.jit(jac)(small)
    assert len(jac._cache) == 2  # the traced call reused the eager decision


def test_forced_strategy():
    jac = adbench.jacobian(power, "jacrev")
    x = jnp.array([0.9])
    assert jac.choose(x) == "jacrev" and "forced" in jac.explain(x)
    small = adbench.jacobian(lambda x: jnp.sin(x) * x[0], "linearize")
    np.testing.assert_allclose(
        small(jnp.ones(3)), jax.jacfwd(lambda x: jnp.sin(x) * x[0])(jnp.ones(3))
    )


def test_calibration_times_the_candidates_even_inside_jit():
    jac = adbench.jacobian(broyden, strategies=["jacfwd", "sparse"], calibrate=True, budget_s=0.05)
    x = jnp.ones(300)
    y = jax.jit(lambda v: jac(v).todense() if jac.choose(v) == "sparse" else jac(v))(x)
    np.testing.assert_allclose(y, jax.jit(jax.jacfwd(broyden))(x), rtol=1e-6)
    c = jac.choice(x)
    assert c.source == "calibration" and set(c.measured_s) == {"jacfwd", "sparse"}
    assert "measured" in jac.explain(x)


def test_interleaved_rotates_the_order_and_relative_medians():
    calls = []
    clock = iter(np.arange(0.0, 10_000.0, 0.5))
    samples = interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        budget_s=1.0,
        min_rounds=4,
        max_rounds=4,
        min_sample_s=0.1,
        clock=lambda: float(next(clock)),
    )
    assert len(samples["a"]) == len(samples["b"]) == 4
    assert calls[2:] == ["a", "b", "b", "a", "a", "b", "b", "a"]  # after one warm-up call each
    rel = relative_medians({"a": [1.0, 2.0, 1.0], "b": [2.0, 2.0, 3.0]})
    assert rel == {"a": 1.0, "b": 2.0}


def test_hessian_and_laplacian():
    x = jnp.linspace(-1.0, 1.0, 20)

    def f(v):
        return jnp.sum(jnp.sin(v) * v[0])

    want = jax.jit(jax.hessian(f))(x)  # eager jax.hessian runs op by op: seconds
    hes = adbench.hessian(f)
    assert hes.choose(x) in ("fwd_over_rev", "rev_over_rev", "rev_over_fwd", "fwd_over_fwd")
    np.testing.assert_allclose(jax.jit(hes)(x), want, rtol=1e-5, atol=1e-6)
    lap = adbench.laplacian(f)
    np.testing.assert_allclose(lap(x), jnp.trace(want), rtol=1e-5)
    assert lap(x).shape == ()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: adbench.jacobian(jnp.sin, "fwd_over_rev"), "belongs to task hessian"),
        (lambda: adbench.jacobian(jnp.sin, "nope"), "unknown jacobian strategy 'nope'"),
        (lambda: adbench.laplacian(jnp.sum, strategies=["sparse"]), "not 'laplacian'"),
        (lambda: adbench.jacobian(jnp.sin, strategies=[]), "non-empty list"),
        (lambda: adbench.jacobian(jnp.sin, "jacrev", strategies=["jacfwd"]), "not both"),
        (lambda: adbench.jacobian(jnp.sin, policy="p.json"), "needs family="),
        (lambda: adbench.jacobian(jnp.sin, budget_s=0), "budget_s"),
        (lambda: adbench.jacobian(3), "callable"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_problem(make, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        make()


@pytest.mark.parametrize(
    ("make", "x", "words"),
    [
        (lambda: adbench.hessian(jnp.sin, "fwd_over_rev"), jnp.ones(3), "scalar"),
        (lambda: adbench.hessian(jnp.sin), jnp.ones(3), "no strategy applies"),
        (lambda: adbench.jacobian(jnp.sin), jnp.arange(3), "floating"),
    ],
)
def test_strategies_that_do_not_apply_fail_at_the_call(make, x, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        make()(x)
