"""Real measurements of small cases: every strategy's rows, the reference check, chunked twins,
batches, sparse info, memory. (The timing loop with a fake clock: tests/measure/test_timing.py.)"""

from __future__ import annotations

import math
from dataclasses import replace
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np

from adbench.config.cases import Case
from adbench.config.families import get_builtin
from adbench.measure.case import Settings, measure_case, stop_meta
from adbench.measure.timing import round_order
from adbench.store import schema
from adbench.strategies import registry as S

CPU = jax.devices("cpu")[0]
FAST = Settings(time_budget_s=0.02, min_sample_s=0.0002, min_rounds=3, max_rounds=4)


def _case(name, d_in, d_out, factory=None, *, strategies=schema.MODES, **kw) -> Case:
    f = factory or get_builtin(name).factory
    params = kw.pop("params", {})
    return Case(
        family=name,
        d_in=d_in,
        d_out=d_out,
        source=f"builtin:{name}",
        factory=f,
        params=params,
        strategies=tuple(strategies),
        **kw,
    )


def _by_name(r) -> dict:
    return {m.strategy: m for m in r.strategies}


def test_real_case_rows_carry_every_column():
    r = measure_case(_case("linear", 3, 4), CPU, FAST)
    rows = r.result_rows()
    assert [row["strategy"] for row in rows] == ["jacfwd", "jacrev"]
    for row in rows:
        assert set(schema.RESULT_COLUMNS) <= set(row), set(schema.RESULT_COLUMNS) - set(row)
        assert row["status"] == "ok", row["reason"]
        assert (row["task"], row["batch"], row["case_id"]) == ("jacobian", 1, "linear/3x4")
        assert row["n_samples"] >= 3 and row["median_s"] > 0
        assert row["ci_low_s"] <= row["median_s"] <= row["ci_high_s"]
        assert row["compile_s"] > 0 and row["lower_s"] > 0 and row["setup_s"] == 0
        assert row["flops"] > 0 and row["temp_bytes"] >= 0 and row["output_bytes"] == 4 * 3 * 4
        assert row["max_abs_diff"] < 1e-5 and row["max_abs"] > 0
    samples = r.sample_rows()
    assert {s["strategy"] for s in samples} == {"jacfwd", "jacrev"}
    assert all(set(s) == set(schema.SAMPLE_COLUMNS) for s in samples)


def test_sample_positions_follow_the_rotation():
    names = ("hessian_trace", "fwd_fwd", "taylor", "hvp")
    r = measure_case(_case("mlp_u", 3, 1, task="laplacian", strategies=names), CPU, FAST)
    assert [m.status for m in r.strategies] == ["ok"] * 4
    for s in r.sample_rows():
        assert s["position"] == round_order(list(names), s["round"]).index(s["strategy"])
    firsts = {s["strategy"] for s in r.sample_rows() if s["position"] == 0}
    assert len(firsts) >= 3  # rounds start at different strategies (>= 3 rounds were taken)


def test_every_jacobian_strategy_on_a_sparse_case_fills_its_columns():
    flat = tuple(n for n in S.names("jacobian") if not S.get("jacobian", n).structured)
    r = measure_case(_case("broyden", 12, 12, strategies=flat, chunk_size=5), CPU, FAST)
    rows = {row["strategy"]: row for row in r.result_rows()}
    assert {k: v["status"] for k, v in rows.items()} == dict.fromkeys(flat, "ok")
    sparse = rows["sparse"]
    assert sparse["colors"] == 3 and sparse["nnz"] == 3 * 12 - 2
    assert sparse["sparse_mode"] in ("fwd", "rev") and sparse["setup_s"] > 0
    assert sparse["max_abs_diff"] < 1e-5
    assert rows["jacfwd_chunked"]["chunk_size"] == 5 == rows["jacrev_chunked"]["chunk_size"]
    for name in ("jacfwd", "jacrev", "linearize"):
        assert all(math.isnan(rows[name][c]) for c in ("chunk_size", "colors", "nnz"))
        assert rows[name]["setup_s"] == 0.0
        assert rows[name]["sparse_mode"] != rows[name]["sparse_mode"]  # NaN: empty in the CSV


