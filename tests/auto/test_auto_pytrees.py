"""adbench.jacobian / hessian / laplacian take what jax.jacfwd / jacrev / hessian take, and
return the same structure, leaf by leaf, eagerly and under jit, vmap and grad."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import adbench
from adbench.auto import derivative as task_derivative


def _close(got, want, rtol=1e-5, atol=1e-6):
    """Same tree structure, same leaf shapes, values within tolerance."""
    assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        assert np.shape(g) == np.shape(w)  # aux leaves come back as arrays (through jax.jit)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=atol)


def _mlp_params(sizes=(3, 4, 2), seed=0):
    """Flax-style nested dict: {"layers": [{"w": (a, b), "b": (b,)}, ...]}."""
    key = jax.random.PRNGKey(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        key, k1, k2 = jax.random.split(key, 3)
        layers.append({"w": jax.random.normal(k1, (a, b)) / a, "b": jax.random.normal(k2, (b,))})
    return {"params": {"layers": layers}}


def _apply(params, x):
    for layer in params["params"]["layers"][:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    last = params["params"]["layers"][-1]
    return x @ last["w"] + last["b"]


def loss(params, batch):
    """Mean squared error of the MLP on batch = (inputs (n, 3), targets (n, 2))."""
    x, y = batch
    return jnp.mean((_apply(params, x) - y) ** 2)


BATCH = (
    jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)), jnp.float32),
    jnp.asarray(np.random.default_rng(1).normal(size=(5, 2)), jnp.float32),
)
PARAMS = _mlp_params()


@pytest.mark.parametrize("strategy", ["auto", "jacfwd", "jacrev_chunked"])
def test_dict_of_arrays_mlp_equals_jacrev_leaf_by_leaf(strategy):
    jac = adbench.jacobian(loss, strategy, argnums=0)
    want = jax.jacrev(loss, argnums=0)(PARAMS, BATCH)
    _close(jac(PARAMS, BATCH), want)
    _close(jax.jit(jac)(PARAMS, BATCH), want)


def test_the_choice_is_the_prediction_and_reverse_wins_for_a_scalar_loss():
    jac = adbench.jacobian(loss)
    assert jac.choose(PARAMS, BATCH) == "jacrev"  # d_out 1, d_in 50: reverse by far
    assert "d_in 26" in jac.explain(PARAMS, BATCH)  # 3*4 + 4 + 4*2 + 2 raveled parameters


class Model(eqx.Module):
    """An Equinox module whose leaves are all arrays (what jax.jacrev accepts)."""

    lin: eqx.nn.Linear
    scale: jax.Array

    def __call__(self, x):
        return self.scale * jnp.tanh(self.lin(x))


def test_equinox_module_equals_jacrev():
    model = Model(eqx.nn.Linear(3, 4, key=jax.random.PRNGKey(2)), jnp.asarray(1.5))

    def f(m, x):
        return jnp.sum(jax.vmap(m)(x) ** 2)

    jac = adbench.jacobian(f)
    want = jax.jacrev(f)(model, BATCH[0])
    got = jac(model, BATCH[0])
    assert isinstance(got, Model)
    _close(got, want)


class Pair(NamedTuple):
    a: jax.Array
    b: jax.Array


def vector_tree(p, scale):
    """A pytree output (dict of a (2, 2) and a 0-d leaf) of a NamedTuple and a list."""
    a, b = p
    return {"m": jnp.outer(a, b[:2]) * scale[0], "s": jnp.sum(a * scale[1])}


P = Pair(jnp.arange(1.0, 3.0), jnp.arange(3.0))
SCALE = [jnp.asarray(2.0), jnp.asarray([0.5, 1.0])]


@pytest.mark.parametrize(
    ("argnums", "strategy"),
    [(0, "jacrev"), (1, "auto"), ((0, 1), "jacfwd_chunked"), ((1, 0), "linearize")],
)
def test_pytree_outputs_and_tuple_argnums_match_jacfwd(argnums, strategy):
    jac = adbench.jacobian(vector_tree, strategy, argnums=argnums)
    want = jax.jacfwd(vector_tree, argnums=argnums)(P, SCALE)
    _close(jac(P, SCALE), want)
    _close(jax.jit(jac)(P, SCALE), want)


def test_an_n_by_3_input_and_a_0d_input():
    x = jnp.asarray(np.random.default_rng(3).normal(size=(4, 3)), jnp.float32)

    def pairwise(x):  # (n, 3) -> (n, n)
        return jnp.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)

    jac = adbench.jacobian(pairwise)
    _close(jac(x), jax.jacfwd(pairwise)(x))
    assert jac(x).shape == (4, 4, 4, 3)
    scalar = adbench.jacobian(lambda t: jnp.sin(t) * jnp.arange(3.0))
    _close(scalar(jnp.asarray(0.3)), jax.jacfwd(lambda t: jnp.sin(t) * jnp.arange(3.0))(0.3))
    assert scalar(0.3).shape == (3,)  # a Python float, as jax.jacfwd takes it


def test_has_aux_returns_the_aux_as_jax_does():
    def f(params, batch):
        value = loss(params, batch)
        return value, {"loss": value, "n": batch[0].shape[0]}

    want, want_aux = jax.jacrev(f, has_aux=True)(PARAMS, BATCH)
    for jac, aux in (
        adbench.jacobian(f, has_aux=True)(PARAMS, BATCH),
        jax.jit(adbench.jacobian(f, "jacfwd", has_aux=True))(PARAMS, BATCH),
    ):
        _close(jac, want)
        _close(aux, want_aux)
    hes, aux = adbench.hessian(f, "fwd_over_rev", has_aux=True)(PARAMS, BATCH)
    _close(hes, jax.jit(jax.hessian(f, has_aux=True))(PARAMS, BATCH)[0], rtol=1e-4)
    lap, aux = adbench.laplacian(f, "hvp", has_aux=True)(PARAMS, BATCH)
    assert lap.shape == () and float(aux["loss"]) == pytest.approx(float(loss(PARAMS, BATCH)))


def test_under_vmap_and_grad():
    jac = adbench.jacobian(vector_tree, argnums=(0, 1))
    ps = Pair(jnp.ones((3, 2)) * jnp.arange(3.0)[:, None], jnp.ones((3, 3)))
    want = jax.vmap(jax.jacfwd(vector_tree, argnums=(0, 1)), in_axes=(0, None))(ps, SCALE)
    _close(jax.vmap(jac, in_axes=(0, None))(ps, SCALE), want)
    _close(jax.jit(jax.vmap(jac, in_axes=(0, None)))(ps, SCALE), want)

    def through(j):
        return lambda params: jnp.sum(jax.tree_util.tree_leaves(j(params, BATCH))[0] ** 2)

    _close(
        jax.jit(jax.grad(through(adbench.jacobian(loss, "jacrev"))))(PARAMS),
        jax.jit(jax.grad(through(jax.jacrev(loss))))(PARAMS),
        rtol=1e-4,
    )


def test_hessian_and_laplacian_of_a_pytree():
    want = jax.jit(jax.hessian(loss))(PARAMS, BATCH)
    for hes in (
        adbench.hessian(loss, strategies=["fwd_over_rev", "rev_over_rev"]),
        adbench.hessian(loss, "rev_over_fwd"),
    ):
        _close(hes(PARAMS, BATCH), want, rtol=1e-4)
    flat, unravel = jax.flatten_util.ravel_pytree(PARAMS)
    expected = jnp.trace(jax.jit(jax.hessian(lambda v: loss(unravel(v), BATCH)))(flat))
    for strategy in ("hessian_trace", "fwd_fwd"):
        lap = adbench.laplacian(loss, strategy)(PARAMS, BATCH)
        assert lap.shape == ()
        np.testing.assert_allclose(lap, expected, rtol=1e-4)


def test_sparse_on_a_pytree_is_a_bcoo_in_ravel_order():
    def residual(p):  # elementwise in each leaf: a diagonal Jacobian, rows in ravel order
        return {"u": jnp.sin(p["u"]), "v": p["v"] ** 2}

    p = {"u": jnp.arange(1.0, 7.0).reshape(2, 3), "v": jnp.arange(4.0)}
    jac = adbench.jacobian(residual, "sparse")
    out = jac(p)
    assert isinstance(out, sparse.BCOO) and out.shape == (10, 10)
    flat, unravel = jax.flatten_util.ravel_pytree(p)
    dense = jax.jacfwd(lambda v: jax.flatten_util.ravel_pytree(residual(unravel(v)))[0])(flat)
    np.testing.assert_allclose(out.todense(), dense, rtol=1e-6)
    hes = adbench.hessian(lambda q: jnp.sum(q["u"] ** 3) + jnp.sum(q["v"] ** 2), "sparse")(p)
    assert isinstance(hes, sparse.BCOO) and hes.shape == (10, 10)


def test_other_arguments_stay_arguments_of_the_compiled_program():
    """A new batch of the same shape reuses the decision and gives that batch's derivative."""
    jac = adbench.jacobian(loss)
    other = (BATCH[0] * 2.0, BATCH[1] - 1.0)
    _close(jac(PARAMS, other), jax.jacrev(loss)(PARAMS, other))
    _close(jac(PARAMS, BATCH), jax.jacrev(loss)(PARAMS, BATCH))
    assert len(jac._cache) == 1
    jax.jit(jac)(PARAMS, other)
    assert len(jac._cache) == 1  # the traced call has the same key


