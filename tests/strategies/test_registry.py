"""Strategies cross-checked against each task's reference, and the registry's rules.

Every derivative is computed through ``jax.jit(fn).lower(x).compile()``, the way the measuring code
runs it. Functions are small and float32 (JAX's default), so tolerances are float32's.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

from adbench.store import schema
from adbench.strategies import registry as S

ROOT = Path(__file__).resolve().parents[2]
_rng = np.random.default_rng(0)
_W = jnp.asarray(_rng.normal(size=(7, 12)) / 3, jnp.float32)  # wide: R^12 -> R^7
_W1 = jnp.asarray(_rng.normal(size=(8, 5)), jnp.float32)  # MLP R^5 -> R, hidden 8
_B1 = jnp.asarray(_rng.normal(size=8), jnp.float32)
_W2 = jnp.asarray(_rng.normal(size=8), jnp.float32)


def broyden(x):
    """Broyden tridiagonal residual, R^n -> R^n: Jacobian nnz = 3n - 2."""
    xp = jnp.pad(x, 1)
    return (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1


def rosenbrock(x):
    """Chained Rosenbrock, R^n -> R: tridiagonal Hessian."""
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def wide(x):
    return jnp.sin(_W @ x)


def mlp(x):
    """u(x) = w2 . tanh(W1 x + b1), R^5 -> R."""
    return _W2 @ jnp.tanh(_W1 @ x + _B1)


FNS = {"broyden": (broyden, 6), "rosenbrock": (rosenbrock, 6), "wide": (wide, 12), "mlp": (mlp, 5)}
CASES = [
    *[("jacobian", f) for f in ("broyden", "wide", "rosenbrock")],
    *[(task, f) for task in ("hessian", "laplacian") for f in ("rosenbrock", "mlp")],
]


def _x(fn_name: str, batch: bool) -> jax.Array:
    d = FNS[fn_name][1]
    rng = np.random.default_rng(d)
    shape = (3, d) if batch else (d,)
    return jnp.asarray(rng.uniform(-1, 1, size=shape), jnp.float32)


def _run(strategy: S.Strategy, fn_name: str, batch: bool, chunk: int = 4) -> tuple:
    """(prepared, dense float64 result) through jit-AOT."""
    x = _x(fn_name, batch)
    prepared = strategy.prepare(
        FNS[fn_name][0], x, chunk_size=chunk if strategy.chunked else None, batch=batch
    )
    compiled = jax.jit(prepared.fn).lower(x).compile()
    return prepared, prepared.to_dense(compiled(x))


@cache
def _reference(task: str, fn_name: str, batch: bool) -> np.ndarray:
    return _run(S.get(task, S.REFERENCE[task]), fn_name, batch)[1]


def _close(value: np.ndarray, ref: np.ndarray) -> None:
    scale = max(1.0, float(np.max(np.abs(ref))))
    np.testing.assert_allclose(value, ref, rtol=1e-4, atol=1e-5 * scale)


# Every function one point at a time; one function per task batched too (keeps the file < 20 s).
BATCHED = {("jacobian", "broyden"), ("hessian", "rosenbrock"), ("laplacian", "mlp")}


@pytest.mark.parametrize(
    ("task", "fn_name", "name", "batch"),
    [
        pytest.param(t, f, n, b, id=f"{t}-{f}-{n}-{'batch' if b else 'point'}")
        for t, f in CASES
        for b in (False, True)
        if not b or (t, f) in BATCHED
        for n in S.names(t)
        if n != S.REFERENCE[t]
        and not S.get(t, n).structured  # per_example: test_per_example
        and n not in schema.ESTIMATORS  # estimates: their error, in tests/strategies/test_operators
    ],
)
def test_strategy_agrees_with_reference(task, fn_name, name, batch):
    _, value = _run(S.get(task, name), fn_name, batch)
    ref = _reference(task, fn_name, batch)
    d_in = FNS[fn_name][1]
    d_out = int(np.prod(jax.eval_shape(FNS[fn_name][0], jnp.zeros(d_in)).shape))
    per_point = {"jacobian": (d_out, d_in), "hessian": (d_in, d_in), "laplacian": ()}[task]
    assert value.shape == ((3,) if batch else ()) + per_point
    assert value.dtype == np.float64
    _close(value, ref)


def test_references_against_known_values():
    """The references themselves: Broyden's Jacobian by hand, sum(sin x)'s Laplacian exactly."""
    x = _x("broyden", False)
    p = S.get("jacobian", "jacfwd").prepare(broyden, x)
    by_hand = np.diag(3 - 4 * np.asarray(x)) - np.eye(6, k=-1) - 2 * np.eye(6, k=1)
    _close(p.to_dense(jax.jit(p.fn)(x)), by_hand)


@pytest.mark.parametrize("name", S.names("laplacian"))
def test_laplacian_has_the_right_factor(name):
    """Laplacian of sum(sin x) is -sum(sin x): a jet coefficient off by 2 (or 1/2) fails."""
    x = _x("mlp", False)
    p = S.get("laplacian", name).prepare(lambda y: jnp.sum(jnp.sin(y)), x)
    value = p.to_dense(jax.jit(p.fn).lower(x).compile()(x))
    np.testing.assert_allclose(value, -np.sum(np.sin(np.asarray(x, np.float64))), rtol=1e-5)


# --- chunked strategies never build the identity ----------------------------------------------


def _hlo_shapes(fn, x) -> set[str]:
    """Every tensor shape in fn's StableHLO, as '12x7' ('' for scalars not listed)."""
    text = jax.jit(fn).lower(x).as_text()
    return set(re.findall(r"tensor<(\d+(?:x\d+)*)x[a-z]", text))