def test_a_chunk_holding_the_whole_basis_skips_the_twin():
    """chunk 6 holds all 6 inputs (jacfwd_chunked == jacfwd) but not the 9 outputs."""
    names = ("jacfwd", "jacrev", "jacfwd_chunked", "jacrev_chunked")
    r = _by_name(measure_case(_case("linear", 6, 9, strategies=names, chunk_size=6), CPU, FAST))
    skipped = r["jacfwd_chunked"]
    assert skipped.status == schema.STATUS_SKIPPED and skipped.samples == ()
    assert "holds the whole basis" in skipped.reason and "jacfwd" in skipped.reason
    assert skipped.info == {"chunk_size": 6}
    assert r["jacrev_chunked"].status == "ok" and r["jacrev_chunked"].samples


def test_the_default_chunk_is_the_largest_that_fits_the_budget():
    """No chunk_size, no budget: the whole basis fits, the twin is skipped. jacrev of power
    1 -> 1000 holds 1000 cotangent rows of 1000 floats (4 MB of XLA temp); under a 1 MB budget
    jacrev is refused and jacrev_chunked runs with the largest power-of-two chunk that fits
    (XLA: ~4 kB of temp per row, so 128 rows, 0.52 MB; 256 would be 1.02 MB)."""
    names = ("jacrev", "jacrev_chunked")
    free = _by_name(measure_case(_case("power", 1, 1000, strategies=names), CPU, FAST))
    assert free["jacrev_chunked"].status == "skipped"
    assert free["jacrev_chunked"].info == {"chunk_size": 1000}
    tight = Settings(**{**FAST.__dict__, "max_memory_bytes": 10**6})
    r = _by_name(measure_case(_case("power", 1, 1000, strategies=names), CPU, tight))
    chunked = r["jacrev_chunked"]
    assert r["jacrev"].status == "memory"
    assert chunked.status == "ok", chunked.reason
    assert chunked.info["chunk_size"] in (64, 128, 256)
    assert chunked.cost["temp_bytes"] < 10**6 < r["jacrev"].cost["temp_bytes"]
    assert "checked against jacrev_chunked: the reference jacfwd is not measured" in chunked.reason


def _doubling(f, x0, chunk):
    """A wrong Jacobian 'strategy': twice jax.jacrev."""
    return S.Derived(lambda x: 2 * jax.jacrev(f)(x))


def test_a_wrong_strategy_is_a_mismatch_and_the_others_are_timed(monkeypatch):
    wrong = S.Strategy("jacrev", "jacobian", True, False, "wrong on purpose", derive=_doubling)
    registry = {t: dict(v) for t, v in S.STRATEGIES.items()}
    registry["jacobian"]["jacrev"] = wrong
    monkeypatch.setattr(S, "STRATEGIES", MappingProxyType(registry))
    names = ("jacfwd", "jacrev", "linearize")
    r = measure_case(
        _case("linear", 3, 4, strategies=names, params={"activation": "tanh"}), CPU, FAST
    )
    by = _by_name(r)
    assert by["jacrev"].status == "mismatch" and by["jacrev"].samples == ()
    assert "jacfwd and jacrev disagree" in by["jacrev"].reason
    assert by["jacrev"].max_abs_diff > 0.01
    assert math.isnan(r.result_rows()[1]["median_s"])
    for name in ("jacfwd", "linearize"):  # the reference has an ally: it is trusted and timed
        assert by[name].status == "ok" and len(by[name].samples) >= 3


def test_two_that_disagree_are_both_mismatches():
    """With only two strategies the evidence cannot say which one is wrong: jacfwd (the
    reference) sees a faulty custom_jvp's '+ 1' that jacrev transposes away."""

    def factory(d_in, d_out):
        @jax.custom_jvp
        def f(x):
            return jnp.sin(x)

        @f.defjvp
        def f_jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            return jnp.sin(x), jnp.cos(x) * t + 1.0

        return f

    r = measure_case(_case("affine_rule", 3, 3, factory=factory), CPU, FAST)
    fwd, rev = r.strategies
    assert fwd.status == rev.status == "mismatch"
    assert fwd.reason == rev.reason and "jacfwd and jacrev disagree" in fwd.reason
    assert fwd.samples == rev.samples == ()


def test_a_consistently_wrong_custom_rule_passes_the_cross_check():
    """Known limit: the check catches rules that disagree, not a wrong custom_jvp that both
    modes share (reverse mode transposes the same JVP)."""

    def bad(d_in, d_out):
        @jax.custom_jvp
        def f(x):
            return jnp.sin(x)

        @f.defjvp
        def f_jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            return jnp.sin(x), 2.0 * jnp.cos(x) * t  # wrong by a factor 2, but consistently

        return f

    r = measure_case(_case("bad", 3, 3, factory=bad), CPU, FAST)
    assert [m.status for m in r.strategies] == ["ok", "ok"]


