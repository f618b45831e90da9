"""Laplacian strategies: f (n,) -> (); result () = the trace of the Hessian."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from adbench.strategies.base import Builder, Derived, Fn, Strategy, one_hot

if TYPE_CHECKING:
    import jax


def _hessian_trace(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
    import jax
    import jax.numpy as jnp

    return Derived(lambda x: jnp.trace(jax.hessian(f)(x)))


def _sum_over_basis(second: Callable[[Fn, jax.Array, jax.Array], jax.Array]) -> Builder:
    """sum_i second(f, x, e_i), vmapped over all n basis vectors; second(f, x, v) = v^T H(x) v.

    Not chunked: the n basis vectors are built from their indices inside one vmap.
    """

    def build(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
        import jax
        import jax.numpy as jnp

        def laplacian(x: jax.Array) -> jax.Array:
            n = x.shape[0]
            along = jax.vmap(lambda i: second(f, x, one_hot(i, n, x.dtype)))
            return jnp.sum(along(jnp.arange(n)))

        return Derived(laplacian)

    return build


def _fwd_fwd(f: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    """d/dt d/ds f(x + t v + s v): the JVP of the JVP."""
    import jax

    return jax.jvp(lambda y: jax.jvp(f, (y,), (v,))[1], (x,), (v,))[1]


def _taylor(f: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    """Second coefficient of ``jet`` along x + t v: jet's series are derivatives (not divided by
    k!), so it is v^T H v itself, no factor 2 (tests/strategies/test_registry.py checks it)."""
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    _, (_, second) = jet(f, (x,), ((v, jnp.zeros_like(v)),))
    return second


def _hvp(f: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    """v . (H v), H v by forward-over-reverse (JVP of the gradient)."""
    import jax

    return jax.jvp(jax.grad(f), (x,), (v,))[1] @ v


STRATEGIES = (
    Strategy.plain("laplacian", "hessian_trace", _hessian_trace, "trace of jax.hessian"),
    Strategy.plain(
        "laplacian",
        "fwd_fwd",
        _sum_over_basis(_fwd_fwd),
        "JVP of JVP along each basis vector, summed",
    ),
    Strategy.plain(
        "laplacian",
        "taylor",
        _sum_over_basis(_taylor),
        "2nd-order jet along each basis vector, summed",
    ),
    Strategy.plain(
        "laplacian",
        "hvp",
        _sum_over_basis(_hvp),
        "e_i . H e_i by forward-over-reverse HVPs, summed",
    ),
)
