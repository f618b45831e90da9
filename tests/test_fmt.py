"""adbench.fmt: the one formatter per unit, exact strings."""

from __future__ import annotations

import math

import pytest

from adbench import fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.1, "2.1 s"),
        (0.9996, "1 s"),  # a hair under a unit takes it: not "1e+03 ms"
        (1.23e-3, "1.23 ms"),
        (45.6e-6, "45.6 µs"),
        (8e-7, "800 ns"),
        (0, "0 s"),
        (math.nan, "-"),
        (None, "-"),
        ("text", "-"),
    ],
)
def test_seconds(value, text):
    assert fmt.seconds(value) == text


def test_bytes_read_as_the_memory_guard_always_wrote_them():
    assert [fmt.nbytes(v) for v in (512, 1.5 * 2**20, 160e9, 2**40, math.nan)] == [
        "512 B",
        "1.50 MiB",
        "149 GiB",
        "1 TiB",
        "-",
    ]


def test_sizes_numbers_factors_intervals_calls():
    assert [fmt.size(v) for v in (10000, 68.66, 0.01, math.inf)] == ["10000", "68.7", "0.01", "∞"]
    assert [fmt.num(v) for v in (0.25, 5634.2, 1.5e7, -math.inf)] == [
        "0.25",
        "5630",
        "1.5e+07",
        "-∞",
    ]
    assert fmt.factor(2.514) == "2.51x" and fmt.factor(None) == "-"
    assert fmt.interval(0.25, 0.24, 0.26) == "0.25 [0.24, 0.26]"
    assert fmt.interval(0.25, math.nan, math.nan) == "0.25"
    assert [fmt.calls(v) for v in (0, 1, 294, math.inf, math.nan)] == [
        "from 1st call",
        "1 call",
        "294 calls",
        "never",
        "-",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (950, "950"),
        (999.8, "1 k"),  # a hair under a unit takes it
        (12_345, "12.3 k"),
        (3_780_000, "3.78 M"),
        (48_188_176, "48.2 M"),
        (1.2e9, "1.2 G"),
        (math.inf, "-"),
        (None, "-"),
    ],
)
def test_counts(value, text):
    assert fmt.count(value) == text


def test_whole_writes_counts_stored_as_floats_as_integers():
    from adbench import fmt

    assert fmt.whole(100.0) == "100"
    assert fmt.whole(1000.0) == "1000"
    assert fmt.whole(12345.0) == "12345"  # not num's 3 significant digits, 12300
    assert fmt.whole(2.5) == "2.5"
    assert fmt.whole(float("nan")) == "-" and fmt.whole(None) == "-" and fmt.whole("x") == "-"
    assert fmt.whole(float("inf")) == "∞"
