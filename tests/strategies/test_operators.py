"""The operator strategies (derivative, forward Laplacian, biharmonic, NTK, estimators) against
closed forms and independent references. float32 (JAX's default); tolerances are float32's.

Each identity is also shown failing in its plausible wrong form: one jet along the sum of the
directions for a mixed partial, the axes alone for the biharmonic's Taylor mode, one shared probe
for the biharmonic's Hutchinson estimate.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental.jet import jet
from jax.flatten_util import ravel_pytree

from adbench.analysis.estimators import estimator_decision, relative_error
from adbench.strategies import biharmonic, derivative, forward_laplacian, ntk, stochastic
from adbench.strategies.params import TaskParams, Term, bind

X2 = jnp.asarray([0.3, -0.4], jnp.float32)


def g(x):
    """sin(2 x0) exp(x1 / 2) + x0^3 x1^2: every partial below in closed form."""
    return jnp.sin(2 * x[0]) * jnp.exp(0.5 * x[1]) + x[0] ** 3 * x[1] ** 2


def closed_form(wrt: tuple[int, ...], x: np.ndarray) -> float:
    a, b = float(x[0]), float(x[1])
    s, c, e = math.sin(2 * a), math.cos(2 * a), math.exp(0.5 * b)
    return {
        (0, 0, 0, 0): 16 * s * e,
        (0, 1): c * e + 6 * a**2 * b,
        (1, 0): c * e + 6 * a**2 * b,
        (0, 0, 1): -2 * s * e + 12 * a * b,
        (0,): 2 * c * e + 3 * a**2 * b**2,
        (1, 1): 0.25 * s * e + 2 * a**3,
    }[wrt]


def run(strategy, fn, x, params, batch=False):
    prepared = bind(strategy, params).prepare(fn, x, batch=batch)
    return np.asarray(jax.jit(prepared.fn)(x), np.float64)


WRTS = [(0, 0, 0, 0), (0, 1), (1, 0), (0, 0, 1), (1, 1)]


@pytest.mark.parametrize("name", [s.name for s in derivative.STRATEGIES])
def test_derivative_matches_closed_form(name):
    """Pure, mixed and repeated-index partials, all in one compiled program per strategy."""
    s = next(s for s in derivative.STRATEGIES if s.name == name)
    fns = [bind(s, TaskParams.derivative(w)).prepare(g, X2).fn for w in WRTS]
    got = np.asarray(jax.jit(lambda x: jnp.stack([fn(x) for fn in fns]))(X2), np.float64)
    want = [closed_form(w, np.asarray(X2)) for w in WRTS]
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("name", [s.name for s in derivative.STRATEGIES])
def test_derivative_linear_combination_batched(name):
    """u_x - 2 u_xxxx (a KS-like residual's terms) at three points, batch axis first."""
    s = next(s for s in derivative.STRATEGIES if s.name == name)
    params = TaskParams(terms=(Term((0,), 1.0), Term((0, 0, 0, 0), -2.0)))
    xs = jnp.asarray([[0.3, -0.4], [0.1, 0.2], [-0.5, 0.7]], jnp.float32)
    got = run(s, g, xs, params, batch=True)
    want = [closed_form((0,), x) - 2 * closed_form((0, 0, 0, 0), x) for x in np.asarray(xs)]
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-4)


def test_taylor_mixed_partial_needs_polarization():
    """One jet along e0 + e1 gives g_00 + 2 g_01 + g_11, not g_01: the wrong choice fails."""
    wrt = (0, 1)
    want = closed_form(wrt, np.asarray(X2))
    v = jnp.asarray([1.0, 1.0], jnp.float32)
    _, (_, naive) = jet(g, (X2,), ((v, jnp.zeros_like(v)),))
    assert abs(float(naive) - want) > 0.5  # far beyond float32 error
    taylor = next(s for s in derivative.STRATEGIES if s.name == "taylor")
    assert float(run(taylor, g, X2, TaskParams.derivative(wrt))) == pytest.approx(want, rel=2e-4)


def test_polarization_weights():
    assert derivative.polarization((2, 2, 2)) == (((1,), 1.0),)  # a pure term: one jet
    got = dict(derivative.polarization((0, 1)))
    assert got == pytest.approx({(0, 1): -0.5, (1, 0): -0.5, (1, 1): 0.5})
    # (0, 0, 1): (a0 + 1)(a1 + 1) - 1 = 5 directions, not 2^3 - 1 = 7
    assert len(derivative.polarization((0, 0, 1))) == 5


