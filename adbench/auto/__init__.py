"""``adbench.jacobian(f)``, ``adbench.hessian(f)``, ``adbench.laplacian(f)``: the decision in code.

Each takes what JAX's own transform takes and returns its structure::

    adbench.jacobian(f, strategy="auto", *, argnums=0, has_aux=False, holomorphic=False,
                     batched=False, strategies=None, policy=None, family=None,
                     calibrate=False, budget_s=1.0, chunk_size=None, margin=0.1)

``jacobian(f)(*args)`` equals ``jax.jacfwd(f, argnums, has_aux, holomorphic)(*args)`` leaf by
leaf: pytree arguments and outputs (dicts, lists, tuples, NamedTuples, Equinox modules, Flax
param dicts), any leaf shapes (0-d, N-d), several positional arguments, ``argnums`` an int or a
tuple, ``has_aux`` (the aux returned beside, as JAX does). ``hessian(f)`` is ``jax.hessian(f)``'s
structure; ``laplacian(f)`` the trace of the Hessian over every differentiated coordinate, shaped
like f's (scalar) output. Inside ``jax.jit``, ``jax.vmap`` and ``jax.grad`` too.

``batched=True``: a derivative at B points. Every differentiated leaf has a leading axis of B
points (the other arguments are shared), f is the per-point function, and the result is the
per-point derivative stacked on a leading axis: ``jax.vmap(jax.jacfwd(f), in_axes=...)``. The
decision is made for B points (compiled and costed, calibrated, looked up in a policy at batch B).

A sparse strategy (when listed in ``strategies`` or forced) returns a BCOO: for a function of one
1-D array of shape (d_out, d_in) (``f(x).size`` rows), for pytrees of shape (d_out, d_in) too,
rows and columns in ``jax.flatten_util.ravel_pytree`` order of the output and the differentiated
arguments (batched: a leading B). The Hessian's is (d_in, d_in).

Which strategy of :mod:`adbench.strategies.registry` computes it is decided per key (tree
structures, leaf shapes and dtypes of all arguments, static values, argnums, has_aux, batch,
device) the first time that key is seen, while tracing too, and cached: see
:mod:`adbench.auto.derivative` for the order (forced, policy, calibration, prediction, and the
eager fallback for a function that cannot be traced). After the choice the function *is* the
chosen strategy: under ``jit`` it traces to exactly its computation (for one 1-D argument op for
op ``jax.jacfwd``'s or ``jax.jacrev``'s program), outside a trace it calls the ``jax.jit`` of it.

A new task is one line in :data:`TASKS` (how its flat result maps back to JAX's structure,
:data:`adbench.auto.program.RESULT`) and a three-line function calling :func:`derivative`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from adbench.analysis import policy as pol
from adbench.auto.choice import Choice
from adbench.auto.derivative import AUTO, AutoDerivative, default_strategies

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = [
    "AUTO",
    "TASKS",
    "AutoDerivative",
    "Choice",
    "Options",
    "default_strategies",
    "derivative",
    "hessian",
    "jacobian",
    "laplacian",
]

# The tasks with a function here, and the JAX transform whose result structure each returns.
TASKS = {
    "jacobian": "jax.jacfwd(f, argnums, has_aux, holomorphic)",
    "hessian": "jax.hessian(f, argnums, has_aux, holomorphic)",
    "laplacian": "the trace of jax.hessian over all differentiated coordinates, f's shape",
}


class Options(TypedDict, total=False):
    """The keyword options every task's function takes (see :class:`AutoDerivative`).

    ``argnums``, ``has_aux``, ``holomorphic``: as in ``jax.jacfwd``; ``batched``: the
    derivative at B points (see the module docstring); ``strategies``: the candidates (default
    :func:`default_strategies`); ``policy`` + ``family``: a policy file from ``adbench policy``
    and the family name in it; ``calibrate``: time the candidates (at most ``budget_s`` seconds
    per key) instead of predicting; ``chunk_size``: for the chunked strategies (default: about
    half the basis); ``margin``: the predicted tie margin; ``max_memory``: XLA temp bytes above
    which a candidate is dropped (default half the available memory; None: no limit);
    ``per_example``: the position of a non-differentiated argument whose leading axis holds
    independent points (f's output rows follow them): the ``per_example`` strategy (one point's
    derivative, vmapped) joins the candidates (jacobian, hessian; see
    :mod:`adbench.auto.per_example`).
    """

    argnums: int | Sequence[int]
    has_aux: bool
    holomorphic: bool
    batched: bool
    strategies: Sequence[str] | None
    policy: str | Path | pol.Policy | None
    family: str | None
    calibrate: bool
    budget_s: float
    chunk_size: int | None
    margin: float
    max_memory: int | None | str
    per_example: int | None


def derivative(
    task: str, f: Callable[..., Any], strategy: str = AUTO, **options: Unpack[Options]
) -> AutoDerivative:
    """The derivative of ``task`` (any task of the registry) of f, strategy chosen by adbench."""
    return AutoDerivative(task, f, strategy, **options)


def jacobian(
    f: Callable[..., Any], strategy: str = AUTO, **options: Unpack[Options]
) -> AutoDerivative:
    """The Jacobian of f, structured as ``jax.jacfwd(f, argnums, has_aux, holomorphic)``'s.

    ``strategy``: "auto" or a name to force (jacfwd, jacrev, jacfwd_chunked, jacrev_chunked,
    linearize, sparse); default candidates jacfwd and jacrev (add "sparse" to ``strategies`` to
    allow a BCOO result). ``.choose(*args)`` names the strategy, ``.explain(*args)`` says why.
    ValueError for a name that is not a Jacobian strategy, an argument that cannot be
    differentiated (naming the argument and leaf path), or a policy file that is missing,
    malformed or of another version; f's own errors propagate with their type and traceback.
    """
    return derivative("jacobian", f, strategy, **options)


def hessian(
    f: Callable[..., Any], strategy: str = AUTO, **options: Unpack[Options]
) -> AutoDerivative:
    """The Hessian of a scalar f, structured as ``jax.hessian(f, argnums, ...)``'s.

    Strategies: fwd_over_rev, rev_over_fwd, rev_over_rev, fwd_over_fwd (the default candidates)
    and sparse (BCOO (d_in, d_in), when listed). Options as in :func:`jacobian`.
    """
    return derivative("hessian", f, strategy, **options)


def laplacian(
    f: Callable[..., Any], strategy: str = AUTO, **options: Unpack[Options]
) -> AutoDerivative:
    """The Laplacian (trace of the Hessian over every differentiated coordinate) of a scalar f,
    shaped like f's output (``()`` for a scalar; (B,) with ``batched=True``).

    Default candidates: every Laplacian strategy of the registry that is not stochastic.
    Options as in :func:`jacobian`.
    """
    return derivative("laplacian", f, strategy, **options)
