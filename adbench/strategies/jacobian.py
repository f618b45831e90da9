"""Jacobian strategies: f (d_in,) -> (d_out,); result (d_out, d_in). jacfwd and jacrev, their
chunked forms (``lax.map`` over basis indices, never an identity) and ``jax.linearize``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adbench.strategies.base import Builder, Derived, Fn, Strategy, one_hot

if TYPE_CHECKING:
    import jax


def _jacfwd(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
    import jax

    return Derived(jax.jacfwd(f))


def _jacrev(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
    import jax

    return Derived(jax.jacrev(f))


def _jacfwd_chunked(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
    """JVPs along e_0..e_{d_in-1}, ``chunk`` at a time (vmapped), chunks in a ``lax.map``.

    Each chunk's JVP evaluates the primal again unless XLA hoists it out of the loop;
    ``linearize`` is the variant that evaluates it once.
    """
    import jax
    import jax.numpy as jnp

    def jac(x: jax.Array) -> jax.Array:
        n = x.shape[0]

        def column(i: jax.Array) -> jax.Array:
            return jax.jvp(f, (x,), (one_hot(i, n, x.dtype),))[1]

        return jax.lax.map(column, jnp.arange(n), batch_size=chunk).T

    return Derived(jac)


def _jacrev_chunked(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
    """One forward pass (``jax.vjp``), then VJPs of e_0..e_{d_out-1}, ``chunk`` at a time."""
    import jax
    import jax.numpy as jnp

    def jac(x: jax.Array) -> jax.Array:
        y, pullback = jax.vjp(f, x)
        m = y.shape[0]

        def row(j: jax.Array) -> jax.Array:
            return pullback(one_hot(j, m, y.dtype))[0]

        return jax.lax.map(row, jnp.arange(m), batch_size=chunk)

    return Derived(jac)


def _linearize(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
    """``jax.linearize`` once (primal + residuals), its linear map vmapped over the full basis.

    Not chunked: all d_in tangents in one vmap, like ``jacfwd``; the difference is that the
    residuals are computed once, before the linear map is applied.
    """
    import jax
    import jax.numpy as jnp

    def jac(x: jax.Array) -> jax.Array:
        _, push = jax.linearize(f, x)
        n = x.shape[0]
        return jax.vmap(lambda i: push(one_hot(i, n, x.dtype)), out_axes=1)(jnp.arange(n))

    return Derived(jac)


def _chunked(name: str, basis: str, derive: Builder, summary: str) -> Strategy:
    twin = name.removesuffix("_chunked")
    return Strategy(name, "jacobian", True, True, summary, basis=basis, twin=twin, derive=derive)


STRATEGIES = (
    Strategy.plain("jacobian", "jacfwd", _jacfwd, "jax.jacfwd: one vmapped JVP per input"),
    Strategy.plain("jacobian", "jacrev", _jacrev, "jax.jacrev: one vmapped VJP per output"),
    _chunked("jacfwd_chunked", "in", _jacfwd_chunked, "JVPs, chunk_size inputs at a time"),
    _chunked("jacrev_chunked", "out", _jacrev_chunked, "VJPs, chunk_size outputs at a time"),
    Strategy.plain(
        "jacobian",
        "linearize",
        _linearize,
        "jax.linearize once, its linear map vmapped over inputs",
    ),
)
