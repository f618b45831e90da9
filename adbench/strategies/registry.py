"""Differentiation strategies: every way adbench knows to compute one derivative *task*.

A task is what the user wants (``jacobian``, ``hessian``, ``laplacian``); a strategy is how it is
computed (``jacfwd``, ``rev_over_fwd``, ``taylor``, ...). ``STRATEGIES[task][name]`` is a frozen
``Strategy``; ``strategy.prepare(fn, x)`` returns a ``Prepared`` whose ``fn`` is the jittable map
x -> derivative that the measuring code lowers, compiles and times. Each task's ``REFERENCE``
strategy is the one every other strategy is cross-checked against.

Shapes (d_in = n inputs, d_out outputs; B points with ``batch=True``, batch axis first):

    jacobian   fn: (d_in,) -> (d_out,)   derivative (d_out, d_in)   batched (B, d_out, d_in)
    hessian    fn: (n,) -> ()            derivative (n, n)          batched (B, n, n)
    laplacian  fn: (n,) -> ()            derivative ()              batched (B,)

``fn`` may return any shape holding d_out values (a scalar or (1,) for the scalar tasks): it is
flattened (jacobian) or reshaped to () (hessian, laplacian) once in ``prepare``.

``sparse`` strategies come from asdex: the sparsity pattern is detected from the jaxpr (no
derivative is evaluated; the pattern holds for every x) and coloured once in ``prepare``, timed as
``setup_s``; ``sparse_coloring`` returns that colouring as a value to inspect apart from the
differentiation. Their result is a ``jax.experimental.sparse.BCOO``; ``Prepared.to_dense`` turns
any result into a float64 numpy array for cross-checks.

Each task's strategies live in a module of their own (:mod:`~adbench.strategies.jacobian`,
``hessian``, ``laplacian``, ``sparse``), each ending in a ``STRATEGIES`` tuple; a new strategy is a
builder there plus its name in ``schema.STRATEGIES``. This module assembles them and checks the
two agree.

Importing this module does not import JAX (``--help`` and config validation read the registry);
jax and asdex are imported when a strategy is prepared. Besides stdlib, numpy, jax and asdex it
reads only ``adbench.store.schema`` (the task and strategy names of the results contract), so the
module can be wired into any measuring code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from adbench.store import schema
from adbench.strategies import (
    biharmonic,
    derivative,
    forward_laplacian,
    hessian,
    jacobian,
    laplacian,
    ntk,
    per_example,
    sparse,
    stochastic,
)
from adbench.strategies.base import SCALAR_TASKS, Derived, Fn, Prepared, Strategy

__all__ = [
    "REFERENCE",
    "STRATEGIES",
    "TASKS",
    "Derived",
    "Fn",
    "Prepared",
    "Strategy",
    "check_applicable",
    "chunk_candidates",
    "chunk_skip_reason",
    "get",
    "largest_chunk",
    "names",
    "sparse_coloring",
]

# Names are part of the results contract: schema.py lists them once, the registry below must
# implement exactly those (checked when this module is imported, see _registry).
TASKS = schema.TASKS
REFERENCE: Mapping[str, str] = MappingProxyType(dict(schema.REFERENCE))
sparse_coloring = sparse.sparse_coloring


def _registry(*strategies: Strategy) -> Mapping[str, Mapping[str, Strategy]]:
    by_task: dict[str, dict[str, Strategy]] = {task: {} for task in TASKS}
    for s in strategies:
        by_task[s.task][s.name] = s
    for task, names in schema.STRATEGIES.items():
        if tuple(by_task[task]) != names:  # a name added here but not in the contract, or so
            raise RuntimeError(
                f"strategy registry for {task} {tuple(by_task[task])} differs from "
                f"schema.STRATEGIES {names}"
            )
    return MappingProxyType({t: MappingProxyType(d) for t, d in by_task.items()})


def _in_contract_order(*modules: tuple[Strategy, ...]) -> tuple[Strategy, ...]:
    """Every module's strategies, in the order schema.STRATEGIES lists them (display order)."""
    found = {(s.task, s.name): s for group in modules for s in group}
    order = [(t, n) for t, names in schema.STRATEGIES.items() for n in names]
    return tuple(found[k] for k in order if k in found) + tuple(
        s for k, s in found.items() if k not in set(order)
    )