def test_the_key_holds_every_argument_shape_dtype_and_static_value():
    def f(p, data, power):
        return jnp.sum(p**power * data)

    jac = adbench.jacobian(f)
    p = jnp.ones(3)
    jac(p, jnp.ones(3), 2)
    jac(p, jnp.ones((2, 3)), 2)  # another shape of a non-differentiated argument
    jac(p, jnp.ones(3, jnp.int32), 2)  # another dtype
    np.testing.assert_allclose(jac(p, jnp.ones(3), 3), jax.jacfwd(f)(p, jnp.ones(3), 3))
    assert len(jac._cache) == 4
    for argnums, aux in ((0, False),):
        assert jac.choice(p, jnp.ones(3), 2) is jac.choice(p, jnp.zeros(3), 2)
        del argnums, aux


def test_a_function_that_cannot_be_traced_runs_eagerly_and_says_why():
    def branchy(x):
        if x[0] > 0:  # Python control flow on a value: jax.jit cannot trace it
            return x**2
        return -x

    jac = adbench.jacobian(branchy)
    x = jnp.asarray([1.0, 2.0])
    _close(jac(x), jax.jacfwd(branchy)(x))
    c = jac.choice(x)
    assert c.source == "eager" and c.compiled is None
    text = jac.explain(x)
    assert "cannot be traced" in text and "jax.jacfwd" in text and "Tracer" in text
    # under jit the user's own error propagates unchanged, as it does for jax.jacfwd
    with pytest.raises(jax.errors.TracerBoolConversionError):
        jax.jit(jac)(x)
    lap = adbench.laplacian(lambda v: jnp.sum(branchy(v)))
    np.testing.assert_allclose(lap(x), 4.0, rtol=1e-6)
    hes = adbench.hessian(lambda v: jnp.sum(branchy(v)), batched=True)
    np.testing.assert_allclose(hes(jnp.ones((2, 2))), 2 * jnp.broadcast_to(jnp.eye(2), (2, 2, 2)))


