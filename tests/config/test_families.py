"""Every builtin family: shapes, dtypes, jacfwd == jacrev == grad, size and param checks."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adbench.config.families import BUILTINS, Builtin, get_builtin

# (family, d_in, d_out, params): small sizes valid for each family, incl. the d_out = 1 edge.
CASES = [
    ("power", 1, 7, {}),
    ("power", 1, 1, {}),
    ("mean_squares", 6, 1, {}),
    ("linear", 5, 3, {}),
    ("linear", 3, 5, {"activation": "tanh"}),
    ("linear", 4, 1, {"activation": "tanh", "seed": 3}),
    ("elementwise", 5, 5, {}),
    ("softmax", 5, 5, {}),
    ("mlp_loss", 20, 4, {}),  # 3 hidden units use 19 parameters, 1 is left for the penalty
    ("mlp_loss", 9, 1, {"features": 2}),
    ("scan", 4, 3, {}),
    ("scan", 3, 1, {"steps": 3}),
    ("broyden", 5, 5, {}),
    ("broyden", 1, 1, {}),
    ("rosenbrock", 6, 1, {}),
    ("mlp_u", 3, 1, {}),
    ("mlp_u", 1, 1, {"width": 2, "seed": 4}),
]
SCALAR_AT_ONE_OUTPUT = {"mean_squares", "mlp_loss", "rosenbrock", "mlp_u"}


@contextmanager
def strict(dtype: Any, x64: bool | None = None) -> Iterator[None]:
    """Strict dtype and raising rank promotion; x64 on for float64 (and when asked)."""
    with (
        jax.enable_x64(dtype == np.float64 if x64 is None else x64),
        jax.numpy_dtype_promotion("strict"),
        jax.numpy_rank_promotion("raise"),
    ):
        yield


def _build(name: str, d_in: int, d_out: int, params: dict[str, Any]) -> tuple[Any, np.ndarray]:
    made = get_builtin(name).factory(d_in, d_out, **params)
    if isinstance(made, tuple):
        fn, x0 = made
        assert isinstance(x0, np.ndarray) and x0.shape == (d_in,) and x0.dtype == np.float64
        return fn, x0
    return made, np.random.default_rng(1).normal(size=d_in)


def test_registry_is_complete_and_described() -> None:
    assert list(BUILTINS)[:2] == ["power", "mean_squares"]
    assert set(BUILTINS) >= {"power", "mean_squares", "linear", "elementwise", "mlp_loss", "scan"}
    assert set(BUILTINS) >= {"broyden", "rosenbrock", "mlp_u"}
    assert {name for name, *_ in CASES} == set(BUILTINS)
    for name, spec in BUILTINS.items():
        assert isinstance(spec, Builtin) and spec.name == name
        assert spec.shape in ("wide", "tall", "square", "any")
        assert spec.summary and "\n" not in spec.summary
    assert get_builtin("power").shape == "wide" and get_builtin("mean_squares").shape == "tall"


# float32 with x64 on is the case that catches a float64 constant left uncast: with x64 off,
# JAX silently narrows numpy float64 constants to float32.
@pytest.mark.parametrize(
    ("dtype", "x64"),
    [(np.float32, False), (np.float32, True), (np.float64, True)],
    ids=["f32", "f32-x64", "f64"],
)
@pytest.mark.parametrize(("name", "d_in", "d_out", "params"), CASES)
def test_jacobians_agree(
    name: str, d_in: int, d_out: int, params: dict[str, Any], dtype: Any, x64: bool
) -> None:
    fn, x0 = _build(name, d_in, d_out, params)

    # One program per case: four separate jits would quadruple the compile time of this file.
    def everything(x: Any) -> tuple[Any, ...]:
        grad = jax.grad(lambda v: jnp.reshape(fn(v), ()))(x) if d_out == 1 else x
        return fn(x), jax.jacfwd(fn)(x), jax.jacrev(fn)(x), grad

    with strict(dtype, x64):
        y, j_fwd, j_rev, grad = (np.asarray(v) for v in jax.jit(everything)(jnp.asarray(x0, dtype)))
    scalar = d_out == 1 and name in SCALAR_AT_ONE_OUTPUT
    assert y.shape == (() if scalar else (d_out,))
    assert y.dtype == dtype
    assert j_fwd.dtype == dtype and j_rev.dtype == dtype
    assert j_fwd.shape == j_rev.shape == ((d_in,) if scalar else (d_out, d_in))
    assert np.all(np.isfinite(j_fwd)) and np.all(np.isfinite(j_rev))
    assert np.isfinite(np.asarray(y)).all()
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-14)
    np.testing.assert_allclose(j_fwd, j_rev, rtol=rtol, atol=atol)
    if d_out == 1:
        np.testing.assert_allclose(grad, j_rev.reshape(d_in), rtol=rtol, atol=atol)


def test_jacobian_structure() -> None:
    x = jnp.linspace(-1.0, 1.0, 5)
    diag = np.asarray(jax.jit(jax.jacfwd(get_builtin("elementwise").factory(5, 5)))(x))
    np.testing.assert_array_equal(diag, np.diag(np.diag(diag)))
    dense = np.asarray(jax.jit(jax.jacfwd(get_builtin("softmax").factory(5, 5)))(x))
    assert np.all(dense != 0)
    # mlp_loss: the leftover parameter enters as a penalty, so no column is structurally zero.
    fn, x0 = _build("mlp_loss", 20, 4, {})
    jac = np.asarray(jax.jit(jax.jacrev(fn))(jnp.asarray(x0, dtype=np.float32)))
    assert np.all(np.abs(jac).sum(axis=0) > 0)


def test_broyden_rosenbrock_and_mlp_u_by_hand() -> None:
    """Broyden's Jacobian is the textbook tridiagonal, extended Rosenbrock's Hessian 2 x 2
    blocks (zero between pairs), mlp_u's Hessian dense and its Laplacian finite."""
    with strict(np.float64):
        x = jnp.asarray([0.5, -1.0, 2.0, 0.25])
        jac = np.asarray(jax.jacfwd(get_builtin("broyden").factory(4, 4))(x))
        by_hand = np.diag(3 - 4 * np.asarray(x)) - np.eye(4, k=-1) - 2 * np.eye(4, k=1)
        np.testing.assert_allclose(jac, by_hand)
        rosen = get_builtin("rosenbrock").factory(4, 1)
        np.testing.assert_allclose(rosen(jnp.ones(4)), 0.0)  # the minimum is at 1
        np.testing.assert_allclose(rosen(jnp.asarray([-1.2, 1.0, -1.2, 1.0])), 2 * 24.2)
        hess = np.asarray(jax.hessian(rosen)(x))
        blocks = np.kron(np.eye(2), np.ones((2, 2))).astype(bool)
        assert np.all(hess[~blocks] == 0) and np.all(hess[blocks] != 0)
        u = get_builtin("mlp_u").factory(3, 1)
        h = np.asarray(jax.hessian(u)(jnp.asarray([0.1, -0.2, 0.3])))
        assert h.shape == (3, 3) and np.all(h != 0) and np.isfinite(np.trace(h))


