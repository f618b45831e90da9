"""Stochastic strategies: unbiased estimates of the Laplacian and the biharmonic from S probes.

f (n,) -> (); result () like the exact strategies of the task, but an *estimate*: it is never
checked equal to the reference (it would be a mismatch by design). Instead its relative error
against the reference is measured over repeated draws (``draws`` here, then
:func:`adbench.analysis.estimators.relative_error`), and stored beside its time.

Laplacian (trace of the Hessian H):
- ``hutchinson``: z_s Rademacher (entries +-1), estimate mean_s z_s . H z_s, H z by
  forward-over-reverse. E[z z^T] = I, so the mean is Delta f; the variance is
  2 (||H||_F^2 - sum_i H_ii^2) / S: zero for a diagonal Hessian.
- ``stde``: S coordinates i_s drawn uniformly without replacement (STDE, Shi et al. NeurIPS 2024,
  "random basis directions by Taylor mode"), estimate n/S * sum_s d^2 f / dx_{i_s}^2 from a
  second-order jet along e_{i_s}. Exact when S >= n (then every coordinate is taken once).

Biharmonic (Delta^2 f = sum_{i,j} T_iijj, T the fourth derivative tensor):
- ``hutchinson``: independent Rademacher pairs (z_s, w_s), estimate mean_s z^T grad^2 (w^T
  grad^2 f w) z by four nested JVPs: E over independent z, w of z_a z_b w_c w_d is
  delta_ab delta_cd, which picks sum T_aacc. (One shared z would not do: E[z_a z_b z_c z_d]
  for Rademacher also has a = b = c = d counted once, not three times.)
- ``stde``: Gaussian v_s, estimate mean_s D^4_v f / 3 from a fourth-order jet: by Isserlis,
  E[v_a v_b v_c v_d] = d_ab d_cd + d_ac d_bd + d_ad d_bc, so E[T(v, v, v, v)] = 3 Delta^2 f.

Draw r uses the key ``fold_in(PRNGKey(seed), r)``; the timed function is draw 0. With a batch,
every point of one draw uses the same probes (one draw is one set of S directions, as in a
training step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.strategies.base import Derived, Fn, Strategy
from adbench.strategies.params import NO_PARAMS, TaskParams

if TYPE_CHECKING:
    import jax

# est(g, x, key, samples) -> () ; g scalar
Keyed = Callable[[Fn, "jax.Array", "jax.Array", int], "jax.Array"]


def _hvp(g: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    import jax

    return jax.jvp(jax.grad(g), (x,), (v,))[1]


def _second(g: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    """d^2/dt^2 g(x + t v) by two nested JVPs."""
    import jax

    return jax.jvp(lambda y: jax.jvp(g, (y,), (v,))[1], (x,), (v,))[1]


def _laplacian_hutchinson(g: Fn, x: jax.Array, key: jax.Array, samples: int) -> jax.Array:
    import jax
    import jax.numpy as jnp

    z = jax.random.rademacher(key, (samples, x.shape[0]), dtype=x.dtype)
    return jnp.mean(jax.vmap(lambda v: v @ _hvp(g, x, v))(z))


def _laplacian_stde(g: Fn, x: jax.Array, key: jax.Array, samples: int) -> jax.Array:
    import jax
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    n = x.shape[0]
    s = min(samples, n)
    idx = jax.random.permutation(key, n)[:s]

    def along(i: jax.Array) -> jax.Array:
        v = (jnp.arange(n) == i).astype(x.dtype)
        _, (_, second) = jet(g, (x,), ((v, jnp.zeros_like(v)),))
        return second

    return n / s * jnp.sum(jax.vmap(along)(idx))


def _biharmonic_hutchinson(g: Fn, x: jax.Array, key: jax.Array, samples: int) -> jax.Array:
    import jax
    import jax.numpy as jnp

    zw = jax.random.rademacher(key, (2, samples, x.shape[0]), dtype=x.dtype)

    def one(z: jax.Array, w: jax.Array) -> jax.Array:
        return _second(lambda y: _second(g, y, w), x, z)

    return jnp.mean(jax.vmap(one)(zw[0], zw[1]))


def _biharmonic_stde(g: Fn, x: jax.Array, key: jax.Array, samples: int) -> jax.Array:
    import jax
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    v = jax.random.normal(key, (samples, x.shape[0]), dtype=x.dtype)

    def fourth(d: jax.Array) -> jax.Array:
        zero = jnp.zeros_like(d)
        _, series = jet(g, (x,), ((d, zero, zero, zero),))
        return series[3]

    return jnp.mean(jax.vmap(fourth)(v)) / 3


ESTIMATORS: dict[tuple[str, str], Keyed] = {
    ("laplacian", "hutchinson"): _laplacian_hutchinson,
    ("laplacian", "stde"): _laplacian_stde,
    ("biharmonic", "hutchinson"): _biharmonic_hutchinson,
    ("biharmonic", "stde"): _biharmonic_stde,
}


def is_estimator(task: str, name: str) -> bool:
    """True for the strategies whose result is an estimate (error measured, never cross-checked)."""
    return (task, name) in ESTIMATORS


def draw_key(seed: int, draw: int) -> jax.Array:
    import jax

    return jax.random.fold_in(jax.random.PRNGKey(seed), draw)


def keyed(task: str, name: str, f: Fn, params: TaskParams = NO_PARAMS) -> Callable[..., Any]:
    """est(x, key) for one point x (n,): the estimator with its draw as an argument."""
    import jax.numpy as jnp

    core = ESTIMATORS[(task, name)]

    def g(y: jax.Array) -> jax.Array:
        return jnp.reshape(f(y), ())

    return lambda x, key: core(g, x, key, params.samples)


def _builder(task: str, name: str) -> Callable[..., Derived]:
    def build(
        f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS
    ) -> Derived:
        est = keyed(task, name, f, params)
        key = draw_key(params.seed, 0)
        info: dict[str, Any] = {"samples": params.samples, "seed": params.seed}
        return Derived(lambda x: est(x, key), info=info)

    return build


def draws(
    task: str,
    name: str,
    f: Fn,
    x: Any,
    *,
    params: TaskParams = NO_PARAMS,
    repeats: int,
    batch: bool = False,
) -> np.ndarray:
    """The estimate at x for draws 0 .. repeats - 1, float64: (repeats,) or (repeats, B) batched.

    One jitted program vmapped over the draws' keys; x (n,) or (B, n) with ``batch``.
    """
    import jax
    import jax.numpy as jnp

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    est = keyed(task, name, f, params)
    point = jax.vmap(est, in_axes=(0, None)) if batch else est
    keys = jax.vmap(lambda r: draw_key(params.seed, r))(jnp.arange(repeats))
    out = jax.jit(jax.vmap(point, in_axes=(None, 0)))(jnp.asarray(x), keys)
    return np.asarray(out, dtype=np.float64)


def _strategy(task: str, name: str, summary: str) -> Strategy:
    from dataclasses import replace

    return replace(Strategy.plain(task, name, _builder(task, name), summary), stochastic=True)


LAPLACIAN = (
    _strategy("laplacian", "hutchinson", "Hutchinson estimate from S Rademacher probes (HVPs)"),
    _strategy("laplacian", "stde", "STDE: S random coordinates by 2nd-order jets, scaled n/S"),
)
BIHARMONIC = (
    _strategy(
        "biharmonic", "hutchinson", "Hutchinson estimate from S independent Rademacher pairs"
    ),
    _strategy("biharmonic", "stde", "STDE: S Gaussian directions by 4th-order jets, over 3"),
)
STRATEGIES = LAPLACIAN + BIHARMONIC
