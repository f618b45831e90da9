"""Forward-Laplacian strategies (folx): f (n,) -> (); result () = the trace of the Hessian.

``folx.forward_laplacian(f, sparsity_threshold)`` interprets f's jaxpr and pushes (value,
Jacobian, Laplacian) through every primitive in one forward pass: no Hessian, no loop over the n
basis vectors. It returns an ``FwdLaplArray`` whose ``.laplacian`` is the answer.

``forward_laplacian`` is dense (threshold 0). ``forward_laplacian_sparse`` keeps the Jacobian
sparse while it has at most ``threshold`` non-zeros per entry (folx: a value in (0, 1) is a
fraction of the input size, >= 1 an absolute count); set per family with ``sparsity_threshold``
(TaskParams). folx rounds a fraction down, so 0.6 of a 1-entry input would be 0 non-zeros, i.e.
dense folx under the sparse name; a fraction here keeps at least one non-zero, so the strategy
always measures folx's sparse path (at d = 1 and 2 too). A threshold of 0 *is* dense folx: it is
refused rather than measured twice under two names. folx's README: x4.6 dense and x86 sparse on
a 10-layer MLP, with compile time rising as run time falls (count it in break-even).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adbench.strategies.base import Derived, Fn, Strategy
from adbench.strategies.params import NO_PARAMS, TaskParams

if TYPE_CHECKING:
    import jax


def effective_threshold(threshold: float, n: int) -> int:
    """The non-zero count passed to folx for an input of n entries: folx's own rule (a fraction of
    n, rounded down; an absolute count >= 1), a fraction kept at >= 1 (module docstring)."""
    return max(1, int(threshold * n)) if 0 < threshold < 1 else int(threshold)


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
            f"sparsity_threshold: {params.sparsity_threshold:g} is 0 non-zeros, i.e. dense "
            "forward_laplacian; give a fraction in (0, 1) or a count >= 1"
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
