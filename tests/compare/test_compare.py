"""adbench.compare.gate on golden run directories (tests/data/compare, make_goldens.py)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from adbench.analysis.results import load_results
from adbench.compare import render as compare_report
from adbench.compare.gate import compare
from adbench.compare.model import (
    DEFAULT_THRESHOLDS,
    Kind,
    Scope,
    Settings,
    Threshold,
    ThresholdError,
    Tier,
    parse_thresholds,
)
from adbench.compare.timing import floor_sigmas
from adbench.store.results import Results, ResultsError

GOLDEN = Path(__file__).parents[1] / "data" / "compare"


@pytest.fixture(scope="module")
def base() -> Results:
    return load_results(GOLDEN / "base")


@pytest.fixture(scope="module")
def cur() -> Results:
    return load_results(GOLDEN / "cur")


def keys(cmp, *kinds: Kind) -> set[tuple[str, str, str, str, str]]:
    return {
        (f.kind.value, f.tier.value, f.case_id, f.strategy, f.metric)
        for f in cmp.findings
        if not kinds or f.kind in kinds
    }


# --- thresholds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "limit", "relative"),
    [
        ("median:15%", "median", 0.15, True),
        ("flops:0%", "flops", 0.0, True),
        (" Temp_Bytes : 2.5 % ", "temp_bytes", 0.025, True),
        ("bytes_accessed:.5%", "bytes_accessed", 0.005, True),
        ("temp_bytes:4096", "temp_bytes", 4096.0, False),
        ("median:5e-4", "median", 5e-4, False),
        ("median:150%", "median", 1.5, True),
    ],
)
def test_threshold_parses(text: str, metric: str, limit: float, relative: bool) -> None:
    t = Threshold.parse(text)
    assert (t.metric, t.relative) == (metric, relative)
    assert t.limit == pytest.approx(limit)
    assert Threshold.parse(str(t)) == t


@pytest.mark.parametrize(
    "text",
    [
        "",
        "median",
        "median:",
        "median:-5%",
        "speed:10%",
        "median:abc",
        "median:10%%",
        "median=10%",
        ":10%",
        "median:10 percent",
        "median:1e%",
    ],
)
def test_threshold_rejects(text: str) -> None:
    with pytest.raises(ThresholdError, match="METRIC:N%"):
        Threshold.parse(text)


def test_threshold_compute() -> None:
    rel = Threshold("median", 0.15)
    assert rel.compute(1.2, 1.0) == pytest.approx(0.2)
    assert rel.exceeded(1.16, 1.0) and not rel.exceeded(1.15, 1.0)
    assert rel.improved(1.0, 1.2) and not rel.improved(1.0, 1.1)
    assert rel.compute(0.0, 0.0) == 0.0 and rel.compute(5.0, 0.0) == math.inf
    zero = Threshold("temp_bytes", 0.0)
    assert zero.exceeded(1.0, 0.0) and not zero.exceeded(0.0, 0.0)
    ab = Threshold("temp_bytes", 1024.0, relative=False)
    assert ab.compute(5000.0, 4000.0) == 1000.0
    assert not ab.exceeded(5000.0, 4000.0) and ab.exceeded(5100.0, 4000.0)
    assert ab.improved(2000.0, 4000.0)


def test_parse_thresholds_overrides_defaults_last_wins() -> None:
    ts = parse_thresholds(["median:20%", "flops:5%", "median:30%"])
    by = {t.metric: t for t in ts}
    assert by["median"].limit == pytest.approx(0.30)
    assert by["flops"].limit == pytest.approx(0.05)
    assert by["temp_bytes"] == next(t for t in DEFAULT_THRESHOLDS if t.metric == "temp_bytes")
    assert parse_thresholds([]) == DEFAULT_THRESHOLDS


# --- the golden story -----------------------------------------------------------------------


def test_every_kind_of_finding(base: Results, cur: Results) -> None:
    cmp = compare(base, cur)
    assert keys(cmp, Kind.REGRESSION) == {
        ("regression", "status", "breaks/50x50", "jacrev", "status"),
        ("regression", "deterministic", "costlier/64x64", "jacfwd", "flops"),
        ("regression", "deterministic", "costlier/64x64", "jacrev", "flops"),
        ("regression", "timing", "slower/200x200", "jacfwd", "median"),
        ("regression", "timing", "slower/200x200", "jacrev", "median"),
        ("regression", "timing", "flipper/10x1000", "jacfwd", "median"),
    }
    assert keys(cmp, Kind.FLIP) == {("flip", "verdict", "flipper/10x1000", "", "recommended")}
    assert keys(cmp, Kind.INCONCLUSIVE) == {
        ("inconclusive", "timing", "noisy/200x200", "jacfwd", "median")
    }
    assert keys(cmp, Kind.IMPROVEMENT) == {
        ("improvement", "deterministic", "costlier/64x64", "jacfwd", "temp_bytes"),
        ("improvement", "deterministic", "costlier/64x64", "jacrev", "temp_bytes"),
        ("improvement", "timing", "faster/200x200", "jacfwd", "median"),
        ("improvement", "timing", "faster/200x200", "jacrev", "median"),
        ("improvement", "timing", "softened/300x10", "jacfwd", "median"),
    }
    assert keys(cmp, Kind.MISSING, Kind.NEW) == {
        ("missing", "cases", "gone/5x5", "", ""),
        ("new", "cases", "fresh/5x5", "", ""),
    }
    notes = [f for f in cmp.findings if f.kind is Kind.NOTE]
    assert {f.case_id for f in notes} == {"", "softened/300x10", "noisy/200x200"}
    assert "judged by the deterministic tier only" in notes[0].message
    assert cmp.untimed == (
        "tiny/1x10 jacfwd (cpu:0): faster than 100 µs",
        "tiny/1x10 jacrev (cpu:0): faster than 100 µs",
    )
    assert not any(f.case_id == "tiny/1x10" for f in cmp.findings)  # x3 slower, yet too fast
    assert cmp.failed
    assert [f.kind for f in cmp.findings] == sorted(
        (f.kind for f in cmp.findings), key=list(Kind).index
    )


def test_timing_regression_carries_its_evidence(base: Results, cur: Results) -> None:
    cmp = compare(base, cur)
    f = next(f for f in cmp.findings if f.case_id == "slower/200x200" and f.strategy == "jacfwd")
    assert (f.baseline, f.current, f.ratio) == pytest.approx((1e-3, 2e-3, 2.0))
    assert f.ci_low is not None and f.ci_high is not None and f.ci_low <= 2.0 <= f.ci_high
    assert f.p_value is not None and f.p_value < 0.001
    (drift,) = cmp.drifts
    assert (drift.device, drift.n_timed, drift.factor) == ("cpu:0", 21, 1.0)


def test_noisy_slowdown_is_inconclusive_not_a_regression(base: Results, cur: Results) -> None:
    f = next(f for f in compare(base, cur).findings if f.case_id == "noisy/200x200" and f.strategy)
    assert f.kind is Kind.INCONCLUSIVE and "not significant" in f.message
    assert f.p_value is not None and f.p_value > 0.01


def test_identical_runs_have_nothing_to_say(base: Results) -> None:
    cmp = compare(base, load_results(GOLDEN / "same"))
    assert not cmp.failed
    assert [f.kind for f in cmp.findings] == [Kind.NOTE]  # the two sub-100-us strategies
    assert cmp.checked == {"cases": 26, "deterministic": 78, "timing": 24, "verdict": 13}


def test_other_environment_is_not_comparable_but_still_timed(base: Results) -> None:
    cmp = compare(base, load_results(GOLDEN / "other-jax"))
    assert not cmp.comparable
    nc = [f for f in cmp.findings if f.kind is Kind.NOT_COMPARABLE]
    assert len(nc) == 1 and "jax_version 0.10.2 -> 0.4.30" in nc[0].message
    assert not any(f.tier is Tier.DETERMINISTIC and f.kind is Kind.REGRESSION for f in cmp.findings)
    assert ("regression", "timing", "slower/200x200", "jacfwd", "median") in keys(cmp)


def test_a_slower_machine_is_drift_not_regression(base: Results) -> None:
    cmp = compare(base, load_results(GOLDEN / "slow-machine"))
    assert not cmp.failed
    drift = [f for f in cmp.findings if f.kind is Kind.INCONCLUSIVE]
    assert len(drift) == 1 and drift[0].case_id == "" and drift[0].ratio == pytest.approx(1.6)
    assert "slower together" in drift[0].message


def test_deterministic_scope_ignores_timing_and_verdicts(base: Results, cur: Results) -> None:
    cmp = compare(base, cur, Settings(scope=Scope.DETERMINISTIC))
    assert {f.tier for f in cmp.findings} == {Tier.DETERMINISTIC, Tier.STATUS, Tier.CASES}
    assert cmp.failed and cmp.drifts == ()
    quiet = compare(
        base, load_results(GOLDEN / "slow-machine"), Settings(scope=Scope.DETERMINISTIC)
    )
    assert quiet.findings == () and not quiet.failed


def test_thresholds_move_the_line(base: Results, cur: Results) -> None:
    loose = Settings(thresholds=parse_thresholds(["flops:60%", "median:150%"]))
    cmp = compare(base, cur, loose)
    assert {(f.tier, f.case_id) for f in cmp.findings if f.kind is Kind.REGRESSION} == {
        (Tier.STATUS, "breaks/50x50"),
        (Tier.TIMING, "flipper/10x1000"),  # x4 is beyond +150%
    }
    absolute = Settings(thresholds=parse_thresholds(["median:0.0012"]))  # 1.2 ms more
    timing = {
        (f.case_id, f.strategy)
        for f in compare(base, cur, absolute).findings
        if f.kind is Kind.REGRESSION and f.tier is Tier.TIMING
    }
    assert timing == {("flipper/10x1000", "jacfwd")}  # +1.5 ms; slower/* only +1 ms


# --- timing tier edge cases, on in-memory variants of the goldens -------------------------------


def _scaled(res: Results, factors: dict[str, float], name: str = "variant") -> Results:
    """res with every time of the cases in ``factors`` multiplied by their factor."""
    samples = res.samples.copy()
    f = samples["case_id"].map(factors).fillna(1.0)
    samples["seconds"] = samples["seconds"] * f
    results = res.results.copy()
    results["median_s"] = results["median_s"] * results["case_id"].map(factors).fillna(1.0)
    return dataclasses.replace(res, path=Path(name), samples=samples, results=results)


def _only(res: Results, cases: set[str]) -> Results:
    def keep(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["case_id"].isin(cases)].reset_index(drop=True)

    return dataclasses.replace(
        res, results=keep(res.results), samples=keep(res.samples), verdicts=keep(res.verdicts)
    )


def test_too_few_timed_cases_leave_no_control(base: Results) -> None:
    small = _only(base, {"steady_a/300x300", "slower/200x200"})
    cmp = compare(small, _scaled(small, {"slower/200x200": 2.0}))
    assert not cmp.failed
    (drift,) = cmp.drifts
    assert drift.n_timed == 4 and math.isnan(drift.factor)
    inc = [f for f in cmp.findings if f.kind is Kind.INCONCLUSIVE]
    assert {f.strategy for f in inc} == {"jacfwd", "jacrev"}
    assert all("need 6" in f.message for f in inc)


def test_run_to_run_noise_raises_the_bar(base: Results) -> None:
    # A third of the cases x1.05, a third x0.95, a third unchanged: noise sigma ~0.072 in log;
    # 24 timed case x strategies put the floor at 12.1 sigma (family-wise 1%): x2.4.
    cases = sorted(set(base.results["case_id"]) - {"tiny/1x10", "slower/200x200"})
    factors = {c: (1.05, 1.0, 0.95)[i % 3] for i, c in enumerate(cases)}
    cmp = compare(base, _scaled(base, {**factors, "slower/200x200": 1.5}))
    (drift,) = cmp.drifts
    assert drift.n_timed == 24 and drift.noise == pytest.approx(1.4826 * math.log(1.05))
    assert drift.floor == pytest.approx(math.exp(floor_sigmas(24, Settings()) * drift.noise))
    assert 2.0 < drift.floor < 3.0
    slower = {f.kind for f in cmp.findings if f.case_id == "slower/200x200"}
    assert slower == {Kind.INCONCLUSIVE}
    assert not cmp.failed
    assert any("run-to-run noise" in f.message for f in cmp.findings if f.kind is Kind.NOTE)
    loud = compare(base, _scaled(base, {**factors, "slower/200x200": 8.0}))
    assert {f.kind for f in loud.findings if f.case_id == "slower/200x200"} == {Kind.REGRESSION}


def test_the_noise_floor_holds_improvements_back_too(base: Results) -> None:
    """With the floor at x2.4, a case 1.5x faster (significant on its samples) is not reported as
    an improvement, as a case 1.5x slower is not a regression; 8x faster is."""
    cases = sorted(set(base.results["case_id"]) - {"tiny/1x10", "faster/200x200"})
    factors = {c: (1.05, 1.0, 0.95)[i % 3] for i, c in enumerate(cases)}
    cmp = compare(base, _scaled(base, {**factors, "faster/200x200": 1 / 1.5}))
    assert 2.0 < cmp.drifts[0].floor < 3.0
    assert not [f for f in cmp.findings if f.case_id == "faster/200x200"]
    loud = compare(base, _scaled(base, {**factors, "faster/200x200": 1 / 8}))
    assert {f.kind for f in loud.findings if f.case_id == "faster/200x200"} == {Kind.IMPROVEMENT}


def test_floor_controls_the_family_wise_rate() -> None:
    s = Settings()
    k = [floor_sigmas(m, s) for m in (6, 16, 32, 100)]
    assert k == sorted(k) and k[0] > 5.0  # more case x strategies judged, a higher bar for each
    assert k[1] == pytest.approx(10.57, abs=0.01)
    # t with 3 df: P(T > k * 1.4826 * q75) = familywise_alpha / m, one-sided Bonferroni
    q75 = 0.7648923
    assert k[1] * 1.4826 * q75 == pytest.approx(11.98, abs=0.01)
    assert floor_sigmas(16, Settings(familywise_alpha=0.05)) < k[1]
    assert floor_sigmas(16, Settings(noise_df=30.0)) < floor_sigmas(16, Settings(noise_df=3.0))


def test_a_fixed_noise_sigmas_overrides_the_family_wise_floor(base: Results) -> None:
    cases = sorted(set(base.results["case_id"]) - {"tiny/1x10", "slower/200x200"})
    factors = {c: (1.05, 1.0, 0.95)[i % 3] for i, c in enumerate(cases)}
    cur = _scaled(base, {**factors, "slower/200x200": 1.5})
    cmp = compare(base, cur, Settings(noise_sigmas=3.0))
    (drift,) = cmp.drifts
    assert drift.floor == pytest.approx(math.exp(3.0 * drift.noise))  # x1.24
    assert {f.kind for f in cmp.findings if f.case_id == "slower/200x200"} == {Kind.REGRESSION}
    assert json.loads(json.dumps(cmp.to_dict()))["settings"]["noise_sigmas"] == 3.0
    assert compare(base, cur).to_dict()["settings"]["noise_sigmas"] is None


def test_drift_is_estimated_per_device_and_corrects_each_case(base: Results) -> None:
    everything = {c: 1.4 for c in set(base.results["case_id"])}
    cmp = compare(base, _scaled(base, {**everything, "slower/200x200": 1.4 * 2.0}))
    f = next(f for f in cmp.findings if f.case_id == "slower/200x200" and f.strategy == "jacfwd")
    assert f.kind is Kind.REGRESSION and f.ratio == pytest.approx(2.0)
    assert cmp.drifts[0].factor == pytest.approx(1.4)


def test_repeated_runs_vote_out_a_case_that_jumped_in_one_process(base: Results) -> None:
    jumped = _scaled(base, {"steady_a/300x300": 2.0, "slower/200x200": 2.0}, "cur/1")
    single = compare(base, jumped)
    assert ("regression", "timing", "steady_a/300x300", "jacfwd", "median") in keys(single)
    currents = [jumped] + [_scaled(base, {"slower/200x200": 2.0}, f"cur/{i}") for i in (2, 3)]
    cmp = compare([base, base, base], currents)
    timing = {
        f.case_id for f in cmp.findings if f.tier is Tier.TIMING and f.kind is Kind.REGRESSION
    }
    assert timing == {"slower/200x200"}
    assert cmp.drifts[0].runs == (3, 3) and cmp.current == "cur (3 runs)"
    f = next(f for f in cmp.findings if f.case_id == "slower/200x200" and f.strategy == "jacrev")
    assert f.ratio == pytest.approx(2.0) and f.baseline == pytest.approx(1e-3)


def test_repeated_runs_correct_each_process_for_its_own_drift(base: Results) -> None:
    everything = {c: 1.0 for c in set(base.results["case_id"])}
    slow = {c: 1.5 for c in everything}
    currents = [
        _scaled(base, {**everything, "faster/200x200": 0.5}, "c/1"),
        _scaled(base, {**slow, "faster/200x200": 0.75}, "c/2"),  # a slow process, same story
    ]
    cmp = compare([base, _scaled(base, slow, "b/2")], currents)
    assert keys(cmp, Kind.REGRESSION, Kind.IMPROVEMENT) == {
        ("improvement", "timing", "faster/200x200", "jacfwd", "median"),
        ("improvement", "timing", "faster/200x200", "jacrev", "median"),
    }
    assert cmp.drifts[0].factor == pytest.approx(1.0)


def test_load_runs(tmp_path: Path) -> None:
    import shutil

    from adbench.compare.gate import load_runs

    assert [r.path for r in load_runs(GOLDEN / "base")] == [GOLDEN / "base"]
    for i in (1, 2):
        shutil.copytree(GOLDEN / "base", tmp_path / "side" / str(i))
    (tmp_path / "side" / "notes.txt").write_text("not a run", encoding="utf-8")
    runs = load_runs(tmp_path / "side")
    assert [r.path.name for r in runs] == ["1", "2"]
    meta = tmp_path / "side" / "2" / "meta.json"
    meta.write_text(meta.read_text().replace("0000000000000000", "1111111111111111"))
    with pytest.raises(ResultsError, match="different run files"):
        load_runs(tmp_path / "side")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="meta.json"):
        load_runs(tmp_path / "empty")


def test_a_case_that_now_times_out_is_inconclusive(base: Results) -> None:
    results = base.results.copy()
    hit = (results["case_id"] == "steady_a/300x300") & (results["strategy"] == "jacfwd")
    results.loc[hit, "status"] = "timeout"
    results.loc[hit, "reason"] = "ran past --case-timeout"
    cmp = compare(base, dataclasses.replace(base, results=results))
    (f,) = [f for f in cmp.findings if f.tier is Tier.STATUS]
    assert f.kind is Kind.INCONCLUSIVE and "times out" in f.message
    back = compare(dataclasses.replace(base, results=results), base)
    assert [f.kind for f in back.findings if f.tier is Tier.STATUS] == [Kind.IMPROVEMENT]


@pytest.mark.parametrize(
    ("column", "value"), [("dtype", "float64"), ("device_kind", "NVIDIA H100"), ("jit", False)]
)
def test_a_row_compiled_differently_is_not_comparable(base: Results, column: str, value) -> None:
    results = base.results.copy()
    results[column] = results[column].astype(object)
    results.loc[results["case_id"] == "steady_b/300x300", column] = value
    cmp = compare(base, dataclasses.replace(base, results=results))
    nc = [f for f in cmp.findings if f.kind is Kind.NOT_COMPARABLE]
    assert {(f.case_id, f.strategy) for f in nc} == {
        ("steady_b/300x300", "jacfwd"),
        ("steady_b/300x300", "jacrev"),
    }
    assert all(f.message.startswith(f"{column} ") and f"-> {value}" in f.message for f in nc)


def test_another_cpu_is_noted(base: Results) -> None:
    other = dataclasses.replace(base, meta={**base.meta, "cpu_model": "other CPU"})
    notes = [f.message for f in compare(base, other).findings if f.kind is Kind.NOTE]
    assert any("different CPUs (golden CPU -> other CPU)" in n for n in notes)


@pytest.mark.parametrize(
    ("before", "after", "noted"),
    [
        (None, "inline", True),  # a directory from before the key: JAX's default, async
        ("async", "inline", True),
        ("inline", "async", True),
        ("inline", "inline", False),
        (None, "async", False),
    ],
)
def test_another_cpu_dispatch_is_noted(base: Results, before, after, noted: bool) -> None:
    meta = {k: v for k, v in base.meta.items() if k != "cpu_dispatch"}
    old = dataclasses.replace(base, meta={**meta, **({"cpu_dispatch": before} if before else {})})
    new = dataclasses.replace(base, meta={**meta, "cpu_dispatch": after})
    notes = [f.message for f in compare(old, new).findings if f.kind is Kind.NOTE]
    hit = [n for n in notes if "dispatched differently" in n]
    assert bool(hit) is noted
    if noted:
        assert f"({before or 'async'} -> {after}" in hit[0]


def test_dispatch_is_not_noted_between_two_accelerator_runs(base: Results) -> None:
    gpu = {**base.meta, "backend": "gpu"}
    old = dataclasses.replace(base, meta={**gpu, "cpu_dispatch": "async"})
    new = dataclasses.replace(base, meta={**gpu, "cpu_dispatch": "inline"})
    assert not any("dispatched differently" in f.message for f in compare(old, new).findings)


def test_old_schema_is_refused() -> None:
    with pytest.raises(ResultsError, match="schema version 0"):
        load_results(GOLDEN / "old-schema")


# --- output -----------------------------------------------------------------------------------


def test_json_is_strict_and_complete(base: Results, cur: Results) -> None:
    cmp = compare(base, cur)
    data = json.loads(compare_report.to_json(cmp))
    assert data["failed"] is True
    assert data["summary"]["regression"] == 6 and data["summary"]["flip"] == 1
    assert data["settings"]["thresholds"][0] == "median:15%"
    assert data["fingerprint"]["jax_version"] == {"baseline": "0.10.2", "current": "0.10.2"}
    assert len(data["findings"]) == len(cmp.findings)
    first = data["findings"][0]
    assert first["kind"] == "regression"
    assert set(first) >= {"case_id", "strategy", "ratio", "p_value"} and "mode" not in first


def test_markdown_and_table(base: Results, cur: Results) -> None:
    cmp = compare(base, cur)
    md = compare_report.to_markdown(cmp)
    assert md.startswith("### ❌ adbench compare — FAIL: 6 regressions, 1 flip")
    assert (
        "| ❌ | regression | timing | slower/200x200 [cpu:0] | jacfwd | median | 1 ms | 2 ms |"
        in md
    )
    assert "\\|J\\|" in md  # pipes inside a cell are escaped
    console = Console(width=240, no_color=True, file=io.StringIO())
    console.print(compare_report.table(cmp))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "FAIL: 6 regressions, 1 flip" in text
    assert "flipper/10x1000" in text and "recommended jacfwd -> jacrev" in text
    ok = compare_report.to_markdown(compare(base, load_results(GOLDEN / "same")))
    assert ok.startswith("### ✅ adbench compare — OK: no regression")


# --- the command line ---------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None):
    from typer.testing import CliRunner

    from adbench.cli import app

    return CliRunner().invoke(app, list(args), env={"GITHUB_STEP_SUMMARY": "", **(env or {})})


@pytest.mark.parametrize(
    ("current", "extra", "code"),
    [
        ("cur", [], 1),
        ("same", [], 0),
        ("slow-machine", [], 0),
        ("cur", ["--tier", "deterministic"], 1),
        ("other-jax", ["--tier", "deterministic"], 1),  # still: a status regression
        ("cur", ["-t", "flops:60%", "-t", "median:400%"], 1),  # still: status, flip
        ("other-jax", ["--tier", "deterministic", "-t", "median:1%"], 1),
    ],
)
def test_cli_exit_codes(current: str, extra: list[str], code: int) -> None:
    r = _cli("compare", str(GOLDEN / "base"), str(GOLDEN / current), *extra)
    assert r.exit_code == code, r.output


@pytest.mark.parametrize(
    "args",
    [
        [str(GOLDEN / "base"), str(GOLDEN / "nope")],
        [str(GOLDEN / "base"), str(GOLDEN / "old-schema")],
        [str(GOLDEN / "base"), str(GOLDEN / "cur"), "--threshold", "speed:10%"],
        [str(GOLDEN / "base"), str(GOLDEN / "cur"), "--tier", "timing-only"],
        [str(GOLDEN / "base"), str(GOLDEN / "README.md")],
    ],
)
def test_cli_usage_errors_exit_2(args: list[str]) -> None:
    r = _cli("compare", *args)
    assert r.exit_code == 2, r.output


def test_strict_fails_a_gate_that_judged_nothing(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(GOLDEN / "slow-machine", tmp_path / "other")
    meta = tmp_path / "other" / "meta.json"
    meta.write_text(meta.read_text().replace('"0.10.2"', '"0.4.30"'))
    args = ["compare", str(GOLDEN / "base"), str(tmp_path / "other"), "--tier", "deterministic"]
    assert _cli(*args).exit_code == 0
    r = _cli(*args, "--strict")
    assert r.exit_code == 1 and "FAIL: 1 not comparable" in r.stdout


def test_cli_pools_a_directory_of_runs(tmp_path: Path) -> None:
    import shutil

    for i in (1, 2, 3):
        shutil.copytree(GOLDEN / "base", tmp_path / "base" / f"run{i}")
    r = _cli("compare", str(tmp_path / "base"), str(GOLDEN / "cur"), "-f", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["baseline"] == f"{tmp_path / 'base'} (3 runs)"
    assert data["timing"][0]["runs"] == [3, 1]


def test_cli_formats_and_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    r = _cli("compare", str(GOLDEN / "base"), str(GOLDEN / "cur"), "--format", "json", env=env)
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["failed"] and data["summary"]["flip"] == 1
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### ❌ adbench compare — FAIL: 6 regressions, 1 flip")
    out = tmp_path / "report.md"
    r = _cli("compare", str(GOLDEN / "base"), str(GOLDEN / "same"), "-f", "md", "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("### ✅ adbench compare — OK")
    r = _cli("compare", str(GOLDEN / "base"), str(GOLDEN / "cur"), "--tier", "deterministic")
    assert "FAIL: 3 regressions" in r.stdout and "scope deterministic" in r.stdout


# --- N strategies: schema-2 directories built through the writer (tests/data/v2/make.py) -------

V2 = Path(__file__).parents[1] / "data" / "v2" / "compare"


def test_strategies_flip_note_and_regress_per_strategy() -> None:
    cmp = compare(load_results(V2 / "base"), load_results(V2 / "cur"))
    assert keys(cmp, Kind.FLIP) == {("flip", "verdict", "chunked/200x200", "", "recommended")}
    (flip,) = [f for f in cmp.findings if f.kind is Kind.FLIP]
    assert (flip.baseline, flip.current) == ("jacfwd", "linearize")
    assert "jacfwd 1.19x faster than linearize -> linearize" in flip.message
    notes = [f for f in cmp.findings if f.tier is Tier.VERDICT and f.kind is Kind.NOTE]
    assert [(f.case_id, f.baseline, f.current) for f in notes] == [
        ("chunked/200x20", "tie", "jacrev")
    ]
    assert "tie jacrev|jacrev_chunked -> jacrev" in notes[0].message
    regressions = keys(cmp, Kind.REGRESSION)
    assert ("regression", "status", "odeint/50x500", "jacrev", "status") in regressions
    assert ("regression", "deterministic", "hess/100x1", "sparse", "flops") in regressions
    assert cmp.failed
    # a verdict resting on one strategy that ran (odeint) or on none (broken) is not judged
    assert not [f for f in cmp.findings if f.tier is Tier.VERDICT and f.case_id == "odeint/50x500"]


def test_a_tie_between_the_same_strategies_in_another_order_is_no_change() -> None:
    base = load_results(V2 / "base")
    verdicts = base.verdicts.copy()
    hit = verdicts["case_id"] == "hess/10x1"
    verdicts.loc[hit, "tie_set"] = "rev_over_rev|fwd_over_rev"
    cmp = compare(base, dataclasses.replace(base, verdicts=verdicts))
    assert not [f for f in cmp.findings if f.tier is Tier.VERDICT]
    verdicts.loc[hit, "tie_set"] = "rev_over_rev|fwd_over_rev|sparse"
    cmp = compare(base, dataclasses.replace(base, verdicts=verdicts))
    assert [f.kind for f in cmp.findings if f.tier is Tier.VERDICT] == [Kind.NOTE]


def test_a_decisive_change_that_rests_on_a_failure_is_not_a_flip() -> None:
    base = load_results(V2 / "base")
    verdicts = base.verdicts.copy()
    hit = verdicts["case_id"] == "chunked/200x2000"
    verdicts.loc[hit, ["recommended", "n_ran", "runner_up"]] = ["jacrev", 1, ""]
    cmp = compare(base, dataclasses.replace(base, verdicts=verdicts))
    assert not [f for f in cmp.findings if f.tier is Tier.VERDICT]


def test_rows_from_two_machines_are_matched_per_host(tmp_path: Path) -> None:
    from builders import C, S, write_run

    def run(name: str, slow: float) -> Results:
        cases = [
            C("f", 10, 10 * k, (S("jacfwd", 1e-3 * k), S("jacrev", 2e-3 * k)), host=h)
            for k in (1, 2, 3, 4)
            for h in ("a", "b")
        ]
        cases.append(C("f", 10, 50, (S("jacfwd", 5e-3 * slow), S("jacrev", 1e-2)), host="b"))
        return load_results(write_run(tmp_path / name, cases))

    cmp = compare(run("base", 1.0), run("cur", 4.0))
    slow = [f for f in cmp.findings if f.kind is Kind.REGRESSION]
    assert [(f.case_id, f.device, f.strategy) for f in slow] == [("f/10x50", "b/cpu:0", "jacfwd")]


# --- rules that must hold (issue 19: mutants that survived the suite) -------------------------


def _timing(cmp, case: str) -> set[Kind]:
    return {f.kind for f in cmp.findings if f.tier is Tier.TIMING and f.case_id == case}


def test_two_runs_that_both_lack_a_fingerprint_are_not_comparable(base: Results) -> None:
    """None == None is no agreement: XLA's numbers of two runs that do not say which jax made
    them are not compared (and a higher flop count there is no regression)."""
    from adbench.compare.gate import FINGERPRINT_KEYS

    bare = {k: v for k, v in base.meta.items() if k not in FINGERPRINT_KEYS}
    b = dataclasses.replace(base, meta=bare)
    results = base.results.copy()
    results["flops"] = results["flops"] * 10
    c = dataclasses.replace(base, meta=bare, results=results, path=Path("c"))
    cmp = compare(b, c)
    assert not cmp.comparable
    (nc,) = [f for f in cmp.findings if f.kind is Kind.NOT_COMPARABLE]
    assert nc.tier is Tier.DETERMINISTIC and "fingerprint missing" in nc.message
    assert not [
        f for f in cmp.findings if f.tier is Tier.DETERMINISTIC and f.kind is Kind.REGRESSION
    ]


def test_the_significance_test_sees_drift_corrected_samples(base: Results) -> None:
    """The whole current run 1.6x slower (drift) but faster/200x200 at its old speed: 1.6x faster
    once corrected, an improvement. Its raw samples equal the baseline's, so a Mann-Whitney test
    on uncorrected samples finds nothing. The mirror: a run 0.6x the time with slower/200x200
    unchanged is a regression of that case, not an inconclusive one."""
    every = {c: 1.6 for c in set(base.results["case_id"])}
    cmp = compare(base, _scaled(base, {**every, "faster/200x200": 1.0}))
    assert _timing(cmp, "faster/200x200") == {Kind.IMPROVEMENT}
    every = {c: 0.6 for c in set(base.results["case_id"])}
    cmp = compare(base, _scaled(base, {**every, "slower/200x200": 1.0}))
    assert _timing(cmp, "slower/200x200") == {Kind.REGRESSION}


def test_the_timing_floor_is_read_from_the_baseline(base: Results) -> None:
    """tiny/1x10 runs 30 us in the baseline: judged by the deterministic tier only, even when
    the current run takes 8x that (240 us, over the 100 us floor). Reading the floor from the
    current run would time it, and call a sub-floor baseline's noise a regression."""
    cmp = compare(base, _scaled(base, {"tiny/1x10": 8.0}))
    assert _timing(cmp, "tiny/1x10") == set()
    assert any(u.startswith("tiny/1x10 ") and "faster than" in u for u in cmp.untimed)