def test_identity_check_catches_a_full_basis():
    """The check below can fail: jacfwd / jacrev and a chunked map over jnp.eye rows trip it."""
    x = _x("wide", False)
    assert "12x12" in _hlo_shapes(jax.jacfwd(wide), x)
    assert "7x7" in _hlo_shapes(jax.jacrev(wide), x)

    def chunked_over_eye(y):
        columns = jax.lax.map(lambda e: jax.jvp(wide, (y,), (e,))[1], jnp.eye(12), batch_size=5)
        return columns.T

    assert "12x12" in _hlo_shapes(chunked_over_eye, x)


@pytest.mark.parametrize("name", ["jacfwd_chunked", "jacrev_chunked"])
@pytest.mark.parametrize("chunk", [4, 5])  # 5: 12 and 7 leave a remainder chunk
def test_chunked_never_materialises_identity(name, chunk):
    x = _x("wide", False)  # d_in = 12, d_out = 7: the output is (7, 12), neither identity
    p = S.get("jacobian", name).prepare(wide, x, chunk_size=chunk)
    shapes = _hlo_shapes(p.fn, x)
    assert not {"12x12", "7x7"} & shapes, sorted(shapes)
    basis = 12 if name == "jacfwd_chunked" else 7
    assert f"{chunk}x{basis}" in shapes  # one chunk's basis vectors: (chunk, basis)
    assert dict(p.info) == {"chunk_size": chunk}


# --- sparse ------------------------------------------------------------------------------------


def test_sparse_jacobian_colours_a_tridiagonal():
    n = 10
    x = jnp.linspace(-1, 1, n)
    coloring = S.sparse_coloring("jacobian", broyden, x)
    tridiagonal = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1
    np.testing.assert_array_equal(np.asarray(coloring.sparsity.todense(), bool), tridiagonal)

    p = S.get("jacobian", "sparse").prepare(broyden, x)
    assert p.info["colors"] == 3 < n
    assert p.info["nnz"] == 3 * n - 2
    assert p.info["sparse_mode"] in ("fwd", "rev")
    assert p.setup_s > 0
    assert p.pattern.num_colors == p.info["colors"]
    value = jax.jit(p.fn).lower(x).compile()(x)
    assert isinstance(value, sparse.BCOO)
    assert value.nse == 3 * n - 2


