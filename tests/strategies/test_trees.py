"""Functions of pytree arguments as flat maps (adbench.strategies.trees): sizes, shapes in words,
every fault named by argument and leaf path, the user's own exceptions untouched, and the
detection of per-example structure from the jaxpr."""

from __future__ import annotations

import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from adbench.strategies import trees


def mlp(p, x):
    """x (n, 1) -> (n,): a one-hidden-layer tanh network, params a dict."""
    return (jnp.tanh(x @ p["w1"].T + p["b1"]) @ p["w2"].T)[:, 0]


def params(width=4):
    rng = np.random.default_rng(0)
    return {
        "w1": rng.normal(size=(width, 1)).astype(np.float32),
        "b1": rng.normal(size=width).astype(np.float32),
        "w2": rng.normal(size=(1, width)).astype(np.float32),
    }


POINTS = np.linspace(-1, 1, 5, dtype=np.float32)[:, None]


def test_flatten_measures_sizes_and_the_flat_jacobian_is_jax_s():
    p = params()
    st = trees.flatten(mlp, (p, POINTS), 0)
    assert (st.d_in, st.d_out, st.argnums) == (12, 5, (0,))
    assert st.in_tree == "args[0]['b1'] f32[4]; args[0]['w1'] f32[4,1]; args[0]['w2'] f32[1,4]"
    assert st.out_tree == "out f32[5]"
    # the flat Jacobian is jax.jacrev's, leaves raveled and concatenated in tree order
    got = jax.jacfwd(st.fn)(st.x)
    want = jax.jacrev(mlp)(p, POINTS)
    assert got.shape == (5, 12)
    np.testing.assert_allclose(
        got, np.concatenate([want[k].reshape(5, -1) for k in sorted(want)], 1), rtol=1e-5
    )


def test_flatten_several_argnums_negative_index_and_has_aux():
    def f(a, data, b):
        return jnp.sum(a * data) * b["s"], "aux"

    args = (jnp.ones(3), jnp.arange(3.0), {"s": jnp.float32(2.0)})
    st = trees.flatten(f, args, (0, -1), has_aux=True)
    assert st.argnums == (0, 2) and (st.d_in, st.d_out) == (4, 1)
    assert float(st.fn(st.x)[0]) == pytest.approx(6.0)


def test_cast_keeps_integers_and_static_leaves():
    def f(p, cfg):
        return p * cfg["k"]

    st = trees.flatten(f, (np.ones(2), {"k": 3}), 0, dtype="float32")
    assert st.x.dtype == jnp.float32 and float(st.fn(st.x)[0]) == 3.0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            ({"w": np.ones(2), "n": np.arange(2)},),
            {},
            "argument 0, leaf ['n']: dtype int64 is not floating point",
        ),
        (
            (np.ones(2), POINTS),
            {"argnums": 2},
            "argnums 2 is out of range: the function is given 2 arguments",
        ),
        ((np.ones(2), POINTS), {"argnums": (0, 0)}, "argnums lists argument 0 twice"),
        ((np.ones(2), POINTS), {"argnums": 0.5}, "argnums must be integers"),
        ((np.ones(2), POINTS), {"per_example": 0}, "per_example 0 names a differentiated argument"),
        ((np.ones(2), POINTS), {"per_example": 3}, "per_example 3 is out of range"),
        (({},), {}, "argument 0 holds no array"),
        ((np.ones(2, dtype=np.complex64),), {}, "argument 0: dtype complex64 is complex"),
    ],
)
def test_flatten_faults_name_the_argument_and_leaf(args, kwargs, message):
    with pytest.raises(trees.StructureError) as err:
        trees.flatten(lambda *a: jnp.sum(a[0]) * jnp.ones(5), args, **kwargs)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_per_example_leaves_that_disagree_on_the_leading_axis():
    def f(p, pts):
        return pts["x"][:, 0] * p[0] + jnp.sum(pts["t"])

    pts = {"x": POINTS, "t": np.ones(4, dtype=np.float32)}
    with pytest.raises(
        trees.StructureError,
        match=r"argument 1 \(per_example\), leaf \['x'\]: leading axis 5, but leaf \['t'\] has 4",
    ):
        trees.flatten(f, (np.ones(1), pts), per_example=1)


