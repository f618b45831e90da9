"""Sparse strategies (asdex): the sparsity pattern is detected from the jaxpr (no derivative is
evaluated; the pattern holds for every x) and coloured once in ``prepare``, timed as ``setup_s``;
``sparse_coloring`` returns that colouring as a value to inspect apart from the differentiation.
Their result is a ``jax.experimental.sparse.BCOO``. Detection keeps one set of input indices per
element of every intermediate, so on a large dense-ish function it can take gigabytes and
minutes: ``measure`` runs every preparation under :mod:`adbench.measure.prepare_guard`, which
stops it at the run's memory budget or its time limit and records why."""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from adbench.strategies.base import Builder, Derived, Fn, Strategy, normalise

if TYPE_CHECKING:
    import jax


def sparse_coloring(task: str, fn: Fn, x: Any) -> Any:
    """asdex's colouring of fn's Jacobian or Hessian pattern at x (d_in,): a ``ColoredPattern``.

    Jacobian: greedy column (fwd) or row (rev) colouring, whichever needs fewer colours (ties to
    fwd). Hessian: symmetric star colouring, HVPs forward-over-reverse. ``.num_colors``,
    ``.mode``, ``.sparsity.nnz`` and ``.sparsity.todense()`` describe it. asdex's warning that a
    colouring is as dense as the dense case is silenced: ``num_colors`` says so, and the measuring
    code records it.
    """
    import asdex
    import jax.numpy as jnp

    if task not in ("jacobian", "hessian"):
        raise ValueError(f"task {task!r} has no sparse strategy; choose from: jacobian, hessian")
    x = jnp.asarray(x)
    f = normalise(task, fn, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asdex.DenseColoringWarning)
        if task == "jacobian":
            return asdex.jacobian_coloring(f, x)
        return asdex.hessian_coloring(f, x)


def _sparse(task: str) -> Builder:
    def build(f: Fn, x0: jax.Array, chunk: int | None) -> Derived:
        import asdex

        start = time.perf_counter()
        coloring = sparse_coloring(task, f, x0)
        setup_s = time.perf_counter() - start
        make = asdex.jacobian_from_coloring if task == "jacobian" else asdex.hessian_from_coloring
        # Hessian: star colouring seeds the input space, outer derivative forward: "fwd".
        mode = coloring.mode if task == "jacobian" else "fwd"
        info = {
            "colors": int(coloring.num_colors),
            "sparse_mode": mode,
            "nnz": int(coloring.sparsity.nnz),
            "coloring": "star" if coloring.symmetric else ("column" if mode == "fwd" else "row"),
        }
        return Derived(make(f, coloring), setup_s, info, coloring)

    return build


STRATEGIES = (
    Strategy.plain(
        "jacobian",
        "sparse",
        _sparse("jacobian"),
        "asdex: detected pattern, coloured JVPs or VJPs, BCOO",
    ),
    Strategy.plain(
        "hessian", "sparse", _sparse("hessian"), "asdex: detected pattern, star-coloured HVPs, BCOO"
    ),
)