def test_sparse_hessian_is_star_coloured():
    n = 10
    x = jnp.linspace(-1, 1, n)
    p = S.get("hessian", "sparse").prepare(rosenbrock, x)
    assert p.info["colors"] < n
    assert p.info["nnz"] == 3 * n - 2
    assert p.info["coloring"] == "star"
    _close(p.to_dense(jax.jit(p.fn)(x)), np.asarray(jax.jit(jax.hessian(rosenbrock))(x)))


def test_sparse_batch_shares_one_pattern():
    """Batched: values (B, nnz), one copy of the indices (1, nnz, 2) broadcast over the batch."""
    x = _x("broyden", True)
    p = S.get("jacobian", "sparse").prepare(broyden, x, batch=True)
    value = jax.jit(p.fn).lower(x).compile()(x)
    nnz = p.info["nnz"]
    assert value.data.shape == (3, nnz)
    assert value.indices.shape == (1, nnz, 2)
    assert p.to_dense(value).shape == (3, 6, 6)


def test_dense_strategies_record_nothing():
    x = _x("rosenbrock", False)
    for name in S.names("hessian"):
        if name == "sparse" or S.get("hessian", name).structured:
            continue
        p = S.get("hessian", name).prepare(rosenbrock, x)
        assert (p.setup_s, dict(p.info), p.pattern) == (0.0, {}, None)


# --- the registry ------------------------------------------------------------------------------


def test_registry_contract():
    assert S.TASKS == ("jacobian", "hessian", "laplacian", "derivative", "biharmonic", "ntk")
    assert S.names("jacobian") == (
        "jacfwd", "jacrev", "jacfwd_chunked", "jacrev_chunked", "linearize", "sparse",
        "per_example",
    )  # fmt: skip
    assert S.names("hessian") == (
        "fwd_over_rev", "rev_over_fwd", "rev_over_rev", "fwd_over_fwd", "sparse", "per_example",
    )  # fmt: skip
    assert S.names("laplacian") == (
        "hessian_trace", "fwd_fwd", "taylor", "hvp", "forward_laplacian",
        "forward_laplacian_sparse", "hutchinson", "stde",
    )  # fmt: skip
    assert dict(S.REFERENCE) == {
        "jacobian": "jacfwd", "hessian": "fwd_over_rev", "laplacian": "hessian_trace",
        "derivative": "nested_jacfwd", "biharmonic": "hessian_of_hessian",
        "ntk": "jacobian_contraction",
    }  # fmt: skip
    for task in S.TASKS:
        for name, s in S.STRATEGIES[task].items():
            assert (s.name, s.task) == (name, task)
            assert s.dense == (name != "sparse")
            assert s.chunked == name.endswith("_chunked")
            assert s.structured == (name == "per_example" or task == "ntk")
            assert s.summary and "\n" not in s.summary


def test_registry_names_are_the_schema_s():
    """One source of truth: schema.STRATEGIES names them, the registry implements exactly those
    (a strategy added to one and not the other fails at import)."""
    assert {t: S.names(t) for t in S.TASKS} == schema.STRATEGIES
    assert dict(S.REFERENCE) == schema.REFERENCE and S.TASKS == schema.TASKS
    everything = [s for t in S.TASKS for s in S.STRATEGIES[t].values()]
    with pytest.raises(RuntimeError, match="differs from schema.STRATEGIES"):
        S._registry(*everything[:-1])


def test_importing_the_registry_does_not_import_jax():
    code = (
        "import sys, adbench.strategies.registry as s; s.names('hessian'); "
        "print('jax' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("task", "names", "d_out", "match"),
    [
        ("jacobian", ["jacfwd", "nope"], 3, r"unknown jacobian strategy 'nope'; choose from: jacf"),
        ("jacobian", ["fwd_over_rev"], 3, r"'fwd_over_rev' belongs to task hessian, not 'jaco"),
        ("laplacian", ["sparse"], 1, r"'sparse' belongs to task jacobian / hessian"),
        ("hessian", ["fwd_over_rev"], 3, r"task 'hessian' needs a scalar function .*d_out = 3"),
        ("laplacian", ["taylor"], 2, r"task 'laplacian' needs a scalar function"),
        ("gradient", ["jacfwd"], 1, r"unknown task 'gradient'; choose from: jacobian, hessian"),
    ],
)
def test_check_applicable_refuses(task, names, d_out, match):
    with pytest.raises(ValueError, match=match) as info:
        S.check_applicable(task, names, d_out)
    assert "\n" not in str(info.value)