def test_a_baseline_process_that_jumped_is_voted_out_too(base: Results) -> None:
    """Three baseline processes, one where steady_a ran 2x slower (or 2x faster): the median over
    processes ignores it, so steady_a is unchanged against an unchanged current run. A mean over
    processes would make it look 1.26x faster (or slower) and report it."""
    for jump in (2.0, 0.5):
        odd = _scaled(base, {"steady_a/300x300": jump}, "b/1")
        cmp = compare([odd, base, base], [base, base, base])
        assert _timing(cmp, "steady_a/300x300") == set(), jump


def test_an_undecided_verdict_is_never_a_flip_and_says_why(base: Results) -> None:
    """flipper is decisive (jacfwd) in the baseline; undecided in the current run (too few
    rounds): not a flip, not a change, a note that names the cause."""
    verdicts = base.verdicts.copy()
    hit = verdicts["case_id"] == "flipper/10x1000"
    verdicts.loc[hit, "recommended"] = "undecided"
    verdicts.loc[hit, "reason"] = "undecided: 3 rounds: too few to decide (a verdict needs 6)"
    cmp = compare(base, dataclasses.replace(base, verdicts=verdicts, path=Path("c")))
    found = [f for f in cmp.findings if f.tier is Tier.VERDICT]
    assert [f.kind for f in found] == [Kind.NOTE]
    assert "undecided in the current run" in found[0].message
    assert "3 rounds: too few to decide" in found[0].message
    assert not cmp.failed
