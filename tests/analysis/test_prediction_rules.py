"""Rules of the cost model (adbench.analysis.predict) that a plausible slip would break: a
strategy XLA reports no byte count for still gets a prediction from its flops, and traffic up to
the cache size is free, exactly that much (issue 19: mutants that survived the suite)."""

from __future__ import annotations

import math

import pytest

from adbench.analysis import predict as pr


def test_a_strategy_missing_one_count_is_still_predicted_from_the_other():
    cpu = pr.machine_for("cpu")
    flops_only = pr.Costs(flops=1e9, bytes_accessed=math.nan)
    bytes_only = pr.Costs(flops=math.nan, bytes_accessed=1e9 + cpu.cache_bytes)
    assert pr.predicted_seconds(flops_only, cpu) == pytest.approx(cpu.overhead_s + 0.1)
    assert pr.predicted_seconds(bytes_only, cpu) == pytest.approx(cpu.overhead_s + 0.1)
    assert math.isnan(pr.predicted_seconds(pr.Costs(math.nan, math.nan), cpu))
    p = pr.predict({"jacfwd": flops_only, "jacrev": pr.Costs(flops=1e10, bytes_accessed=0)}, cpu)
    assert p.predicted == "jacfwd" and set(p.seconds) == {"jacfwd", "jacrev"}


def test_the_cache_term_frees_exactly_one_mebibyte_on_cpu():
    """The documented model: max(0, bytes - cache_bytes) / byte_rate with cache_bytes = 2**20 on
    CPU (the size the module docstring's 0.3-3 MB check was centred on)."""
    cpu = pr.machine_for("cpu")
    assert cpu.cache_bytes == 2**20
    at_cache = pr.Costs(flops=0.0, bytes_accessed=2.0**20)
    assert pr.predicted_seconds(at_cache, cpu) == pytest.approx(cpu.overhead_s)
    beyond = pr.Costs(flops=0.0, bytes_accessed=2.0**20 + 1e10)
    assert pr.predicted_seconds(beyond, cpu) == pytest.approx(cpu.overhead_s + 1.0)
    assert pr.machine_for("gpu").cache_bytes == 0.0