def test_power_values_and_large_sizes_stay_finite() -> None:
    fn, x0 = get_builtin("power").factory(1, 5)
    np.testing.assert_array_equal(x0, [0.999])
    with strict(np.float64):
        x = jnp.asarray([2.0])
        np.testing.assert_allclose(fn(x), [1, 2, 4, 8, 16])
        np.testing.assert_allclose(jax.jacfwd(fn)(x)[:, 0], [0, 1, 4, 12, 32])
    for d_out in (10_000, 100_000):
        fn, x0 = get_builtin("power").factory(1, d_out)
        with strict(np.float32):
            jac = np.asarray(jax.jit(jax.jacfwd(fn))(jnp.asarray(x0, dtype=np.float32)))
        assert jac.shape == (d_out, 1) and np.all(np.isfinite(jac))
    # jacrev at 10^4 outputs builds a 10^4 x 10^4 intermediate (400 MB): checked at 2000 instead.
    fn, x0 = get_builtin("power").factory(1, 2000)
    with strict(np.float32):
        x = jnp.asarray(x0, dtype=np.float32)
        np.testing.assert_allclose(jax.jacrev(fn)(x), jax.jacfwd(fn)(x), rtol=1e-5, atol=1e-30)


def test_constants_are_fixed_by_seed() -> None:
    x = jnp.ones(4)
    lin = get_builtin("linear").factory
    np.testing.assert_array_equal(lin(4, 3)(x), lin(4, 3, seed=0)(x))
    assert not np.allclose(lin(4, 3)(x), lin(4, 3, seed=1)(x))
    scan = get_builtin("scan").factory
    np.testing.assert_array_equal(scan(4, 2)(x), scan(4, 2)(x))
    u = get_builtin("mlp_u").factory
    np.testing.assert_array_equal(u(4, 1)(x), u(4, 1, seed=0)(x))
    assert not np.allclose(u(4, 1)(x), u(4, 1, seed=1)(x))


