"""Forward-Laplacian strategies (folx): f (n,) -> (); result () = the trace of the Hessian.

``folx.forward_laplacian(f, sparsity_threshold)`` interprets f's jaxpr and pushes (value,
Jacobian, Laplacian) through every primitive in one forward pass: no Hessian, no loop over the n
basis vectors. It returns an ``FwdLaplArray`` whose ``.laplacian`` is the answer.

``forward_laplacian`` is dense (threshold 0). ``forward_laplacian_sparse`` keeps the Jacobian
sparse while it has at most ``threshold`` non-zeros per entry (folx: a value in (0, 1) is a
fraction of the input size, >= 1 an absolute count); set per family with ``sparsity_threshold``
(TaskParams). A threshold that comes to 0 non-zeros is dense folx again, so it is refused rather
than measured twice under two names. folx's README: x4.6 dense and x86 sparse on a 10-layer MLP,
with compile time rising as run time falls (count it in break-even).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adbench.strategies.base import Derived, Fn, Strategy
from adbench.strategies.params import NO_PARAMS, TaskParams

if TYPE_CHECKING:
    import jax


def effective_threshold(threshold: float, n: int) -> int:
    """The non-zero count folx uses for an input of n entries (its own rule, made visible)."""
    return int(threshold * n) if 0 < threshold < 1 else int(threshold)


def _laplacian(f: Fn, threshold: int) -> Fn:
    import folx
    import jax.numpy as jnp

    propagated = folx.forward_laplacian(
        lambda y: jnp.reshape(f(y), ()), sparsity_threshold=threshold
    )
    return lambda x: propagated(x).laplacian


def _dense(f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS) -> Derived:
    return Derived(_laplacian(f, 0))


def _sparse(f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS) -> Derived:
    n = int(x0.shape[0])
    threshold = effective_threshold(params.sparsity_threshold, n)
    if threshold < 1:
        raise ValueError(
            f"sparsity_threshold: {params.sparsity_threshold:g} of an input of {n} entries is 0 "
            "non-zeros, i.e. dense forward_laplacian; give a larger threshold"
        )
    return Derived(_laplacian(f, threshold), info={"sparsity_threshold": threshold})


STRATEGIES = (
    Strategy.plain(
        "laplacian",
        "forward_laplacian",
        _dense,
        "folx forward Laplacian: value, Jacobian, Laplacian in one forward pass",
    ),
    # not Strategy.plain: its name says sparse, but its result is a dense scalar, not a BCOO
    Strategy(
        "forward_laplacian_sparse",
        "laplacian",
        dense=True,
        chunked=False,
        summary="folx forward Laplacian with sparse Jacobians (sparsity_threshold)",
        derive=_sparse,
    ),
)