def _tree_fn(p, data):
    """A small pytree function of a dict and a shared array: d_in 5, scalar output."""
    return jnp.sum(jnp.sin(p["a"]) * data) + jnp.sum(p["b"] ** 3) * p["a"][0]


TREE = {"a": jnp.asarray([0.3, -0.2, 0.5]), "b": jnp.asarray([[0.1, 0.7]])}
DATA = jnp.asarray([1.0, 2.0, 3.0])


@pytest.mark.parametrize("task", ["jacobian", "hessian", "laplacian"])
def test_every_strategy_of_every_task_works_on_a_pytree(task):
    from adbench.strategies import registry

    flat, unravel = jax.flatten_util.ravel_pytree(TREE)

    def flat_fn(v):
        return _tree_fn(unravel(v), DATA)

    if task == "jacobian":
        want = jax.jacrev(_tree_fn)(TREE, DATA)
        dense_flat = jax.jacrev(flat_fn)(flat)[None, :]
    elif task == "hessian":
        want = jax.hessian(_tree_fn)(TREE, DATA)
        dense_flat = jax.hessian(flat_fn)(flat)
    else:
        want = jnp.trace(jax.hessian(flat_fn)(flat))
    for name in registry.names(task):
        s = registry.get(task, name)
        if s.structured or s.stochastic:  # per_example: tests/test_bench.py; estimators: their
            continue  # error, tests/strategies/test_operators.py
        got = task_derivative(task, _tree_fn, name)(TREE, DATA)
        if isinstance(got, sparse.BCOO):
            np.testing.assert_allclose(got.todense(), dense_flat, rtol=1e-5, atol=1e-6)
        else:
            _close(got, want, rtol=1e-4)


def test_holomorphic_complex_inputs():
    def f(z):
        return {"sq": z**2, "s": jnp.sum(z) * z[0]}

    z = jnp.asarray([1.0 + 2.0j, 0.5 - 1.0j])
    for strategy in ("jacfwd", "jacrev"):
        _close(
            adbench.jacobian(f, strategy, holomorphic=True)(z),
            jax.jacfwd(f, holomorphic=True)(z),
        )
    with pytest.raises(ValueError, match="complex"):
        adbench.jacobian(f, holomorphic=True)(jnp.ones(2))
    hes = adbench.hessian(lambda w: jnp.sum(w**3), holomorphic=True)
    _close(hes(z), jax.hessian(lambda w: jnp.sum(w**3), holomorphic=True)(z))
