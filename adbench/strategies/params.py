"""What a task says beyond "this function at this point": the parameters of the operator tasks.

The first tasks (jacobian, hessian, laplacian) are fixed by the function alone. A ``derivative``
needs its terms (which partials, with which coefficients), an estimator its sample count and
seed, the sparse forward Laplacian its threshold. They reach a builder as one frozen
``TaskParams`` (``Strategy.prepare(..., params=...)``), so a builder of the first tasks, which
takes none, is called exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# STDE and Hutchinson draws; enough that the relative error of a smooth MLP's Laplacian at d = 16
# is some tens of percent, not so many that the estimator costs what the exact operator does.
DEFAULT_SAMPLES = 16
# folx's advice: "relatively large values like 0.6, as frequent materializations are slow";
# a fraction (0, 1) of the input size, or an absolute count of non-zeros >= 1.
DEFAULT_SPARSITY_THRESHOLD = 0.6


@dataclass(frozen=True)
class Term:
    """coef * d^k f / dx_wrt[0] ... dx_wrt[k-1]: k = len(wrt) >= 1, indices into the flat input."""

    wrt: tuple[int, ...]
    coef: float = 1.0

    def __post_init__(self) -> None:
        if not self.wrt:
            raise ValueError("wrt: a derivative of order 0 is the function itself; give >= 1 index")
        for i in self.wrt:
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ValueError(f"wrt: indices must be integers >= 0, got {self.wrt!r}")

    @property
    def order(self) -> int:
        return len(self.wrt)


@dataclass(frozen=True)
class TaskParams:
    """Everything a task's builder may need besides f and x; every field has a neutral default.

    ``terms``: the ``derivative`` task's linear combination (empty for the other tasks).
    ``samples``, ``seed``: the stochastic strategies' probe count and PRNG seed.
    ``sparsity_threshold``: ``forward_laplacian_sparse``'s folx threshold.
    ``tolerance``: the relative error below which an estimator may be recommended (None: never).
    """

    terms: tuple[Term, ...] = ()
    samples: int = DEFAULT_SAMPLES
    seed: int = 0
    sparsity_threshold: float = DEFAULT_SPARSITY_THRESHOLD
    tolerance: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples: must be an integer >= 1, got {self.samples!r}")
        if self.sparsity_threshold < 0:
            raise ValueError(f"sparsity_threshold: must be >= 0, got {self.sparsity_threshold!r}")

    @classmethod
    def derivative(cls, wrt: tuple[int, ...] | list[int]) -> TaskParams:
        """The one-term derivative d^k/dx_wrt (coefficient 1)."""
        return cls(terms=(Term(tuple(wrt)),))

    def check_terms(self, n: int) -> tuple[Term, ...]:
        """The terms, checked against an input of n entries (ValueError naming ``wrt``)."""
        if not self.terms:
            raise ValueError("wrt: the derivative task needs wrt (or terms) to say which partial")
        for t in self.terms:
            bad = [i for i in t.wrt if i >= n]
            if bad:
                raise ValueError(f"wrt: index {bad[0]} out of range for an input of {n} entries")
        return self.terms


NO_PARAMS = TaskParams()


def call_builder(derive: Any, f: Any, x0: Any, chunk: int | None, params: TaskParams | None) -> Any:
    """derive(f, x0, chunk), with ``params=`` only when the builder takes it (the first tasks'
    builders do not), so a builder's signature says whether it reads task parameters."""
    if "params" in _keywords(derive):
        return derive(f, x0, chunk, params=NO_PARAMS if params is None else params)
    return derive(f, x0, chunk)


def _keywords(derive: Any) -> frozenset[str]:
    import inspect

    try:
        return frozenset(inspect.signature(derive).parameters)
    except (TypeError, ValueError):  # a builtin or C callable: no task parameters
        return frozenset()


def bind(strategy: Any, params: TaskParams) -> Any:
    """``strategy`` with ``params`` bound into its builder: a Strategy whose ``prepare`` (the
    common one of :mod:`adbench.strategies.base`) passes them on. A builder that takes no
    parameters is called as before."""
    from dataclasses import replace

    derive = strategy.derive

    def bound(f: Any, x0: Any, chunk: int | None) -> Any:
        return call_builder(derive, f, x0, chunk, params)

    return replace(strategy, derive=bound)
