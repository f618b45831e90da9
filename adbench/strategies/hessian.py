"""Hessian strategies: f (n,) -> (); result (n, n). The four nested compositions of jacfwd and
jacrev (the sparse one is in :mod:`adbench.strategies.sparse`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adbench.strategies.base import Builder, Derived, Fn, Strategy

if TYPE_CHECKING:
    import jax


def _nested(outer: str, inner: str) -> Builder:
    """jac_outer(jac_inner(f)): "fwd" is jax.jacfwd, "rev" jax.jacrev; inner gives the gradient."""

    def build(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
        import jax

        transform = {"fwd": jax.jacfwd, "rev": jax.jacrev}
        return Derived(transform[outer](transform[inner](f)))

    return build


STRATEGIES = (
    Strategy.plain(
        "hessian", "fwd_over_rev", _nested("fwd", "rev"), "jax.hessian = jacfwd(jacrev(f))"
    ),
    Strategy.plain("hessian", "rev_over_fwd", _nested("rev", "fwd"), "jacrev(jacfwd(f))"),
    Strategy.plain("hessian", "rev_over_rev", _nested("rev", "rev"), "jacrev(jacrev(f))"),
    Strategy.plain("hessian", "fwd_over_fwd", _nested("fwd", "fwd"), "jacfwd(jacfwd(f))"),
)