def test_when_the_reference_fails_the_others_are_checked_against_the_first_that_ran():
    """custom_vjp cannot go forward: jacfwd and linearize fail, jacrev is the judge."""

    def reverse_only(d_in, d_out):
        @jax.custom_vjp
        def f(x):
            return jnp.sin(x)

        f.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (jnp.cos(x) * g,))
        return f

    names = ("jacfwd", "linearize", "jacrev", "jacrev_chunked")
    case = _case("rev", 4, 4, factory=reverse_only, strategies=names, chunk_size=2)
    r = _by_name(measure_case(case, CPU, FAST))
    assert r["jacfwd"].status == r["linearize"].status == "error"
    assert r["jacrev"].status == "ok" and r["jacrev_chunked"].status == "ok"
    note = "checked against jacrev: the reference jacfwd did not run (error)"
    assert r["jacrev_chunked"].reason == note == r["jacrev"].reason
    assert r["jacrev_chunked"].max_abs_diff < 1e-6 and r["jacrev_chunked"].samples


def test_nonfinite_results_are_not_timed():
    def sqrt_abs(d_in, d_out):
        return (lambda x: jnp.sqrt(jnp.abs(x))), np.zeros(d_in)

    r = measure_case(_case("sqrt", 3, 3, factory=sqrt_abs), CPU, FAST)
    assert [m.status for m in r.strategies] == ["nonfinite", "nonfinite"]
    assert "NaN/Inf entries" in r.strategies[0].reason and r.strategies[0].samples == ()


def test_a_batch_measures_every_point_at_once():
    case = _case("mlp_u", 3, 1, task="laplacian", strategies=("hessian_trace", "taylor"), batch=5)
    assert case.case_id == "mlp_u/3x1/b5"
    r = measure_case(case, CPU, FAST)
    rows = r.result_rows()
    assert [(row["batch"], row["task"], row["status"]) for row in rows] == [
        (5, "laplacian", "ok")
    ] * 2
    assert all(row["case_id"] == "mlp_u/3x1/b5" for row in rows + r.sample_rows())
    assert rows[0]["output_bytes"] == 4 * 5  # one Laplacian per point, float32
    assert rows[0]["argument_bytes"] >= 4 * 5 * 3  # the (5, 3) points


def test_a_batch_of_a_hessian_checks_every_point(monkeypatch):
    """A wrong 'strategy' that is right at the first point of the batch (x[0] = 0.126 for seed
    0) but off where x[0] > 1 (the fourth point, x[0] = 1.30): unbatched it passes, batched the
    whole (B, n, n) result is compared and it is a mismatch."""

    def off_far_out(f, x0, chunk):
        return S.Derived(lambda x: jax.hessian(f)(x) + (x[0] > 1.0))

    wrong = S.Strategy("rev_over_rev", "hessian", True, False, "wrong", derive=off_far_out)
    registry = {t: dict(v) for t, v in S.STRATEGIES.items()}
    registry["hessian"]["rev_over_rev"] = wrong
    monkeypatch.setattr(S, "STRATEGIES", MappingProxyType(registry))

    def cube(d_in, d_out):
        return lambda x: jnp.sum(x**3)

    names = ("fwd_over_rev", "fwd_over_fwd", "rev_over_rev")
    point = _case("cube", 2, 1, factory=cube, task="hessian", strategies=names)
    assert [m.status for m in measure_case(point, CPU, FAST).strategies] == ["ok"] * 3
    batch = _case("cube", 2, 1, factory=cube, task="hessian", strategies=names, batch=4)
    r = _by_name(measure_case(batch, CPU, FAST))
    assert r["rev_over_rev"].status == "mismatch"
    assert r["fwd_over_rev"].status == r["fwd_over_fwd"].status == "ok"


def test_scalar_output_counts_as_d_out_one():
    r = measure_case(_case("mean_squares", 5, 1), CPU, FAST)
    assert [m.status for m in r.strategies] == ["ok", "ok"]