@pytest.mark.parametrize(
    ("name", "d_in", "d_out", "params", "reason"),
    [
        ("power", 5, 3, {}, "builtin 'power' needs d_in = 1 (got 5)"),
        ("mean_squares", 4, 2, {}, "builtin 'mean_squares' needs d_out = 1 (got 2)"),
        ("elementwise", 3, 4, {}, "builtin 'elementwise' needs d_in = d_out (got 3 and 4)"),
        ("softmax", 4, 3, {}, "builtin 'softmax' needs d_in = d_out (got 4 and 3)"),
        ("mlp_loss", 6, 3, {}, "builtin 'mlp_loss' needs d_in >= features + 3 = 7 (got 6)"),
        ("mlp_loss", 12, 3, {"features": 10}, "needs d_in >= features + 3 = 13 (got 12)"),
        ("linear", 0, 3, {}, "builtin 'linear' needs d_in >= 1 and d_out >= 1 (got 0 and 3)"),
        ("scan", 2, 2.5, {}, "builtin 'scan' needs integer sizes (got 2 and 2.5)"),
        ("broyden", 4, 5, {}, "builtin 'broyden' needs d_in = d_out (got 4 and 5)"),
        ("rosenbrock", 5, 1, {}, "builtin 'rosenbrock' needs an even d_in"),
        ("rosenbrock", 4, 2, {}, "builtin 'rosenbrock' needs d_out = 1 (got 2)"),
        ("mlp_u", 4, 3, {}, "builtin 'mlp_u' needs d_out = 1 (got 3)"),
    ],
)
def test_check_sizes_rejects(
    name: str, d_in: int, d_out: int, params: dict[str, Any], reason: str
) -> None:
    spec = get_builtin(name)
    got = spec.check_sizes(d_in, d_out, params)
    assert got is not None and reason in got and "\n" not in got
    with pytest.raises(ValueError, match=re.escape(reason)):
        spec.factory(d_in, d_out, **params)


def test_check_sizes_accepts_valid_cases() -> None:
    for name, d_in, d_out, params in CASES:
        assert get_builtin(name).check_sizes(d_in, d_out, params) is None
    assert get_builtin("mlp_loss").check_sizes(7, 2) is None
    assert get_builtin("scan").check_sizes(np.int64(3), np.int64(2), {"steps": np.int64(2)}) is None


@pytest.mark.parametrize(
    ("name", "params", "reason"),
    [
        (
            "linear",
            {"act": "tanh"},
            "builtin 'linear' has no param 'act' (valid: activation, seed)",
        ),
        ("power", {"seed": 1}, "builtin 'power' takes no params (got 'seed')"),
        ("linear", {"activation": "relu"}, "param 'activation' must be 'none' or 'tanh'"),
        ("scan", {"steps": 0}, "param 'steps' must be >= 1 (got 0)"),
        ("scan", {"steps": True}, "param 'steps' must be an integer (got True)"),
        ("mlp_loss", {"features": 2.0}, "param 'features' must be an integer (got 2.0)"),
        ("mlp_loss", {"seed": -1}, "param 'seed' must be >= 0 (got -1)"),
        ("linear", {"activation": 1}, "param 'activation' must be a string (got 1)"),
        ("mlp_u", {"width": 0}, "param 'width' must be >= 1 (got 0)"),
        ("mlp_u", {"depth": 3}, "builtin 'mlp_u' has no param 'depth' (valid: width, seed)"),
    ],
)
def test_check_params_rejects(name: str, params: dict[str, Any], reason: str) -> None:
    spec = get_builtin(name)
    got = spec.check_params(params)
    assert got is not None and reason in got
    assert spec.check_sizes(8, 8, params) == got
    with pytest.raises(ValueError):
        spec.factory(8, 8, **params)


def test_check_params_accepts_defaults() -> None:
    for spec in BUILTINS.values():
        assert spec.check_params({}) is None
        assert spec.check_params(dict(spec.params)) is None


def test_get_builtin_unknown_lists_names() -> None:
    with pytest.raises(KeyError, match="unknown builtin 'nope'.*power, mean_squares"):
        get_builtin("nope")


def test_module_imports_without_jax() -> None:
    code = "import adbench.config.families, sys; assert 'jax' not in sys.modules, 'jax imported'"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
