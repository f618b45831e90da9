"""The run-file keys of the operator tasks, checked and turned into a TaskParams.

    wrt: [0, 0, 0, 0]                  derivative: d^4 f / dx_0^4 (indices into the flat input)
    terms: [{coef: 1, wrt: [1]}, ...]  derivative: a linear combination (a PDE residual's shape)
    samples: 8                         hutchinson / stde: probes per estimate (>= 1)
    tolerance: 0.05                    an estimator may be recommended below this relative error
    sparsity_threshold: 0.6            forward_laplacian_sparse (and its nested biharmonic)

Shape checks are pydantic's (``Wrt``, ``TermSpec``: a fault names the key and its line); the
checks that need the family's task, strategies and sizes are :func:`resolve`'s, raised as the
plan's ``PlanError`` at the key at fault. A family that sets ``samples`` or ``tolerance`` without
listing strategies gets the task's estimators added to its defaults. No JAX here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from adbench.store import schema
from adbench.strategies.params import DEFAULT_SAMPLES, DEFAULT_SPARSITY_THRESHOLD, TaskParams, Term

if TYPE_CHECKING:
    from adbench.config.model import FamilySpec


def _check_wrt(wrt: list[int]) -> list[int]:
    if not wrt:
        raise ValueError("a derivative of order 0 is the function itself; give >= 1 index")
    bad = [i for i in wrt if i < 0]
    if bad:
        raise ValueError(f"indices into the input are >= 0, got {bad[0]}")
    return wrt


Wrt = Annotated[list[Annotated[int, Field(strict=True)]], AfterValidator(_check_wrt)]


class TermSpec(BaseModel):
    """One term ``coef * d^k f / dx_wrt`` of a derivative family's ``terms``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wrt: Wrt
    coef: float = 1.0


# the tasks each key applies to
_KEY_TASKS = {
    "wrt": ("derivative",),
    "terms": ("derivative",),
    "samples": ("laplacian", "biharmonic"),
    "tolerance": ("laplacian", "biharmonic"),
    "sparsity_threshold": ("laplacian", "biharmonic"),
}


class OperatorError(ValueError):
    """A fault of an operator key: ``key`` is the family key at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def resolve(
    spec: FamilySpec, task: str, names: Sequence[str], d_ins: Sequence[int], explicit: bool
) -> tuple[tuple[str, ...], TaskParams | None]:
    """(the family's strategies, its TaskParams or None) for ``task``; OperatorError naming the
    key: a key of another task, a derivative without wrt/terms or with both, a wrt index out of
    range of a declared d_in, a tolerance without an estimator among the strategies, an ntk
    family without ``per_example`` (its strategies need the points declared)."""
    given = {k: getattr(spec, k) for k in _KEY_TASKS if getattr(spec, k) is not None}
    for key in given:
        if task not in _KEY_TASKS[key]:
            raise OperatorError(
                key, f"{key} applies to task {' / '.join(_KEY_TASKS[key])}, not {task}"
            )
    names = tuple(names)
    if task == "derivative":
        if spec.wrt is not None and spec.terms is not None:
            raise OperatorError(
                "terms", "give wrt (one partial) or terms (a combination), not both"
            )
        if spec.wrt is None and spec.terms is None:
            raise OperatorError(
                "task", "task derivative needs wrt: [i, j, ...] (or terms) to say which partial"
            )
        specs = [TermSpec(wrt=spec.wrt)] if spec.wrt is not None else list(spec.terms or ())
        terms = tuple(Term(tuple(t.wrt), float(t.coef)) for t in specs)
        key = "wrt" if spec.wrt is not None else "terms"
        for n in d_ins:
            for t in terms:
                bad = [i for i in t.wrt if i >= n]
                if bad:
                    raise OperatorError(
                        key, f"wrt index {bad[0]} is out of range for d_in = {n} (0 to {n - 1})"
                    )
        return names, TaskParams(terms=terms)
    if task == "ntk" and spec.per_example is None:
        raise OperatorError(
            "task",
            "task ntk needs f(params, X): a factory returning (f, (params, X)) and "
            "`per_example: K` naming the argument whose leading axis holds the points",
        )
    if task not in ("laplacian", "biharmonic"):
        return names, None
    estimators = [n for n in names if n in schema.ESTIMATORS]
    if (spec.samples is not None or spec.tolerance is not None) and not explicit:
        names = (*names, *(n for n in schema.ESTIMATORS if n not in names))
        estimators = list(schema.ESTIMATORS)
    if spec.sparsity_threshold == 0:
        raise OperatorError(
            "sparsity_threshold",
            "sparsity_threshold 0 is dense folx (forward_laplacian); give a fraction in (0, 1) "
            "of the input size or a count of non-zeros >= 1",
        )
    if spec.tolerance is not None and not estimators:
        raise OperatorError(
            "tolerance",
            "tolerance applies to the estimators (" + ", ".join(schema.ESTIMATORS) + "), and "
            "none is among the strategies",
        )
    params = TaskParams(
        samples=spec.samples if spec.samples is not None else DEFAULT_SAMPLES,
        sparsity_threshold=(
            spec.sparsity_threshold
            if spec.sparsity_threshold is not None
            else DEFAULT_SPARSITY_THRESHOLD
        ),
        tolerance=spec.tolerance,
    )
    return names, params