def test_xla_memory_analysis_reports_the_jacrev_blowup():
    """jacrev of the power series materialises d_out x d_out temporaries: XLA says so."""
    r = measure_case(
        _case("power", 1, 1000), CPU, Settings(time_budget_s=0.01, min_rounds=1, max_rounds=1)
    )
    fwd, rev = r.strategies
    assert rev.cost["temp_bytes"] >= 4 * 1000 * 1000
    assert fwd.cost["temp_bytes"] < rev.cost["temp_bytes"] / 100


HUGE = Settings(**{**FAST.__dict__, "max_memory_bytes": 512 * 2**20})


def test_a_huge_sparse_case_keeps_its_sparse_strategy():
    """The dense 30000 x 30000 Jacobian (3.6 GB with its host copies) is refused before the
    factory runs, for the dense strategies only: the sparse result (~90000 non-zeros) fits and
    is measured, checked by a random product D v against a JVP instead of entry by entry."""
    names = ("jacfwd", "sparse")
    r = _by_name(measure_case(_case("broyden", 30000, 30000, strategies=names), CPU, HUGE))
    assert r["jacfwd"].status == "memory"
    assert "the 30000 x 30000 Jacobian alone needs" in r["jacfwd"].reason
    assert r["sparse"].status == "ok", r["sparse"].reason
    assert r["sparse"].samples and r["sparse"].info["nnz"] == 3 * 30000 - 2
    assert r["sparse"].reason.startswith("checked by one random product D v")
    assert r["sparse"].max_abs_diff < 1e-3 * r["sparse"].max_abs


def test_a_wrong_sparse_result_too_big_to_densify_is_still_caught(monkeypatch):
    """A sparse 'strategy' that doubles one stored value: the product check sees it."""
    from jax.experimental import sparse

    real = S.get("jacobian", "sparse").derive

    def one_off(f, x0, chunk):
        derived = real(f, x0, chunk)

        def jac(x):
            out = derived.fn(x)
            return sparse.BCOO((out.data.at[7].mul(2.0), out.indices), shape=out.shape)

        return S.Derived(jac, derived.setup_s, derived.info, derived.pattern)

    wrong = S.Strategy("sparse", "jacobian", False, False, "wrong", derive=one_off)
    registry = {t: dict(v) for t, v in S.STRATEGIES.items()}
    registry["jacobian"]["sparse"] = wrong
    monkeypatch.setattr(S, "STRATEGIES", MappingProxyType(registry))
    r = measure_case(_case("broyden", 30000, 30000, strategies=("sparse",)), CPU, HUGE)
    (bad,) = r.strategies
    assert bad.status == "mismatch" and bad.samples == ()
    assert bad.reason.startswith("sparse disagrees with autodiff: max |D v diff|")


def test_float64_case():
    with jax.enable_x64(True):
        r = measure_case(
            _case("linear", 3, 2),
            CPU,
            Settings(
                dtype="float64", time_budget_s=0.01, min_rounds=2, max_rounds=2, min_sample_s=1e-4
            ),
        )
    assert [m.status for m in r.strategies] == ["ok", "ok"]
    assert r.strategies[0].cost["output_bytes"] == 8 * 3 * 2


def test_eager_timing_when_jit_is_off():
    """jit: false times the derivative op by op (as the classic notebook did); XLA's compile
    time and costs are still recorded from the AOT compile."""
    settings = Settings(
        jit=False, time_budget_s=0.02, min_sample_s=0.0005, min_rounds=2, max_rounds=3
    )
    eager = measure_case(_case("power", 1, 50), CPU, settings)
    jitted = measure_case(_case("power", 1, 50), CPU, FAST)
    assert [m.status for m in eager.strategies] == ["ok", "ok"]
    assert all(m.compile_s > 0 and m.cost["flops"] > 0 for m in eager.strategies)
    # op-by-op dispatch of a Jacobian costs far more than one compiled call
    assert np.median(eager.strategies[1].samples) > np.median(jitted.strategies[1].samples)


def _printing(d_in, d_out):
    def f(x):
        jax.debug.callback(lambda v: None, x[0])  # a host round trip per call
        return jnp.tanh(x) * 2.0

    return f


def test_a_function_calling_back_into_python_is_timed_with_a_warning():
    r = measure_case(_case("printing", 3, 3, _printing), CPU, FAST)
    assert [s.status for s in r.strategies] == ["ok", "ok"]
    assert all("calls back into Python (debug_callback)" in s.reason for s in r.strategies)
    plain = measure_case(_case("tanh", 3, 3, lambda d_in, d_out: jnp.tanh), CPU, FAST)
    assert all(s.reason == "" for s in plain.strategies)