def test_check_applicable_accepts():
    S.check_applicable("jacobian", S.names("jacobian"), 5)
    S.check_applicable("hessian", S.names("hessian"), 1)
    S.check_applicable("laplacian", S.names("laplacian"), 1)


def test_get_names_the_choices():
    with pytest.raises(ValueError, match=r"hessian strategy 'nope'.*fwd_over_rev, rev_over"):
        S.get("hessian", "nope")


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("jacfwd_chunked", {}, "needs a chunk_size"),
        ("jacfwd", {"chunk_size": 4}, "takes no chunk_size"),
        ("jacrev_chunked", {"chunk_size": 0}, "integer >= 1"),
        ("jacfwd", {"batch": True}, r"shape \(B, d_in\)"),
    ],
)
def test_prepare_refuses(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        S.get("jacobian", name).prepare(broyden, jnp.ones(4), **kwargs)


def test_scalar_task_refuses_a_vector_function():
    with pytest.raises(ValueError, match=r"scalar fn, got output shape \(4,\)"):
        S.get("hessian", "fwd_over_rev").prepare(broyden, jnp.ones(4))


# --- chunk_skip_reason and largest_chunk -------------------------------------------------------


def test_chunk_skip_reason():
    fwd, rev = S.get("jacobian", "jacfwd_chunked"), S.get("jacobian", "jacrev_chunked")
    assert S.chunk_skip_reason(fwd, 10, 3, 9) is None
    reason = S.chunk_skip_reason(fwd, 10, 3, 10)
    assert reason and "d_in = 10" in reason and "jacfwd" in reason and "\n" not in reason
    assert S.chunk_skip_reason(rev, 10, 3, 2) is None
    assert "d_out = 3" in (S.chunk_skip_reason(rev, 10, 3, 3) or "")
    # Each twin is judged on its own basis: chunk 5 holds all 3 outputs but not all 10 inputs.
    assert S.chunk_skip_reason(fwd, 10, 3, 5) is None
    assert S.chunk_skip_reason(rev, 10, 3, 5) is not None
    assert S.chunk_skip_reason(S.get("jacobian", "jacfwd"), 10, 3, 64) is None


def test_chunk_candidates():
    assert S.chunk_candidates(1) == (1,)
    assert S.chunk_candidates(8) == (1, 2, 4, 8)
    assert S.chunk_candidates(100) == (1, 2, 4, 8, 16, 32, 64, 100)


# basis 100, fits(c) = c <= boundary -> the largest candidate within the boundary.
LARGEST = [(0, 1), (1, 1), (2, 2), (37, 32), (63, 32), (64, 64), (99, 64), (100, 100), (10**6, 100)]


@pytest.mark.parametrize(("boundary", "expected"), LARGEST)
def test_largest_chunk_returns_the_boundary(boundary, expected):
    calls: list[int] = []

    def fits(chunk: int) -> bool:
        calls.append(chunk)
        return chunk <= boundary

    assert S.largest_chunk(100, fits) == expected
    candidates = S.chunk_candidates(100)
    assert set(calls) <= set(candidates) and len(calls) == len(set(calls))
    assert len(calls) <= math.ceil(math.log2(len(candidates) + 1))  # bisection, not a scan


def test_largest_chunk_table_catches_a_floor():
    """A plausible wrong version (round the fitting size down to a power of two, so the whole
    basis is never chosen) disagrees with the table above: the test can fail."""

    def floor_version(basis, fits):
        chunk = S.largest_chunk(basis, fits)
        return 2 ** int(math.log2(chunk))

    wrong = [floor_version(100, lambda c, b=b: c <= b) for b, _ in LARGEST]
    assert wrong != [expected for _, expected in LARGEST]


def test_largest_chunk_refuses_an_empty_basis():
    with pytest.raises(ValueError, match="basis must be >= 1"):
        S.largest_chunk(0, lambda c: True)