STRATEGIES: Mapping[str, Mapping[str, Strategy]] = _registry(
    *_in_contract_order(
        jacobian.STRATEGIES,
        sparse.STRATEGIES,
        hessian.STRATEGIES,
        laplacian.STRATEGIES,
        per_example.STRATEGIES,
        forward_laplacian.STRATEGIES,  # the operators of PINNs (adbench.strategies.params)
        derivative.STRATEGIES,
        biharmonic.STRATEGIES,
        stochastic.STRATEGIES,
        ntk.STRATEGIES,
    )
)


def _task_error(task: str) -> ValueError:
    return ValueError(f"unknown task {task!r}; choose from: {', '.join(TASKS)}")


def names(task: str) -> tuple[str, ...]:
    """The task's strategy names, in display order."""
    if task not in STRATEGIES:
        raise _task_error(task)
    return tuple(STRATEGIES[task])


def _name_error(task: str, name: str) -> ValueError:
    """The one message for a name that is not a strategy of ``task``."""
    owners = [t for t in TASKS if name in STRATEGIES[t]]
    if owners:
        return ValueError(
            f"strategy {name!r} belongs to task {' / '.join(owners)}, not {task!r}; "
            f"choose from: {', '.join(names(task))}"
        )
    return ValueError(f"unknown {task} strategy {name!r}; choose from: {', '.join(names(task))}")


def get(task: str, name: str) -> Strategy:
    """``STRATEGIES[task][name]``; ValueError naming the task and the valid choices."""
    if name not in STRATEGIES.get(task, {}):
        raise _task_error(task) if task not in STRATEGIES else _name_error(task, name)
    return STRATEGIES[task][name]


def check_applicable(task: str, names: Iterable[str], d_out: int) -> None:
    """Raise a one-line ValueError unless every name is a strategy of ``task`` for this d_out.

    Refused: an unknown task or name, a strategy of another task, and the scalar tasks (hessian,
    laplacian) on d_out != 1.
    """
    for name in names:
        get(task, name)
    if task in SCALAR_TASKS and d_out != 1:
        raise ValueError(f"task {task!r} needs a scalar function (d_out = 1), got d_out = {d_out}")


def chunk_skip_reason(strategy: Strategy, d_in: int, d_out: int, chunk_size: int) -> str | None:
    """Why this chunked case would only duplicate its unchunked twin, or None to run it.

    A chunk that holds the whole basis (d_in tangents for forward, d_out cotangents for reverse)
    is one vmap over everything, i.e. the twin plus a loop of one step; measuring it would fill
    tables with twin ties.
    """
    if not strategy.chunked:
        return None
    size, label = (d_in, "d_in") if strategy.basis == "in" else (d_out, "d_out")
    if chunk_size < size:
        return None
    return (
        f"{strategy.name}: chunk {chunk_size} >= {label} = {size} holds the whole basis, "
        f"the same computation as {strategy.twin}"
    )


def chunk_candidates(basis: int) -> tuple[int, ...]:
    """Chunk sizes worth compiling: powers of two below ``basis``, then ``basis`` itself."""
    if basis < 1:
        raise ValueError(f"basis must be >= 1, got {basis}")
    sizes = []
    k = 1
    while k < basis:
        sizes.append(k)
        k *= 2
    return (*sizes, basis)


def largest_chunk(basis: int, fits: Callable[[int], bool]) -> int:
    """The largest of ``chunk_candidates(basis)`` for which ``fits(chunk)`` holds, at least 1.

    ``fits`` compiles a chunked strategy and checks its memory against a budget, so it is costly
    and assumed monotone (a chunk that fits means every smaller one does): bisection over the
    ~log2(basis) candidates calls it ceil(log2(candidates + 1)) times at most, e.g. 4 for 3000.
    If not even 1 fits, 1 is returned (the caller's run will report the failure).
    """
    candidates = chunk_candidates(basis)
    fit, no_fit = -1, len(candidates)  # candidates[: fit + 1] fit, candidates[no_fit:] do not
    while no_fit - fit > 1:
        mid = (fit + no_fit) // 2
        if fits(candidates[mid]):
            fit = mid
        else:
            no_fit = mid
    return candidates[fit] if fit >= 0 else 1