class Ticks:
    """A clock that moves 1 ms each time it is read: both strategies then take the same time
    per sample whatever JAX does (a tie inside the margin), so round counts are exact."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1e-3
        return self.t


def test_stop_early_settles_a_tie_at_the_first_look_and_false_spends_the_budget():
    """The budget counts each strategy's own time (racing: an eliminated one's time is sunk),
    read around its settle calls and sample: 4 reads per strategy, of which 3 ms lie between its
    first and last read. Two strategies: 6 ms of own time a round, so a 0.2 s budget is spent
    after ceil(200 / 6) = 34 rounds; with stop_early the tie is settled at the first look (10).
    (Counting the whole loop's 9 ms a round against the budget would give 23; the old 5 ms
    count, 40.)"""
    base = Settings(time_budget_s=0.2, min_sample_s=0.0005, min_rounds=5, max_rounds=50)
    rows = {}
    for stop in (True, False):
        r = measure_case(_case("linear", 3, 3), CPU, replace(base, stop_early=stop), clock=Ticks())
        rows[stop] = {m.strategy: len(m.samples) for m in r.strategies}
    assert rows[True] == {"jacfwd": 10, "jacrev": 10}
    assert rows[False] == {"jacfwd": 34, "jacrev": 34}


def test_stop_meta_names_the_looks_and_their_confidence():
    on = stop_meta(Settings())  # min_rounds 5, max_rounds 50
    assert on["stop_early"] is True and on["stop_looks"] == [10, 20, 40]
    assert 0.999 < on["stop_confidence"] < 1
    assert stop_meta(Settings(stop_early=False)) == {"stop_early": False}


def test_a_case_without_max_case_s_is_capped_by_the_default_cap(monkeypatch):
    """measure_case hands the race timing.default_cap of its budget, strategy count and sample
    length (not the bare three budgets, which left tiny-budget cases undecided), and a run
    file's max_case_s as given."""
    from adbench.measure import timing

    seen = []
    real = timing.race

    def spy(*args, **kw):
        seen.append(kw["max_case_s"])
        return real(*args, **kw)

    monkeypatch.setattr(timing, "race", spy)
    base = Settings(time_budget_s=0.001, min_sample_s=0.0005, min_rounds=5, max_rounds=8)
    measure_case(_case("linear", 3, 3), CPU, base, clock=Ticks())
    measure_case(_case("linear", 3, 3), CPU, replace(base, max_case_s=0.5), clock=Ticks())
    assert seen == [timing.default_cap(0.001, 2, 0.0005), 0.5]
    assert seen[0] > 3 * 0.001


def test_a_first_call_long_enough_to_be_a_sample_is_the_only_call_before_timing(monkeypatch):
    """A strategy whose first call reads over timing._LONG_CALL x min_sample_s (every clock
    read here moves 1 s) gets no warm-up call and no calibration call: its first call warmed it
    and stands for calibrate's, so timing starts after one call of each strategy (the default
    run's 0.15-0.2 s modes were called three times before their first sample). A short first
    call keeps the warm-up and the calibration calls."""
    import jax

    from adbench.measure import timing

    calls = {"n": 0}
    real_block = jax.block_until_ready

    def counting(x):
        calls["n"] += 1
        return real_block(x)

    before: list[int] = []
    real_race = timing.race

    def spy(*args, **kw):
        before.append(calls["n"])
        return real_race(*args, **kw)

    class Seconds(Ticks):
        def __call__(self) -> float:
            self.t += 1.0
            return self.t

    monkeypatch.setattr(jax, "block_until_ready", counting)
    monkeypatch.setattr(timing, "race", spy)
    base = Settings(time_budget_s=0.2, min_sample_s=0.005, min_rounds=2, max_rounds=6)
    measure_case(_case("linear", 3, 3), CPU, base, clock=Seconds())
    assert before == [2]  # one call of each of the two strategies
    calls["n"] = 0
    # 1 ms a read, under 10 x 0.5 ms: first, warm-up, calibration's first call, the call
    # after it and its one-call sample (1 ms, already over 0.5 ms), for each strategy
    measure_case(_case("linear", 3, 3), CPU, replace(base, min_sample_s=0.0005), clock=Ticks())
    assert before[1] == 2 * 5
