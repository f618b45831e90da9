"""Biharmonic strategies: f (n,) -> (); result () = Delta^2 f = sum_{i,j} d^4 f / dx_i^2 dx_j^2.

- ``hessian_of_hessian`` (reference): ``jax.hessian(jax.hessian(f))`` builds the (n, n, n, n)
  fourth-derivative tensor T and sums T_iijj. n^4 entries: fine for a PINN's n = 1-3.
- ``nested_<l>`` for each exact Laplacian strategy l of :mod:`~adbench.strategies.laplacian` and
  :mod:`~adbench.strategies.forward_laplacian`: l applied to l(f), the Laplacian of the
  Laplacian. "Collapsing Taylor mode AD" (Dangel et al., NeurIPS 2025) measured nested forward
  Laplacians 3x faster than Taylor mode for the biharmonic.
- ``taylor``: fourth-order jets along n^2 directions. With D^4_v f = T(v, v, v, v) and T
  symmetric, D^4_{e_i + e_j} + D^4_{e_i - e_j} = 2 T_iiii + 2 T_jjjj + 12 T_iijj, so

      Delta^2 f = (1 - (n - 1) / 3) sum_i D^4_{e_i} f
                  + 1/6 sum_{i<j} (D^4_{e_i + e_j} f + D^4_{e_i - e_j} f)

  (n jets along the axes, n (n - 1) along the sums and differences of pairs; n = 1: one jet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from adbench.strategies import forward_laplacian, laplacian
from adbench.strategies.base import Derived, Fn, Strategy
from adbench.strategies.params import NO_PARAMS, TaskParams, call_builder

if TYPE_CHECKING:
    import jax


def _scalar(f: Fn) -> Fn:
    import jax.numpy as jnp

    return lambda x: jnp.reshape(f(x), ())


def _hessian_of_hessian(
    f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS
) -> Derived:
    import jax
    import jax.numpy as jnp

    g = _scalar(f)
    return Derived(lambda x: jnp.einsum("iijj->", jax.hessian(jax.hessian(g))(x)))


def _nested(inner: Strategy) -> Callable[..., Derived]:
    """The Laplacian strategy ``inner`` applied twice: l(l(f)), both at x0's shape."""

    def build(
        f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS
    ) -> Derived:
        once = call_builder(inner.derive, _scalar(f), x0, None, params)
        twice = call_builder(inner.derive, once.fn, x0, None, params)
        return Derived(twice.fn, setup_s=once.setup_s + twice.setup_s, info=dict(twice.info))

    return build


def taylor_directions(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The identity of the module docstring: directions (n^2, n) and weights (n^2,), float64,
    with Delta^2 f = sum_k weights[k] * D^4_{directions[k]} f."""
    eye = np.eye(n)
    dirs = [eye[i] for i in range(n)]
    weights = [1.0 - (n - 1) / 3.0] * n
    for i in range(n):
        for j in range(i + 1, n):
            dirs += [eye[i] + eye[j], eye[i] - eye[j]]
            weights += [1.0 / 6.0, 1.0 / 6.0]
    return np.asarray(dirs), np.asarray(weights)


def _taylor(f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS) -> Derived:
    import jax
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    g = _scalar(f)
    dirs, weights = taylor_directions(int(x0.shape[0]))

    def biharmonic(x: jax.Array) -> jax.Array:
        def fourth(v: jax.Array) -> jax.Array:
            zero = jnp.zeros_like(v)
            _, series = jet(g, (x,), ((v, zero, zero, zero),))
            return series[3]

        d4 = jax.vmap(fourth)(jnp.asarray(dirs, x.dtype))
        return jnp.asarray(weights, x.dtype) @ d4

    return Derived(biharmonic, info={"jets": len(weights)})


EXACT_LAPLACIANS = laplacian.STRATEGIES + forward_laplacian.STRATEGIES

STRATEGIES = (
    Strategy.plain(
        "biharmonic",
        "hessian_of_hessian",
        _hessian_of_hessian,
        "sum of T_iijj of jax.hessian(jax.hessian(f))",
    ),
    *(  # dense results all (plain() would call nested_forward_laplacian_sparse's sparse)
        Strategy(
            f"nested_{lap.name}",
            "biharmonic",
            dense=True,
            chunked=False,
            summary=f"Laplacian of the Laplacian by {lap.name}",
            derive=_nested(lap),
        )
        for lap in EXACT_LAPLACIANS
    ),
    Strategy.plain(
        "biharmonic", "taylor", _taylor, "4th-order jets along e_i and e_i +- e_j (n^2 jets)"
    ),
)