def test_taylor_shares_one_jet_per_direction():
    """u_x + u_xxxx: one direction (e0), one jet of order 4 for both terms."""
    taylor = next(s for s in derivative.STRATEGIES if s.name == "taylor")
    params = TaskParams(terms=(Term((0,)), Term((0, 0, 0, 0))))
    assert bind(taylor, params).prepare(g, X2).info["jets"] == 1


@pytest.mark.parametrize("name", [s.name for s in derivative.STRATEGIES])
def test_derivative_refuses_bad_terms(name):
    s = next(s for s in derivative.STRATEGIES if s.name == name)
    with pytest.raises(ValueError, match=r"^wrt: index 2 out of range"):
        bind(s, TaskParams.derivative((0, 2))).prepare(g, X2)
    with pytest.raises(ValueError, match=r"^wrt: the derivative task needs wrt"):
        bind(s, TaskParams()).prepare(g, X2)


def test_terms_and_params_refuse_bad_values():
    with pytest.raises(ValueError, match=r"^wrt: a derivative of order 0"):
        Term(())
    with pytest.raises(ValueError, match=r"^wrt: indices must be integers >= 0"):
        Term((0, -1))
    with pytest.raises(ValueError, match=r"^samples: must be an integer >= 1"):
        TaskParams(samples=0)


_rng = np.random.default_rng(1)
_W1 = jnp.asarray(_rng.normal(size=(8, 5)), jnp.float32)
_B1 = jnp.asarray(_rng.normal(size=8), jnp.float32)
_W2 = jnp.asarray(_rng.normal(size=8) / 2, jnp.float32)
X5 = jnp.asarray(_rng.normal(size=5) / 2, jnp.float32)


def mlp(x):
    return _W2 @ jnp.tanh(_W1 @ x + _B1)


@pytest.mark.parametrize("s", forward_laplacian.STRATEGIES, ids=lambda s: s.name)
def test_forward_laplacian_is_the_hessian_trace(s):
    want = float(jnp.trace(jax.hessian(mlp)(X5)))
    got = run(s, mlp, X5, TaskParams(sparsity_threshold=2))
    assert float(got) == pytest.approx(want, rel=1e-4, abs=1e-5)
    xs = jnp.stack([X5, -X5, X5 / 3])
    want_b = [float(jnp.trace(jax.hessian(mlp)(x))) for x in xs]
    np.testing.assert_allclose(run(s, mlp, xs, TaskParams(), batch=True), want_b, rtol=1e-4)
    assert s.dense  # a scalar, never a BCOO, whatever the name says


def test_forward_laplacian_sparse_threshold():
    sparse = forward_laplacian.STRATEGIES[1]
    assert forward_laplacian.effective_threshold(0.6, 5) == 3
    assert forward_laplacian.effective_threshold(4, 5) == 4
    assert bind(sparse, TaskParams(sparsity_threshold=0.6)).prepare(mlp, X5).info == {
        "sparsity_threshold": 3
    }
    # folx rounds 0.1 * 5 down to 0 (dense); the sparse strategy keeps one non-zero, so at
    # d = 1 it still runs folx's sparse path and equals the Hessian's trace
    assert forward_laplacian.effective_threshold(0.1, 5) == 1
    assert forward_laplacian.effective_threshold(0.6, 1) == 1
    x1 = jnp.asarray([0.3], jnp.float32)
    one = bind(sparse, TaskParams(sparsity_threshold=0.6)).prepare(lambda x: jnp.sin(x[0]) ** 3, x1)
    assert one.info == {"sparsity_threshold": 1}
    want = float(jax.hessian(lambda x: jnp.sin(x[0]) ** 3)(x1)[0, 0])
    assert float(jax.jit(one.fn)(x1)) == pytest.approx(want, rel=1e-4, abs=1e-6)
    with pytest.raises(ValueError, match=r"^sparsity_threshold: 0 is 0 non-zeros"):
        bind(sparse, TaskParams(sparsity_threshold=0)).prepare(mlp, X5)


def r4(x):
    """|x|^4: Delta^2 = 8 n (n + 2); its fourth tensor is 8 (d_ab d_cd + d_ac d_bd + d_ad d_bc)."""
    return jnp.sum(x**2) ** 2


def sines(x):
    """sin(x0) sin(2 x1) cos(x2): Delta^2 = (1 + 4 + 1)^2 u = 36 u."""
    return jnp.sin(x[0]) * jnp.sin(2 * x[1]) * jnp.cos(x[2])


X3 = jnp.asarray([0.4, -0.3, 0.7], jnp.float32)