def test_output_whose_leading_axis_does_not_match_the_points():
    with pytest.raises(
        trees.StructureError,
        match=r"the output: shape \(6,\), but argument 1 \(per_example\) holds 5 points",
    ):
        trees.flatten(
            lambda p, x: jnp.concatenate([x[:, 0], p]), (np.ones(1), POINTS), per_example=1
        )
    # same length but not following the points: one point still gives 5 rows
    with pytest.raises(trees.StructureError, match="does not follow argument 1's points"):
        trees.flatten(
            lambda p, x: p[0] * jnp.ones(5) + jnp.sum(x), (np.ones(1), POINTS), per_example=1
        )


def test_integer_output_and_output_holding_no_float_are_refused():
    with pytest.raises(trees.StructureError, match="the output: dtype int32 is not floating point"):
        trees.flatten(lambda p: jnp.arange(3), (np.ones(2),))


def test_a_bug_in_the_users_function_keeps_its_type_and_traceback():
    def users_function(p, x):
        return p["missing"] * x

    with pytest.raises(KeyError) as err:
        trees.flatten(users_function, ({"w": np.ones(2)}, POINTS))
    frames = [f.name for f in traceback.extract_tb(err.value.__traceback__)]
    assert "users_function" in frames


def test_detects_per_example_structure_from_the_jaxpr():
    st = trees.flatten(mlp, (params(), POINTS), 0)
    pe = trees.detect_per_example((params(), POINTS), st)
    assert pe is not None and (pe.argnum, pe.n, pe.how, pe.leaf_sizes) == (1, 5, "detected", (1,))


def test_no_per_example_structure_when_points_mix():
    def mixed(p, x):  # every output row reads every point (a batch mean)
        return mlp(p, x) + jnp.mean(x)

    st = trees.flatten(mixed, (params(), POINTS), 0)
    assert trees.detect_per_example((params(), POINTS), st) is None
    # a differentiated argument is never a candidate, nor an output that does not enumerate points
    st2 = trees.flatten(lambda p, x: jnp.sum(mlp(p, x)), (params(), POINTS), 0)
    assert trees.detect_per_example((params(), POINTS), st2) is None
    st3 = trees.flatten(lambda x: x * 2.0, (POINTS[:, 0],), 0)
    assert trees.detect_per_example((POINTS[:, 0],), st3) is None


def test_point_weight_sum_mean_and_neither():
    def loss(p, x, how):
        per = mlp(p, x) ** 2
        return {"sum": jnp.sum(per), "mean": jnp.mean(per), "reg": jnp.sum(per) + 1.0}[how]

    for how, w in (("sum", 1.0), ("mean", 1 / 5)):
        f = lambda p, x, how=how: loss(p, x, how)  # noqa: E731
        st = trees.flatten(f, (params(), POINTS), 0, per_example=1, scalar=True)
        assert trees.point_weight(st.fn, st.per_example, st.x) == pytest.approx(w)
    st = trees.flatten(
        lambda p, x: loss(p, x, "reg"), (params(), POINTS), 0, per_example=1, scalar=True
    )
    with pytest.raises(trees.StructureError, match="neither the sum nor the mean"):
        trees.point_weight(st.fn, st.per_example, st.x)


def test_ravel_order_matches_jax():
    p = params()
    flat, _ = ravel_pytree((p,))
    st = trees.flatten(mlp, (p, POINTS), 0)
    np.testing.assert_array_equal(st.x, flat)


def test_an_equinox_module_is_differentiated_in_its_arrays_static_leaves_kept():
    eqx = pytest.importorskip("equinox")
    from adbench.strategies import registry as S

    model = eqx.nn.MLP(1, 1, 8, 1, key=jax.random.PRNGKey(0))
    x = jnp.linspace(-1.0, 1.0, 5)[:, None]

    def u(m, x):
        return jax.vmap(m)(x)[:, 0]

    st = trees.flatten(u, (model, x), 0, per_example=1)
    assert st.d_in == 8 + 8 + 8 + 1
    assert "args[0].activation static" in st.in_tree
    params, static = eqx.partition(model, eqx.is_array)
    want = jax.jacrev(lambda p: u(eqx.combine(p, static), x))(params)
    flat = np.concatenate([leaf.reshape(5, -1) for leaf in jax.tree_util.tree_leaves(want)], axis=1)
    got = S.get("jacobian", "per_example").prepare(st.fn, st.x, structure=st)
    np.testing.assert_allclose(np.asarray(jax.jit(got.fn)(st.x)), flat, rtol=1e-5, atol=1e-6)
