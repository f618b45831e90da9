"""Stochastic estimators: their measured error, and when one may be recommended.

An estimator (``hutchinson``, ``stde``) trades accuracy for time, so neither number alone
decides. Its error is measured against the exact reference at the case's points over repeated
draws (:func:`relative_error`), and the verdict rule (:func:`estimator_decision`) lets it be
recommended only when the family asked for that trade with ``tolerance:`` and the measured error
is below it. Pure numpy: nothing here imports JAX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adbench import fmt
from adbench.store import schema


@dataclass(frozen=True)
class EstimatorError:
    """Relative error over ``draws`` repeated draws: ``mean`` and ``std`` (sample, ddof 1; NaN for
    one draw) of e_r = ||estimate_r - exact||_2 / ||exact||_2 over the case's points."""

    mean: float
    std: float
    draws: int


def relative_error(estimates: np.ndarray, exact: np.ndarray) -> EstimatorError:
    """estimates (R, *shape), exact (*shape) (e.g. (B,) for B points, () for one).

    The norm is taken over all points at once, so a point where the exact value is near 0 does
    not blow the error up as a per-point ratio would. An exact value of all zeros gives error 0
    for an exact estimate and inf otherwise.
    """
    est = np.asarray(estimates, dtype=np.float64)
    ref = np.asarray(exact, dtype=np.float64)
    if est.ndim < 1 or est.shape[1:] != ref.shape:
        raise ValueError(f"estimates {est.shape} must be (R, *{ref.shape})")
    r = est.shape[0]
    if r < 1:
        raise ValueError("relative_error needs at least one draw")
    gaps = np.sqrt(np.sum((est - ref).reshape(r, -1) ** 2, axis=1))
    scale = float(np.sqrt(np.sum(ref**2)))
    errs = np.where(gaps == 0.0, 0.0, math.inf) if scale == 0.0 else gaps / scale
    if r == 1:
        std = math.nan
    elif not np.all(np.isfinite(errs)):
        std = math.inf
    else:
        std = float(np.std(errs, ddof=1))
    return EstimatorError(float(np.mean(errs)), std, r)


@dataclass(frozen=True)
class EstimatorDecision:
    """``eligible``: the estimator may be recommended; ``reason``: one line saying why or why
    not, the trade stated as "<k>x faster at relative error <e>" when eligible."""

    eligible: bool
    reason: str


def estimator_decision(
    name: str, error_mean: float, tolerance: float | None, speedup: float | None
) -> EstimatorDecision:
    """May estimator ``name`` be recommended?

    Only when the family set ``tolerance`` and the measured mean relative error is strictly below
    it; ``speedup`` (the exact best's time over the estimator's, > 1 when faster) is quoted. A
    NaN error (not measured) is never below a tolerance.
    """
    e = f"{error_mean:.2g}" if math.isfinite(error_mean) else "unmeasured"
    if tolerance is None:
        return EstimatorDecision(
            False, f"{name} is an estimator (relative error {e}); set tolerance: to allow it"
        )
    if not (error_mean < tolerance):  # NaN compares False: not measured is not good enough
        return EstimatorDecision(
            False, f"{name}: relative error {e} is not below the tolerance {tolerance:g}"
        )
    if speedup is None or not math.isfinite(speedup):
        return EstimatorDecision(True, f"{name}: at relative error {e}")
    return EstimatorDecision(True, f"{name}: {fmt.factor(speedup)} faster at relative error {e}")


def _num(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def is_estimate(row: Mapping[str, Any]) -> bool:
    """A results row of an estimator (hutchinson, stde): its rel_error columns are filled, or
    its strategy is one (an estimator whose error could not be measured is still one)."""
    return str(row.get("strategy")) in schema.ESTIMATORS or math.isfinite(
        _num(row.get("rel_error_draws"))
    )


def competing(
    by_name: Mapping[str, Mapping[str, Any]], ran: Sequence[str]
) -> tuple[list[str], dict[str, str]]:
    """(the strategies that may be recommended, {estimator set aside: why}) among ``ran``.

    The verdict's rule for estimators (:func:`estimator_decision`), read from the stored rows:
    their ``rel_error_mean`` against the family's ``tolerance`` (stored beside it). The speedup
    is not known yet here (it is the verdict's own comparison), so it is quoted by
    :func:`at_error` once an estimator has won.
    """
    keep: list[str] = []
    aside: dict[str, str] = {}
    for name in ran:
        row = by_name[name]
        if not is_estimate(row):
            keep.append(name)
            continue
        tol = _num(row.get("tolerance"))
        d = estimator_decision(
            name, _num(row.get("rel_error_mean")), tol if math.isfinite(tol) else None, None
        )
        if d.eligible:
            keep.append(name)
        else:
            aside[name] = d.reason
    return keep, aside


def at_error(
    by_name: Mapping[str, Mapping[str, Any]], best: str, ratios: Mapping[str, float]
) -> str:
    """What a recommended estimator's speed was bought with, for the verdict's reason; "" when
    ``best`` is exact.

    ``ratios``: t(s) / t(best) of the other strategies that ran (the verdict's paired ratios).
    " at relative error e", and when the runner-up the verdict names is itself an estimate, the
    trade against the fastest exact strategy as well (" (x k faster than the fastest exact one,
    <name>)"): that is the comparison a user weighing the error needs.
    """
    if not is_estimate(by_name[best]):
        return ""
    e = _num(by_name[best].get("rel_error_mean"))
    text = f" at relative error {e:.2g}" if math.isfinite(e) else ""
    exact = {s: r for s, r in ratios.items() if not is_estimate(by_name[s]) and math.isfinite(r)}
    if not exact or not ratios:
        return text
    nearest = min(ratios, key=lambda s: (ratios[s], s))
    if not is_estimate(by_name[nearest]):
        return text  # the runner-up named beside it is exact already
    name = min(exact, key=lambda s: (exact[s], s))
    return f"{text} ({fmt.factor(exact[name])} faster than the fastest exact one, {name})"
