"""Is each strategy's derivative right? Checked against the task's reference before any timing.

Pure numpy, no JAX: every value arrives dense, float64, batch axis first (a sparse result is
densified by ``Prepared.to_dense``, so its pattern is compared and every entry off the pattern
must be zero in the reference too). Shapes: jacobian (B?, d_out, d_in), hessian (B?, n, n),
laplacian (B?,) or ().

The judge is the task's reference strategy (``schema.REFERENCE``) when it produced a finite
value; otherwise the first strategy in the case's order that did, and every row says so. A
strategy that disagrees with the judge beyond tolerance is a ``mismatch``; the judge itself is
one too when no other strategy agrees with it, because two results that disagree do not say
which is wrong (a faulty custom_jvp makes jacfwd wrong and jacrev right, for instance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from adbench.store import schema


@dataclass(frozen=True)
class Verdict:
    """One strategy's check. ``status`` is None when it passed (the row stays ``ok``), else
    ``schema.STATUS_NONFINITE`` or ``schema.STATUS_MISMATCH``. ``reason`` is one line (also on
    a pass: which strategy it was checked against, when not the reference). ``max_abs_diff``:
    max |D - D_judge|; ``max_abs``: max |D_judge|."""

    status: str | None
    reason: str = ""
    max_abs_diff: float = math.nan
    max_abs: float = math.nan


def cross_check(
    values: Mapping[str, np.ndarray],
    order: Sequence[str],
    reference: str,
    *,
    rtol: float,
    atol: float,
    absent: Mapping[str, str] | None = None,
) -> dict[str, Verdict]:
    """A Verdict for every strategy in ``values`` (name -> dense float64 result).

    ``order``: the case's strategies, in the order the fallback judge is chosen from.
    ``rtol``, ``atol``: |a - b| <= atol * max|D_judge| + rtol * max(|a|, |b|) entry by entry.
    ``absent``: why strategies without a value have none (e.g. {"jacfwd": "error"}), quoted when
    the reference is among them.
    """
    out: dict[str, Verdict] = {}
    finite: dict[str, np.ndarray] = {}
    for name, value in values.items():
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        if bad:
            out[name] = Verdict(schema.STATUS_NONFINITE, f"{name} result has {bad} NaN/Inf entries")
        else:
            finite[name] = value
    if not finite:
        return out
    if reference in finite:
        judge, note = reference, ""
    else:
        judge = next(n for n in order if n in finite)
        if reference in values:
            why = "has NaN/Inf"
        elif absent and reference in absent:
            why = absent[reference]
        else:
            why = "is not measured"
        note = f"checked against {judge}: the reference {reference} {why}"
    ref = finite[judge]
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    others = [n for n in order if n in finite and n != judge]
    if not others:
        out[judge] = Verdict(None, note or "not cross-checked: no other strategy ran", 0.0, scale)
        return out
    disagree: dict[str, str] = {}
    for name in others:
        value = finite[name]
        if value.shape != ref.shape:
            diff = math.inf
            reason = f"{name} result has shape {value.shape}, {judge}'s {ref.shape}"
        else:
            gap = np.abs(value - ref)
            diff = float(np.max(gap)) if gap.size else 0.0
            ok = gap <= atol * scale + rtol * np.maximum(np.abs(value), np.abs(ref))
            reason = (
                ""
                if bool(np.all(ok))
                else (
                    f"{judge} and {name} disagree: max |diff| {diff:.3g} at max |D| {scale:.3g} "
                    f"(rtol {rtol:g}, atol {atol:g} x max|D|)"
                )
            )
        if reason:
            disagree[name] = reason
            out[name] = Verdict(schema.STATUS_MISMATCH, reason, diff, scale)
        else:
            out[name] = Verdict(None, note, diff, scale)
    if len(disagree) == len(others):  # nobody vouches for the judge
        if len(disagree) == 1:  # the pair's own line, so a terminal can say it once
            reason = next(iter(disagree.values()))
        else:
            reason = f"{judge} agrees with no other strategy ({', '.join(disagree)} disagree)"
        out[judge] = Verdict(schema.STATUS_MISMATCH, reason, 0.0, scale)
    else:
        out[judge] = Verdict(None, note, 0.0, scale)
    return out


def sparse_times(
    data: np.ndarray, indices: np.ndarray, shape: tuple[int, int], v: np.ndarray
) -> np.ndarray:
    """D v for a sparse D given as BCOO parts, without densifying D: (B, m), B = 1 unbatched.

    data: (nnz,) or (B, nnz); indices: (nnz, 2) or (1 | B, nnz, 2), (row, column) pairs shared
    by the batch (adbench.strategies.registry keeps one copy); shape: (m, n) of one point; v: (n,).
    Entries outside the shape (BCOO padding) are ignored.
    """
    m, n = shape
    nnz = data.shape[-1]
    values = np.asarray(data, dtype=np.float64).reshape(-1, nnz)
    rows, cols = np.asarray(indices).reshape(-1, nnz, 2)[0].T
    keep = (rows < m) & (cols < n)
    products = values[:, keep] * v[cols[keep]]
    return np.stack([np.bincount(rows[keep], weights=p, minlength=m) for p in products])


def check_product(
    name: str, got: np.ndarray, ref: np.ndarray, *, rtol: float, atol: float
) -> Verdict:
    """A Verdict for a sparse result too big to densify, from one product D v (got) against the
    same product by plain autodiff (ref: a JVP, or an HVP for a Hessian), both (B, m).

    A wrong value on the pattern, or a non-zero the pattern misses, changes D v for almost
    every random v; one product is a probe, not the entry-by-entry check of cross_check.
    """
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    gap = np.abs(got - ref)
    diff = float(np.max(gap)) if gap.size else 0.0
    ok = bool(np.all(gap <= atol * scale + rtol * np.maximum(np.abs(got), np.abs(ref))))
    how = "one random product D v against autodiff's (the dense result would not fit memory)"
    if not ok:
        why = f"{name} disagrees with autodiff: max |D v diff| {diff:.3g} at max |D v| {scale:.3g}"
        return Verdict(schema.STATUS_MISMATCH, f"{why}; checked by {how}", diff, scale)
    return Verdict(None, f"checked by {how}", diff, scale)