@pytest.mark.parametrize("s", biharmonic.STRATEGIES, ids=lambda s: s.name)
def test_biharmonic_matches_closed_form(s):
    want = 36 * float(sines(X3))
    assert float(run(s, sines, X3, TaskParams(sparsity_threshold=2))) == pytest.approx(
        want, rel=2e-4, abs=1e-4
    )


def test_biharmonic_names_cover_every_exact_laplacian():
    names = [s.name for s in biharmonic.STRATEGIES]
    assert names[0] == "hessian_of_hessian"
    for lap in ("hessian_trace", "fwd_fwd", "taylor", "hvp", "forward_laplacian"):
        assert f"nested_{lap}" in names
    assert "nested_forward_laplacian_sparse" in names and "taylor" in names


def test_biharmonic_taylor_identity():
    """The weights reproduce Delta^2 on |x|^4; the axes alone (sum_i D^4_{e_i}) miss the mixed
    terms and give 8 * 3 * 3 = 72 instead of 120 at n = 3."""
    dirs, weights = biharmonic.taylor_directions(3)
    assert dirs.shape == (9, 3) and weights.shape == (9,)
    d4 = np.asarray([24 * float(np.sum(v**2)) ** 2 for v in dirs])  # D^4_v |x|^4 = 24 |v|^4
    assert float(weights @ d4) == pytest.approx(120)
    assert float(np.sum(d4[:3])) == pytest.approx(72)
    assert biharmonic.taylor_directions(1)[1].tolist() == [1.0]


def _stoch(task, name):
    return next(s for s in stochastic.STRATEGIES if (s.task, s.name) == (task, name))


def test_laplacian_estimators_are_unbiased():
    exact = float(jnp.trace(jax.hessian(mlp)(X5)))
    for name in ("hutchinson", "stde"):
        d = stochastic.draws("laplacian", name, mlp, X5, params=TaskParams(samples=2), repeats=2000)
        assert d.shape == (2000,)
        assert np.std(d) > 0  # S = 2 < n = 5: a real estimate
        assert abs(np.mean(d) - exact) < 5 * np.std(d) / math.sqrt(2000)


def test_hutchinson_exact_on_a_diagonal_hessian_and_stde_exact_at_s_ge_n():
    def separable(x):
        return jnp.sum(jnp.sin(x) * jnp.arange(1.0, 6.0))

    exact = float(jnp.trace(jax.hessian(separable)(X5)))
    d = stochastic.draws("laplacian", "hutchinson", separable, X5, repeats=5)
    np.testing.assert_allclose(d, exact, rtol=1e-5)
    d = stochastic.draws("laplacian", "stde", mlp, X5, params=TaskParams(samples=5), repeats=5)
    np.testing.assert_allclose(d, float(jnp.trace(jax.hessian(mlp)(X5))), rtol=1e-5)


def test_biharmonic_estimators_are_unbiased_and_a_shared_probe_is_not():
    for name in ("hutchinson", "stde"):
        d = stochastic.draws("biharmonic", name, r4, X3, params=TaskParams(samples=16), repeats=600)
        assert abs(np.mean(d) - 120) < 5 * np.std(d) / math.sqrt(600) + 1e-3
    # One shared Rademacher z: z^T grad^2 (z^T grad^2 u z) z = 24 |z|^4 = 216 at n = 3, not 120.
    z = jnp.asarray([1.0, -1.0, 1.0], jnp.float32)

    def second(f, x, v):
        return jax.jvp(lambda y: jax.jvp(f, (y,), (v,))[1], (x,), (v,))[1]

    assert float(second(lambda y: second(r4, y, z), X3, z)) == pytest.approx(216, rel=1e-4)


def test_estimator_timed_function_is_draw_zero_and_batches():
    s = _stoch("laplacian", "hutchinson")
    params = TaskParams(samples=3, seed=7)
    xs = jnp.stack([X5, -X5])
    d = stochastic.draws("laplacian", "hutchinson", mlp, xs, params=params, repeats=4, batch=True)
    assert d.shape == (4, 2)
    assert len({round(float(v), 4) for v in d[:, 0]}) > 1  # draws differ
    np.testing.assert_allclose(run(s, mlp, xs, params, batch=True), d[0], rtol=1e-5)
    assert bind(s, params).prepare(mlp, X5).info == {"samples": 3, "seed": 7}
    assert stochastic.is_estimator("biharmonic", "stde")
    assert not stochastic.is_estimator("laplacian", "taylor")


