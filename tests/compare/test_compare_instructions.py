"""The instructions tier of adbench compare (adbench.compare.instructions), on directories built
through the real writer: a count that grows beyond the threshold fails, one within the noise
does not, another environment is "not comparable" (and fails under --strict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import C, S, write_run
from typer.testing import CliRunner

from adbench.cli import app
from adbench.compare import render as compare_render
from adbench.compare.gate import compare
from adbench.compare.model import (
    DEFAULT_THRESHOLDS,
    Kind,
    Scope,
    Settings,
    Threshold,
    Tier,
    parse_thresholds,
)
from adbench.render.export import github_action_benchmark
from adbench.store import schema
from adbench.store.results import load_results

FP = {
    "valgrind": "valgrind-3.19.0",
    "cpu_under_valgrind": "Intel(R) Core(TM) i7-4910MQ CPU @ 2.90GHz [sse4_2 fma avx f16c avx2]",
    "python": "3.11.7",
    "jax": "0.10.2",
    "jaxlib": "0.10.2",
    "glibc": "glibc-2.36",
    "xla_flags": "",
    "host_cpu_model": "AMD EPYC",
    "host_cpu_flags": "avx2 avx512f",
}
COUNTED = {"measure": "instructions", "instructions_fingerprint": FP}
BASE = {"loop/64x256": (4.14e6, 15.1e6), "linear/300x300": (7.95e6, 7.73e6)}


def run(
    path: Path,
    counts: dict[str, tuple[float | None, float | None]] = BASE,
    *,
    meta: dict[str, Any] | None = None,
    spread: float = 0.002,
    flops: float = 1e6,
) -> Path:
    """A counted run: per case (jacfwd, jacrev) instructions per call; nothing timed."""
    cases = []
    for case_id, (fwd, rev) in counts.items():
        family, sizes = case_id.split("/")
        d_in, d_out = (int(v) for v in sizes.split("x"))
        strategies = tuple(
            S(name, instructions=n, instructions_spread=spread, flops=flops)
            for name, n in (("jacfwd", fwd), ("jacrev", rev))
        )
        cases.append(C(family, d_in, d_out, strategies))
    return write_run(path, cases, meta={**COUNTED, **(meta or {})})


def judge(base: Path, cur: Path, **settings: Any):
    s = Settings(**{"scope": Scope.INSTRUCTIONS, **settings})
    return compare(load_results(base), load_results(cur), s)


def found(cmp, tier: Tier = Tier.INSTRUCTIONS) -> set[tuple[str, str, str]]:
    return {(f.kind.value, f.case_id, f.strategy) for f in cmp.findings if f.tier is tier}


def test_threshold_default_and_parse() -> None:
    assert Threshold("instructions", 0.05) in DEFAULT_THRESHOLDS
    assert str(Threshold.parse("instructions:5%")) == "instructions:5%"
    absolute = Threshold.parse("instructions:50000")
    assert (absolute.limit, absolute.relative) == (50000.0, False)
    chosen = parse_thresholds(["instructions:20%"])
    assert Settings(thresholds=chosen).threshold("instructions").limit == pytest.approx(0.2)


def test_growth_beyond_threshold_is_a_regression(tmp_path: Path) -> None:
    base = run(tmp_path / "b")
    # the loop executes x1.45 the instructions (60 steps instead of 40); the rest is untouched
    cur = run(tmp_path / "c", {**BASE, "loop/64x256": (4.14e6 * 1.45, 15.1e6 * 1.45)})
    cmp = judge(base, cur)
    assert found(cmp) == {
        ("regression", "loop/64x256", "jacfwd"),
        ("regression", "loop/64x256", "jacrev"),
    }
    assert cmp.failed and cmp.instructions_comparable is True
    assert cmp.checked["instructions"] == 4
    f = next(f for f in cmp.findings if f.kind is Kind.REGRESSION)
    assert f.metric == "instructions" and f.ratio == pytest.approx(1.45)
    assert f.baseline == pytest.approx(4.14e6) and f.current == pytest.approx(4.14e6 * 1.45)
    assert "limit instructions:5%" in f.message
    # a higher threshold lets it pass; the same limit as an absolute count does not
    assert not judge(base, cur, thresholds=parse_thresholds(["instructions:50%"])).failed
    assert judge(base, cur, thresholds=parse_thresholds(["instructions:1000"])).failed


def test_within_noise_is_ok_and_an_improvement_is_reported(tmp_path: Path) -> None:
    base = run(tmp_path / "b")
    # +0.85%: the most the same code moved between processes; +4.9%: just under the threshold
    cur = run(tmp_path / "c", {"loop/64x256": (4.14e6 * 1.0085, 15.1e6 * 1.049),
                               "linear/300x300": (7.95e6 * 0.99, 7.73e6 * 0.8)})  # fmt: skip
    cmp = judge(base, cur)
    assert found(cmp) == {("improvement", "linear/300x300", "jacrev")}
    assert not cmp.failed
    assert compare_render.headline(cmp).startswith("OK: no regression")


def test_growth_within_the_counts_own_spread_is_inconclusive(tmp_path: Path) -> None:
    """Repetitions that disagree by 9% cannot vouch for a 7% change: inconclusive, not failed;
    the same change from tight repetitions fails."""
    cur_counts = {**BASE, "loop/64x256": (4.14e6 * 1.07, 15.1e6)}
    noisy = judge(run(tmp_path / "b", spread=0.09), run(tmp_path / "c", cur_counts))
    assert found(noisy) == {("inconclusive", "loop/64x256", "jacfwd")}
    assert not noisy.failed
    tight = judge(run(tmp_path / "b2"), run(tmp_path / "c2", cur_counts))
    assert found(tight) == {("regression", "loop/64x256", "jacfwd")}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("valgrind", "valgrind-3.22.0"),
        ("cpu_under_valgrind", "AMD EPYC 7763 [sse4_2 fma avx f16c avx2]"),
        ("jax", "0.10.3"),
        ("python", "3.12.1"),
        ("xla_flags", "--xla_cpu_multi_thread_eigen=false"),
    ],
)
def test_another_environment_is_not_comparable(tmp_path: Path, key: str, value: str) -> None:
    base = run(tmp_path / "b")
    doubled = {k: (a * 2, b * 2) for k, (a, b) in BASE.items()}
    cur = run(tmp_path / "c", doubled, meta={"instructions_fingerprint": {**FP, key: value}})
    cmp = judge(base, cur)
    (f,) = [f for f in cmp.findings if f.tier is Tier.INSTRUCTIONS]
    assert f.kind is Kind.NOT_COMPARABLE and key in f.message and value in f.message
    assert cmp.instructions_comparable is False
    assert not cmp.failed  # reported, not guessed at: no regression claimed either
    assert judge(base, cur, strict=True).failed


def test_host_cpu_alone_does_not_matter(tmp_path: Path) -> None:
    """XLA compiles for the CPU valgrind presents, so another host model compares."""
    base = run(tmp_path / "b")
    other = {**FP, "host_cpu_model": "Intel Xeon", "host_cpu_flags": "avx2"}
    cmp = judge(base, run(tmp_path / "c", meta={"instructions_fingerprint": other}), strict=True)
    assert cmp.instructions_comparable is True and not cmp.failed


def test_runs_without_counts(tmp_path: Path) -> None:
    counted = run(tmp_path / "counted")
    timed = write_run(
        tmp_path / "timed", [C("loop", 64, 256, (S("jacfwd", 1e-3), S("jacrev", 2e-3)))]
    )
    # --tier instructions against a timed baseline judges nothing: not comparable, strict fails
    cmp = judge(timed, counted)
    (f,) = [f for f in cmp.findings if f.tier is Tier.INSTRUCTIONS]
    assert f.kind is Kind.NOT_COMPARABLE
    assert f.message.startswith("the baseline run holds no instruction counts")
    assert judge(timed, counted, strict=True).failed
    # the default scope between two timed runs does not mention the tier at all
    plain = compare(load_results(timed), load_results(timed))
    assert found(plain) == set() and plain.instructions_comparable is None


def test_one_row_counted_on_one_side_only(tmp_path: Path) -> None:
    base = run(tmp_path / "b", {**BASE, "loop/64x256": (4.14e6, None)})
    cmp = judge(base, run(tmp_path / "c"), strict=True)
    assert found(cmp) == {("not comparable", "loop/64x256", "jacrev")}
    assert cmp.failed


def test_scopes(tmp_path: Path) -> None:
    """--tier instructions judges counts, statuses and cases only; the default scope adds the
    deterministic tier and leaves timing to timed runs."""
    base = run(tmp_path / "b")
    cur = run(tmp_path / "c", flops=3e6)  # XLA's flops up x3, instructions the same
    only = judge(base, cur)
    assert {f.tier for f in only.findings} <= {Tier.INSTRUCTIONS, Tier.STATUS, Tier.CASES}
    assert not only.failed
    everything = judge(base, cur, scope=Scope.ALL)
    assert ("regression", "loop/64x256", "jacfwd") in found(everything, Tier.DETERMINISTIC)
    notes = [f.message for f in everything.findings if f.tier is Tier.TIMING]
    assert notes == ["timing and verdicts not judged: the baseline and current runs counted "
                     "instructions instead of timing"]  # fmt: skip
    assert everything.checked["instructions"] == 4


def test_reports_and_json(tmp_path: Path) -> None:
    base = run(tmp_path / "b")
    cur = run(tmp_path / "c", {**BASE, "loop/64x256": (4.14e6 * 1.45, 15.1e6)})
    cmp = judge(base, cur)
    lines = compare_render.context_lines(cmp)
    assert "deterministic tier not judged (--tier instructions)" in lines
    assert any(
        line.startswith("instructions tier compared: valgrind valgrind-3.19.0") for line in lines
    )
    cells = compare_render.finding_cells(next(f for f in cmp.findings if f.kind is Kind.REGRESSION))
    assert cells[5:8] == ["4.14 M", "6 M", "x1.45"]
    doc = json.loads(compare_render.to_json(cmp))
    assert doc["failed"] is True and doc["instructions"]["comparable"] is True
    assert doc["instructions"]["fingerprint"]["valgrind"]["current"] == "valgrind-3.19.0"


def _cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"GITHUB_STEP_SUMMARY": ""})


def test_cli_tier_instructions_exit_codes(tmp_path: Path) -> None:
    base = run(tmp_path / "b")
    same = run(tmp_path / "same", {k: (a * 1.003, b) for k, (a, b) in BASE.items()})
    slower = run(tmp_path / "slower", {**BASE, "loop/64x256": (4.14e6 * 1.5, 15.1e6 * 1.5)})
    other = run(tmp_path / "other", meta={"instructions_fingerprint": {**FP, "jaxlib": "0.11.0"}})
    args = ["--tier", "instructions"]
    assert _cli("compare", str(base), str(same), *args, "--strict").exit_code == 0
    r = _cli("compare", str(base), str(slower), *args)
    assert r.exit_code == 1 and "regression" in r.output
    assert _cli("compare", str(base), str(slower), *args, "-t", "instructions:60%").exit_code == 0
    assert _cli("compare", str(base), str(other), *args).exit_code == 0
    assert _cli("compare", str(base), str(other), *args, "--strict").exit_code == 1


def test_export_emits_counts_when_present(tmp_path: Path) -> None:
    res = load_results(run(tmp_path / "b"))
    entries = {e["name"]: e for e in github_action_benchmark(res)}
    e = entries["loop/64x256 jacfwd cpu:0 instructions"]
    assert (e["unit"], e["value"]) == ("instructions", 4.14e6)
    assert "median of 3 repetitions, spread 0.2%" in e["extra"] and "valgrind-3.19.0" in e["extra"]
    assert not any(n.endswith(" median") for n in entries)  # nothing timed, nothing exported
    assert len([n for n in entries if n.endswith(" instructions")]) == 4
    assert schema.META_INSTRUCTIONS_FINGERPRINT == "instructions_fingerprint"


# --- rules that must hold (issue 19: mutants that survived the suite) -------------------------


def _rows(**extra: Any) -> dict[tuple[str, str, str], dict[str, Any]]:
    row = {"status": "ok", "instructions": 1e6, "instructions_spread": 0.001}
    row |= {"dtype": "float32", "jit": True, "device_kind": "cpu"} | extra
    return {("f/3x3", "cpu:0", "jacfwd"): row}


def _judge(b_rows, c_rows, b_meta, c_meta):
    from adbench.compare import instructions as tier

    keys = sorted(b_rows.keys() & c_rows.keys())
    return tier.judge(keys, b_rows, c_rows, b_meta, c_meta, Settings(), required=True)


def test_two_runs_that_both_lack_a_fingerprint_are_not_comparable() -> None:
    """None == None must not pass for an agreement: neither run says what it was counted on."""
    j = _judge(_rows(), _rows(), {"measure": "instructions"}, {"measure": "instructions"})
    assert j.comparable is False
    (f,) = j.findings
    assert f.kind is Kind.NOT_COMPARABLE and "fingerprint missing" in f.message


@pytest.mark.parametrize(
    ("column", "value"), [("dtype", "float64"), ("jit", False), ("device_kind", "TPU v4")]
)
def test_a_row_counted_for_another_dtype_jit_or_device_kind_is_not_comparable(
    column: str, value: Any
) -> None:
    """The same jax may compile differently for another dtype, jit setting or device: the count
    10x higher there is no regression (and not silently compared)."""
    cur = _rows(**{column: value, "instructions": 1e7})
    j = _judge(_rows(), cur, COUNTED, COUNTED)
    (f,) = j.findings
    assert f.kind is Kind.NOT_COMPARABLE and column in f.message
    assert j.checked == 0
