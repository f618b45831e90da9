"""The timing loop with a fake clock, and one real measurement of a small case."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from adbench.run.cases import Case
from adbench.run.families import get_builtin
from adbench.run.measure import Settings, calibrate, interleave, measure_case, settle_calls
from adbench.store import schema


class FakeClock:
    """A clock that moves only when a fake runner 'runs'."""

    def __init__(self) -> None:
        self.t = 0.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.t

    def runner(self, name: str, cost: float | list[float]):
        costs = iter(cost) if isinstance(cost, list) else None

        def run() -> None:
            self.calls.append(name)
            self.t += next(costs) if costs is not None else cost

        return run


def test_calibrate_reaches_the_minimum_sample_length():
    clock = FakeClock()
    n = calibrate(clock.runner("a", 1e-5), min_sample_s=0.005, max_inner=10**6, clock=clock)
    assert n * 1e-5 >= 0.005
    assert n * 1e-5 < 0.005 * 1.5  # and does not overshoot much


def test_calibrate_slow_call_is_one():
    clock = FakeClock()
    assert calibrate(clock.runner("a", 0.5), min_sample_s=0.005, max_inner=100, clock=clock) == 1


def test_calibrate_respects_max_inner():
    clock = FakeClock()
    assert calibrate(clock.runner("a", 1e-9), min_sample_s=1.0, max_inner=1000, clock=clock) == 1000


def test_interleave_alternates_order_and_keeps_per_call_seconds():
    clock = FakeClock()
    runners = {"jacfwd": clock.runner("f", 0.001), "jacrev": clock.runner("r", 0.004)}
    s = interleave(
        runners, {"jacfwd": 2, "jacrev": 1}, budget_s=1.0, min_rounds=3, max_rounds=4, clock=clock
    )
    assert s["jacfwd"] == pytest.approx([0.001] * 4)
    assert s["jacrev"] == pytest.approx([0.004] * 4)
    # the order flips every round; each sample is preceded by untimed settle calls (half a
    # sample, or from round 1 on one for a cheap single call): [f] ff [r] r
    assert "".join(clock.calls) == "fffr" + "rr" + "fff" + "fff" + "rr" + "rr" + "fff"


def test_settle_calls():
    assert settle_calls(10, 1e-4, 1.0) == 5
    assert settle_calls(1, 0.01, 1.0) == 1  # cheap single call
    assert settle_calls(1, 0.2, 1.0) == 0  # a long call is not repeated for nothing


def test_interleave_stops_on_budget_after_min_rounds():
    clock = FakeClock()
    runners = {"jacfwd": clock.runner("f", 0.1), "jacrev": clock.runner("r", 0.1)}
    s = interleave(
        runners, {"jacfwd": 1, "jacrev": 1}, budget_s=0.5, min_rounds=2, max_rounds=50, clock=clock
    )
    assert len(s["jacfwd"]) == 3  # 0.2 s per round: over 0.5 s after the third


def test_interleave_caps_a_giant_case_at_three_budgets():
    clock = FakeClock()
    runners = {"jacfwd": clock.runner("f", 1.0), "jacrev": clock.runner("r", 1.0)}
    s = interleave(
        runners, {"jacfwd": 1, "jacrev": 1}, budget_s=1.0, min_rounds=10, max_rounds=50, clock=clock
    )
    assert len(s["jacfwd"]) == 2


def _case(name: str, d_in: int, d_out: int, factory=None, **params) -> Case:
    f = factory or get_builtin(name).factory
    return Case(
        family=name, d_in=d_in, d_out=d_out, source=f"builtin:{name}", factory=f, params=params
    )


FAST = Settings(time_budget_s=0.02, min_sample_s=0.0002, min_rounds=3, max_rounds=4)


def test_real_case_rows_carry_every_column():
    r = measure_case(_case("linear", 3, 4), jax.devices("cpu")[0], FAST)
    rows = r.result_rows()
    assert [row["strategy"] for row in rows] == ["jacfwd", "jacrev"]
    for row in rows:
        assert set(schema.RESULT_COLUMNS) <= set(row), set(schema.RESULT_COLUMNS) - set(row)
        assert row["status"] == "ok", row["reason"]
        assert row["n_samples"] >= 3 and row["median_s"] > 0
        assert row["ci_low_s"] <= row["median_s"] <= row["ci_high_s"]
        assert row["compile_s"] > 0 and row["lower_s"] > 0
        assert row["flops"] > 0 and row["temp_bytes"] >= 0 and row["output_bytes"] == 4 * 3 * 4
        assert row["max_abs_diff"] < 1e-5
    samples = r.sample_rows()
    assert {s["strategy"] for s in samples} == {"jacfwd", "jacrev"}
    assert all(set(s) == set(schema.SAMPLE_COLUMNS) for s in samples)


def test_scalar_output_counts_as_d_out_one():
    r = measure_case(_case("mean_squares", 5, 1), jax.devices("cpu")[0], FAST)
    assert [m.status for m in r.modes] == ["ok", "ok"]


def test_xla_memory_analysis_reports_the_jacrev_blowup():
    """jacrev of the power series materialises d_out x d_out temporaries: XLA says so."""
    r = measure_case(
        _case("power", 1, 1000),
        jax.devices("cpu")[0],
        Settings(time_budget_s=0.01, min_rounds=1, max_rounds=1),
    )
    fwd, rev = r.modes
    assert rev.cost["temp_bytes"] >= 4 * 1000 * 1000
    assert fwd.cost["temp_bytes"] < rev.cost["temp_bytes"] / 100


def test_a_consistently_wrong_custom_rule_passes_the_cross_check():
    """Known limit: jacfwd vs jacrev catches rules that disagree, not a wrong custom_jvp that
    both modes share (reverse mode transposes the same JVP)."""

    def bad(d_in, d_out):
        import jax.numpy as jnp

        @jax.custom_jvp
        def f(x):
            return jnp.sin(x)

        @f.defjvp
        def f_jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            return jnp.sin(x), 2.0 * jnp.cos(x) * t  # wrong by a factor 2, but consistently

        return f

    r = measure_case(_case("bad", 3, 3, factory=bad), jax.devices("cpu")[0], FAST)
    assert [m.status for m in r.modes] == ["ok", "ok"]


def test_mismatch_is_recorded_and_not_timed(monkeypatch):
    import adbench.run.measure as m

    real = m.np.asarray
    calls = {"n": 0}

    def skew(a, *args, **kwargs):  # make the second Jacobian read back differently
        out = real(a, *args, **kwargs)
        if kwargs.get("dtype") is np.float64 and out.ndim >= 1:
            calls["n"] += 1
            if calls["n"] == 2:
                return out + 1.0
        return out

    monkeypatch.setattr(m.np, "asarray", skew)
    r = measure_case(_case("linear", 3, 4), jax.devices("cpu")[0], FAST)
    assert [x.status for x in r.modes] == ["mismatch", "mismatch"]
    assert "disagree" in r.modes[0].reason
    assert r.modes[0].samples == () and math.isnan(r.result_rows()[0]["median_s"])


def test_float64_case(monkeypatch):
    with jax.enable_x64(True):
        r = measure_case(
            _case("linear", 3, 2),
            jax.devices("cpu")[0],
            Settings(
                dtype="float64", time_budget_s=0.01, min_rounds=2, max_rounds=2, min_sample_s=1e-4
            ),
        )
    assert [m.status for m in r.modes] == ["ok", "ok"]
    assert r.modes[0].cost["output_bytes"] == 8 * 3 * 2


def test_eager_timing_when_jit_is_off():
    """jit: false times the Jacobian op by op (as the classic notebook did); XLA's compile time
    and costs are still recorded from the AOT compile."""
    settings = Settings(
        jit=False, time_budget_s=0.02, min_sample_s=0.0005, min_rounds=2, max_rounds=3
    )
    eager = measure_case(_case("power", 1, 50), jax.devices("cpu")[0], settings)
    jitted = measure_case(_case("power", 1, 50), jax.devices("cpu")[0], FAST)
    assert [m.status for m in eager.modes] == ["ok", "ok"]
    assert all(m.compile_s > 0 and m.cost["flops"] > 0 for m in eager.modes)
    # op-by-op dispatch of a Jacobian costs far more than one compiled call
    assert np.median(eager.modes[1].samples) > np.median(jitted.modes[1].samples)
