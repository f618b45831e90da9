"""Strategy per_example: one point's derivative vmapped over the points, stacked into exactly the
whole-function result (the flat map's jacfwd / fwd_over_rev)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adbench.strategies import registry as S
from adbench.strategies import trees


def net(p, x):
    """x (n, 2) -> (n, 3)."""
    return jnp.tanh(x @ p["a"].T + p["b"]) @ p["c"].T


def params(width=4, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(size=(width, 2)).astype(np.float32),
        "b": rng.normal(size=width).astype(np.float32),
        "c": rng.normal(size=(3, width)).astype(np.float32),
    }


X = np.random.default_rng(1).normal(size=(6, 2)).astype(np.float32)


def _both(task, f, args, argnums=0, per_example=1, batch=False):
    st = trees.flatten(f, args, argnums, per_example=per_example, scalar=task == "hessian")
    x = jnp.stack([st.x, st.x * 0.5]) if batch else st.x
    ref = S.get(task, S.REFERENCE[task]).prepare(st.fn, x, batch=batch)
    got = S.get(task, "per_example").prepare(st.fn, x, batch=batch, structure=st)
    return got, np.asarray(jax.jit(got.fn)(x)), np.asarray(jax.jit(ref.fn)(x))


def test_jacobian_equals_the_whole_function_s_one_leaf():
    got, value, ref = _both("jacobian", lambda p, x: net(p, x)[:, 0], (params(), X))
    assert value.shape == ref.shape == (6, 24)
    np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-6)
    assert got.info["per_point"] == "jacrev"  # 1 output per point < 24 parameters


def test_jacobian_several_output_leaves_and_point_leaves_stack_leaf_by_leaf():
    """A wrong stacking (point-major across leaves) puts rows of leaf 'v' among leaf 'u''s."""

    def f(p, pts):
        y = net(p, pts["x"]) * pts["t"][:, None]
        return {"u": y[:, 0], "v": y[:, 1:]}

    pts = {"x": X, "t": np.linspace(0.5, 1.5, 6, dtype=np.float32)}
    _, value, ref = _both("jacobian", f, (params(), pts))
    assert value.shape == (6 * 3, 24)
    np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-6)


def test_jacobian_per_point_mode_is_forward_when_a_point_has_more_outputs_than_inputs():
    def wide(s, x):  # 2 parameters, 8 outputs per point
        return jnp.sin(s[0] * x[:, :1] * jnp.arange(1.0, 5.0) + s[1] * x[:, 1:])

    got, value, ref = _both("jacobian", lambda s, x: wide(s, x), (np.ones(2, np.float32), X))
    assert got.info["per_point"] == "jacfwd"
    np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-6)


def test_jacobian_with_argnums_on_both_sides_of_the_points_and_batched():
    def f(a, x, b):
        return net(a, x)[:, 1] * b["s"]

    args = (params(), X, {"s": np.float32(1.5)})
    _, value, ref = _both("jacobian", f, args, argnums=(0, 2), per_example=1, batch=True)
    assert value.shape == (2, 6, 25)
    np.testing.assert_allclose(value, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduce", [jnp.sum, jnp.mean])
def test_hessian_of_a_sum_or_a_mean_over_points(reduce):
    def loss(p, x):
        return reduce(net(p, x)[:, 0] ** 2)

    got, value, ref = _both("hessian", loss, (params(width=3), X))
    assert value.shape == ref.shape == (18, 18)
    np.testing.assert_allclose(value, ref, rtol=1e-4, atol=1e-5)
    assert got.info["weight"] == pytest.approx(1.0 if reduce is jnp.sum else 1 / 6)


def test_without_structure_it_refuses_to_prepare():
    with pytest.raises(ValueError, match="needs the function's structure"):
        S.get("jacobian", "per_example").prepare(jnp.sin, jnp.ones(3))
    st = trees.flatten(lambda p, x: net(p, x)[:, 0], (params(), X))  # nothing declared
    with pytest.raises(ValueError, match="no per-example structure"):
        S.get("jacobian", "per_example").prepare(st.fn, st.x, structure=st)