def test_relative_error():
    est = np.asarray([[1.1, 2.0], [0.9, 2.0], [1.0, 2.0]])
    e = relative_error(est, np.asarray([1.0, 2.0]))
    per = np.asarray([0.1, 0.1, 0.0]) / math.sqrt(5)  # the norm over points, not per point
    assert e.mean == pytest.approx(per.mean()) and e.std == pytest.approx(np.std(per, ddof=1))
    assert e.draws == 3
    one = relative_error(np.asarray([2.0]), np.asarray(1.0))
    assert one.mean == pytest.approx(1.0) and math.isnan(one.std)
    zero = relative_error(np.asarray([[0.0], [1.0]]), np.asarray([0.0]))
    assert zero.mean == math.inf
    with pytest.raises(ValueError, match="must be"):
        relative_error(np.ones((3, 2)), np.ones(3))


def test_estimator_decision():
    assert not estimator_decision("stde", 0.01, None, 5.0).eligible
    assert "set tolerance" in estimator_decision("stde", 0.01, None, 5.0).reason
    assert not estimator_decision("stde", 0.05, 0.05, 5.0).eligible  # strictly below
    assert not estimator_decision("stde", math.nan, 0.05, 5.0).eligible
    ok = estimator_decision("stde", 0.012, 0.05, 4.26)
    assert ok.eligible and ok.reason == "stde: 4.26x faster at relative error 0.012"


_P = {
    "w": [jnp.asarray(_rng.normal(size=(2, 6)), jnp.float32), jnp.zeros(6, jnp.float32)],
    "v": jnp.asarray(_rng.normal(size=(6, 3)) / 2, jnp.float32),
}
_XA = jnp.asarray(_rng.normal(size=(4, 2)), jnp.float32)
_XB = jnp.asarray(_rng.normal(size=(5, 2)), jnp.float32)


def net(p, x):
    """(N, 2) -> (N, 3); a dict-and-list pytree of parameters."""
    return jnp.tanh(x @ p["w"][0] + p["w"][1]) @ p["v"]


def explicit_ntk(x1, x2):
    """J1 J2^T by one jacrev of the flat parameters, einsum'ed: (N1, N2, 3, 3)."""
    theta, unravel = ravel_pytree(_P)
    j1 = np.asarray(jax.jacrev(lambda t: net(unravel(t), x1))(theta), np.float64)
    j2 = np.asarray(jax.jacrev(lambda t: net(unravel(t), x2))(theta), np.float64)
    return np.einsum("aop,bqp->aboq", j1, j2)


@pytest.mark.parametrize("name", ntk.NAMES)
def test_ntk_strategies(name):
    theta, _ = ravel_pytree(_P)
    full = explicit_ntk(_XA, _XB)
    got = np.asarray(jax.jit(ntk.prepare(name, net, _P, _XA, _XB, trace_axes=None).fn)(theta))
    np.testing.assert_allclose(got, full, rtol=1e-4, atol=1e-4)
    traced = np.asarray(jax.jit(ntk.prepare(name, net, _P, _XA, _XB).fn)(theta))
    assert traced.shape == (4, 5)
    np.testing.assert_allclose(traced, np.einsum("abkk->ab", full), rtol=1e-4, atol=1e-4)
    same = np.asarray(jax.jit(ntk.prepare(name, net, _P, _XA).fn)(theta))
    np.testing.assert_allclose(same, same.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(same, np.einsum("abkk->ab", explicit_ntk(_XA, _XA)), rtol=1e-4)


def test_ntk_traces_a_middle_axis():
    """Per-point output (2, 3), the first axis traced: K (N1, N2, 3, 3)."""

    def net2(p, x):
        y = net(p, x)
        return jnp.stack([y, 2 * y], axis=1)

    theta, _ = ravel_pytree(_P)
    full = explicit_ntk(_XA, _XB)  # (a, b, o, q) of net; net2 adds the factor 1 + 4 on axis 0
    for name in ntk.NAMES:
        got = np.asarray(jax.jit(ntk.prepare(name, net2, _P, _XA, _XB, trace_axes=(0,)).fn)(theta))
        np.testing.assert_allclose(got, 5 * full, rtol=1e-4, atol=1e-4)


def test_ntk_refuses_bad_shapes():
    with pytest.raises(ValueError, match=r"^trace_axes: axis 2 out of range"):
        ntk.prepare("per_example_contraction", net, _P, _XA, trace_axes=(2,))
    with pytest.raises(ValueError, match=r"leading the output"):
        ntk.prepare("jacobian_contraction", lambda p, x: net(p, x).T, _P, _XA)
    with pytest.raises(ValueError, match=r"^unknown ntk strategy 'jacfwd'"):
        ntk.prepare("jacfwd", net, _P, _XA)
