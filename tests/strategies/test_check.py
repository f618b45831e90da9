"""The correctness check (adbench.strategies.check), pure numpy: who judges, what counts as a
disagreement, what a sparse result must match off its pattern."""

from __future__ import annotations

import math

import numpy as np

from adbench.strategies.check import check_product, cross_check, sparse_times

REF = np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, -1.0], [0.0, -1.0, 2.0]])  # tridiagonal
TOL = {"rtol": 1e-6, "atol": 1e-6}


def test_agreeing_strategies_pass_with_their_differences_recorded():
    near = REF + 1e-9
    order = ["jacfwd", "jacrev", "sparse"]
    v = cross_check({"jacfwd": REF, "jacrev": near, "sparse": REF}, order, "jacfwd", **TOL)
    assert {k: x.status for k, x in v.items()} == dict.fromkeys(v, None)
    assert v["jacfwd"].max_abs_diff == 0 and math.isclose(
        v["jacrev"].max_abs_diff, 1e-9, rel_tol=1e-6
    )
    assert all(x.max_abs == 2.0 and x.reason == "" for x in v.values())


def test_a_sparse_result_must_be_zero_off_its_pattern():
    """A densified sparse result that misses a non-zero of the reference (its pattern dropped
    entry (0, 2) where the reference has 0.5) disagrees, though it matches on its pattern."""
    ref = REF.copy()
    ref[0, 2] = 0.5
    order = ["jacfwd", "jacrev", "sparse"]
    v = cross_check({"jacfwd": ref, "jacrev": ref, "sparse": REF}, order, "jacfwd", **TOL)
    assert v["sparse"].status == "mismatch" and v["sparse"].max_abs_diff == 0.5
    assert v["jacfwd"].status is None and v["jacrev"].status is None  # jacrev vouches for it


def test_the_tolerance_scales_with_the_largest_entry():
    """atol is a fraction of max |D|: an error of 1e-7 on an entry of 0 passes next to 1e3."""
    big = REF * 1e3
    off = big.copy()
    off[0, 2] = 1e-4  # 1e-4 <= 1e-6 * 2e3 = 2e-3
    v = cross_check({"a": big, "b": off}, ["a", "b"], "a", **TOL)
    assert v["b"].status is None
    off[0, 2] = 1e-2
    assert cross_check({"a": big, "b": off}, ["a", "b"], "a", **TOL)["b"].status == "mismatch"


def test_two_that_disagree_are_both_mismatches_with_one_reason():
    v = cross_check({"jacfwd": REF, "jacrev": REF + 1}, ["jacfwd", "jacrev"], "jacfwd", **TOL)
    assert v["jacfwd"].status == v["jacrev"].status == "mismatch"
    assert v["jacfwd"].reason == v["jacrev"].reason
    assert v["jacrev"].reason.startswith("jacfwd and jacrev disagree: max |diff| 1 at max |D| 2")


def test_a_reference_nobody_agrees_with_is_not_trusted():
    values = {"r": REF, "a": REF + 1, "b": REF + 1}
    v = cross_check(values, ["r", "a", "b"], "r", **TOL)
    assert v["r"].status == "mismatch" and "r agrees with no other strategy (a, b" in v["r"].reason
    assert v["a"].status == v["b"].status == "mismatch"


def test_nonfinite_and_the_fallback_judge():
    bad = REF.copy()
    bad[1, 1] = np.nan
    order = ["jacfwd", "jacrev", "linearize"]
    v = cross_check({"jacfwd": bad, "jacrev": REF, "linearize": REF}, order, "jacfwd", **TOL)
    assert v["jacfwd"].status == "nonfinite" and "1 NaN/Inf entries" in v["jacfwd"].reason
    note = "checked against jacrev: the reference jacfwd has NaN/Inf"
    assert v["jacrev"] == v["linearize"] and v["linearize"].reason == note
    absent = {"jacfwd": "did not run (error)"}
    gone = cross_check({"jacrev": REF}, order, "jacfwd", absent=absent, **TOL)
    assert (
        gone["jacrev"].reason == "checked against jacrev: the reference jacfwd did not run (error)"
    )


def test_a_strategy_alone_is_not_cross_checked():
    v = cross_check({"taylor": np.array(3.0)}, ["taylor"], "hessian_trace", **TOL)
    assert v["taylor"].status is None and "is not measured" in v["taylor"].reason
    v = cross_check({"hessian_trace": np.array(3.0)}, ["hessian_trace"], "hessian_trace", **TOL)
    assert v["hessian_trace"].reason == "not cross-checked: no other strategy ran"


def test_sparse_times_is_the_dense_product_per_point():
    rows, cols = np.nonzero(REF)
    indices = np.stack([rows, cols], axis=1)  # (nnz, 2)
    v = np.array([0.5, -2.0, 3.0])
    np.testing.assert_allclose(sparse_times(REF[rows, cols], indices, (3, 3), v), [REF @ v])
    batch = np.stack([REF[rows, cols], 2 * REF[rows, cols]])  # (2, nnz), one shared pattern
    got = sparse_times(batch, indices[None], (3, 3), v)
    np.testing.assert_allclose(got, [REF @ v, 2 * REF @ v])
    padded = np.concatenate([indices, [[3, 3]]])  # BCOO padding sits outside the shape
    got = sparse_times(np.append(REF[rows, cols], 9.0), padded, (3, 3), v)
    np.testing.assert_allclose(got, [REF @ v])


def test_check_product_flags_a_wrong_product():
    ref = np.array([[1.0, -2.0, 4.0]])
    assert check_product("sparse", ref + 1e-9, ref, **TOL).status is None
    bad = check_product("sparse", ref * [[1, 1, 1.01]], ref, **TOL)
    assert bad.status == "mismatch" and math.isclose(bad.max_abs_diff, 0.04)
    assert bad.reason.startswith("sparse disagrees with autodiff")
