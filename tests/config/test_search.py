"""Adaptive crossover search (adbench.config.search): the bisection on its own with a fake verdict
function, then `adbench run` on a searched family with a fake measurer (exact timings, so the
verdicts are known), --resume, and one real measurement in a --case-timeout child."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import C, S, rows
from typer.testing import CliRunner

from adbench.cli import app
from adbench.config import search
from adbench.config.search import SizeSearch, midpoint, next_sizes
from adbench.session import sweep
from adbench.store import schema

runner = CliRunner()


def threshold(at: float, below: str = "jacfwd", above: str = "jacrev"):
    """A fake measurer whose verdict changes once, at `at`; records what it was asked."""
    asked: list[tuple[int, ...]] = []

    def measure(sizes):
        asked.append(tuple(sizes))
        return {s: below if s < at else above for s in sizes}

    return measure, asked


# -- the bisection --------------------------------------------------------------------------


def test_midpoint_is_geometric_and_rounded_to_the_nearest_integer() -> None:
    assert midpoint(10, 1000) == 100  # arithmetic: 505
    assert midpoint(1, 10000) == 100
    assert midpoint(1, 20) == 4  # sqrt 20 = 4.47: nearest, not ceil
    assert midpoint(1, 21) == 5  # sqrt 21 = 4.58: nearest, not floor
    assert midpoint(2, 3) is None and midpoint(5, 6) is None  # nothing strictly between
    assert midpoint(2, 4) == 3
    big = 2**40
    assert midpoint(big - 3, big - 1) == big - 2  # exact where floats are not
    assert midpoint(1, 50, allowed=lambda s: s % 2 == 0) == 8  # 7 refused: nearest allowed
    assert midpoint(3, 5, allowed=lambda s: s % 2 == 0) == 4
    assert midpoint(4, 6, allowed=lambda s: s % 2 == 0) is None


def test_the_search_bisects_geometrically_to_the_resolution() -> None:
    """Ends 10 and 10000, the verdict changes at 137: every size asked for is the rounded
    geometric midpoint of the bracket, and it stops when 133-165 (x1.24) is within x1.5, not at
    133-205 (x1.54) before it."""
    measure, asked = threshold(137)
    out = search.run(SizeSearch("d_out", 10, 10000, 100), measure)
    assert asked == [(10, 10000), (316,), (56,), (133,), (205,), (165,)]
    assert out.order == (10, 10000, 316, 56, 133, 205, 165)
    [b] = out.brackets
    assert (b.low, b.high, b.below, b.above) == (133, 165, "jacfwd", "jacrev")
    assert not out.budget_spent
    assert "jacfwd->jacrev between 133 and 165; each within x1.5" in out.summary()


def test_the_resolution_is_inclusive_and_settable() -> None:
    s = SizeSearch("d_out", 100, 150, 7)
    assert next_sizes(s, {100: "jacrev", 150: "jacfwd"}) == ()  # exactly x1.5: done
    s = SizeSearch("d_out", 100, 151, 7)
    assert next_sizes(s, {100: "jacrev", 151: "jacfwd"}) == (123,)
    s = SizeSearch("d_out", 100, 151, 7, resolution=1.6)
    assert next_sizes(s, {100: "jacrev", 151: "jacfwd"}) == ()
    measure, _ = threshold(137)
    coarse = search.run(SizeSearch("d_out", 10, 10000, 100, resolution=3.0), measure)
    assert coarse.order == (10, 10000, 316, 56, 133)  # 133-316 is x2.4 <= 3


def test_a_tie_is_a_verdict_of_its_own() -> None:
    """jacfwd below 100, tie up to 120, jacrev above: both edges of the tie band bracketed."""

    def measure(sizes):
        return {s: "jacfwd" if s < 100 else "tie" if s < 120 else "jacrev" for s in sizes}

    out = search.run(SizeSearch("d_out", 10, 10000, 100), measure)
    found = [(b.low, b.high, b.below, b.above) for b in out.brackets]
    assert found == [(86, 107, "jacfwd", "tie"), (107, 133, "tie", "jacrev")]


def test_max_cases_caps_the_search() -> None:
    measure, _ = threshold(137)
    out = search.run(SizeSearch("d_out", 10, 10000, 100, max_cases=4), measure)
    assert out.order == (10, 10000, 316, 56)
    assert out.budget_spent
    assert "stopped at max_cases 4" in out.summary() and "x5.64" in out.summary()
    two = search.run(SizeSearch("d_out", 10, 10000, 100, max_cases=2), measure)
    assert two.order == (10, 10000) and two.budget_spent


def test_the_widest_brackets_go_first_when_the_budget_is_short() -> None:
    s = SizeSearch("d_in", 1, 10000, 1, max_cases=4)
    verdicts = {1: "jacfwd", 10: "jacrev", 10000: "jacfwd"}  # x10 and x1000 brackets
    assert next_sizes(s, verdicts) == (316,)  # one left in the budget: the x1000 one
    s = replace(s, max_cases=5)
    assert next_sizes(s, verdicts) == (3, 316)  # sqrt 10 = 3.16


def test_no_change_between_the_ends_stops_after_them() -> None:
    measure, asked = threshold(1e9)
    out = search.run(SizeSearch("d_out", 10, 10000, 100), measure)
    assert asked == [(10, 10000)]
    assert "no change between them (jacfwd)" in out.summary()


@pytest.mark.parametrize("seed", range(20))
def test_any_verdicts_never_repeat_a_size_and_respect_the_budget(seed: int) -> None:
    """Verdicts drawn at random per size (noise, several changes, sizes given no verdict):
    the search still ends, within the range and the budget, asking for each size once."""
    rng = random.Random(seed)
    low = rng.randint(1, 50)
    spec = SizeSearch("d_out", low, low + rng.randint(2, 10**6), 3, rng.uniform(1.01, 3.0))
    spec = replace(spec, max_cases=rng.randint(2, 30))
    seen: list[int] = []

    def measure(sizes):
        seen.extend(sizes)
        return {s: rng.choice(["jacfwd", "jacrev", "tie"]) for s in sizes if rng.random() < 0.9}

    out = search.run(spec, measure)
    assert len(seen) == len(set(seen)) <= spec.max_cases
    assert all(spec.low <= s <= spec.high for s in seen)
    assert {s for s, _ in out.verdicts} == set(seen)
    if not out.budget_spent:  # each change tight, or nothing strictly between its sizes
        for b in out.brackets:
            assert b.high <= b.low * spec.resolution or midpoint(b.low, b.high) is None


def test_the_verdict_of_a_size() -> None:
    row = {"fwd_rev": "tie", "recommended": "sparse"}
    assert search.verdict_of(row, ("jacfwd", "jacrev")) == "tie"
    assert search.verdict_of(row, ("jacrev", "jacfwd", "sparse")) == "sparse"
    assert search.verdict_of({"fwd_rev": float("nan")}, ("jacfwd", "jacrev")) == "n/a"


# -- the run file ---------------------------------------------------------------------------


def test_a_range_is_planned_as_its_two_ends(tmp_path: Path) -> None:
    from adbench.config.model import parse_config

    text = (
        "families:\n  - name: l\n    builtin: linear\n    d_in: 100\n"
        "    d_out: {from: 10, to: 1000, search: crossover, max_cases: 6}\n"
        "  - {name: m, builtin: mlp_loss, d_in: {from: 7, to: 900, search: crossover}, d_out: 5}\n"
    )
    loaded = parse_config(text, tmp_path / "r.yaml")
    p = loaded.plan("l")
    assert p.sizes == ((100, 10), (100, 1000))
    assert p.search == SizeSearch("d_out", 10, 1000, 100, 1.5, 6)
    assert loaded.plan("m").search == SizeSearch("d_in", 7, 900, 5, 1.5, 12)
    dumped = loaded.config.model_dump(mode="json")["families"][0]["d_out"]
    assert dumped == {"from": 10, "to": 1000, "search": "crossover", "resolution": 1.5,
                      "max_cases": 6}  # fmt: skip


# -- adbench run with a fake measurer ---------------------------------------------------------

RUN = """\
name: searched
modes: [jacfwd, jacrev]
time_budget_s: 0.05
families:
  - name: lin
    builtin: linear
    d_in: [100]
    d_out: {{from: 10, to: 10000, search: crossover, max_cases: {max_cases}}}
"""


@dataclass(frozen=True)
class _Result:
    case: C

    @property
    def strategies(self) -> tuple[()]:
        return ()

    def result_rows(self) -> list[dict[str, Any]]:
        return rows(self.case)[0]

    def sample_rows(self) -> list[dict[str, Any]]:
        return rows(self.case)[1]


@dataclass
class Timings:
    """jacfwd 1 ms; jacrev grows as d_out^2 and matches it at d_out = 100."""

    seen: list[int]

    def __call__(self, planned: Any) -> _Result:
        c = planned.case
        self.seen.append(c.d_out)
        rev = 1e-3 * (c.d_out / 100) ** 2
        strategies = (S("jacfwd", 1e-3), S("jacrev", rev))
        return _Result(C(c.family, c.d_in, c.d_out, strategies, device=planned.device_id))


@pytest.fixture
def timings(monkeypatch: pytest.MonkeyPatch) -> Timings:
    fake = Timings([])
    monkeypatch.setattr(sweep, "_in_process", lambda *args, **kwargs: fake)
    return fake


def run(config: Path, out: Path, *extra: str) -> Any:
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--device", "cpu", *extra])
    assert r.exit_code == 0, r.output
    return r


def test_run_searches_and_stores_ordinary_cases(timings: Timings, tmp_path: Path) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(RUN.format(max_cases=12), encoding="utf-8")
    out = tmp_path / "out"
    r = run(config, out)
    assert timings.seen[:2] == [10, 10000] and len(timings.seen) == len(set(timings.seen)) <= 12
    v = pd.read_csv(out / schema.VERDICTS_FILE, keep_default_na=False)
    assert sorted(v["d_out"]) == sorted(timings.seen)  # every size an ordinary, judged case
    along = v.sort_values("d_out")[["d_out", "fwd_rev"]].to_numpy().tolist()
    changes = [(a, b) for (a, va), (b, vb) in zip(along, along[1:], strict=False) if va != vb]
    assert changes and all(b <= 1.5 * a for a, b in changes)
    assert along[0][1] == "jacrev" and along[-1][1] == "jacfwd"
    [cross] = pd.read_csv(out / schema.CROSSOVER_FILE).to_dict("records")
    assert cross["outcome"] == "crossover" and 80 < cross["crossover"] < 125
    assert "note: lin on cpu:0: searched d_out 10-10000 (d_in = 100)" in r.stderr
    assert f"{len(timings.seen)} sizes" in r.stderr


def test_resume_reuses_stored_sizes_and_ends_where_one_run_would(
    timings: Timings, tmp_path: Path
) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(RUN.format(max_cases=12), encoding="utf-8")
    run(config, tmp_path / "whole")
    whole = list(timings.seen)
    timings.seen.clear()

    config.write_text(RUN.format(max_cases=4), encoding="utf-8")
    out = tmp_path / "out"
    run(config, out)
    assert timings.seen == whole[:4]  # the budget stops it
    timings.seen.clear()
    config.write_text(RUN.format(max_cases=12), encoding="utf-8")
    run(config, out, "--resume")
    assert timings.seen == whole[4:]  # the first four found stored, none timed again
    timings.seen.clear()
    run(config, out, "--resume")
    assert timings.seen == []  # a finished search times nothing
    res = pd.read_csv(out / schema.RESULTS_FILE)
    assert sorted(res["d_out"].unique()) == sorted(whole)
    assert not res.duplicated(["case_id", "device", "strategy"]).any()


def test_dry_run_names_the_search_and_shards_refuse_it(timings: Timings, tmp_path: Path) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(RUN.format(max_cases=9), encoding="utf-8")
    r = runner.invoke(app, ["run", str(config), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "family lin: searches d_out 10-10000 (d_in = 100): its two ends above, then up to " \
        "7 more sizes" in r.stdout  # fmt: skip
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--shard", "1/2"])
    assert r.exit_code == 2 and "cannot run with --shard 1/2" in r.stderr
    assert r.stderr.startswith(f"error: {config}:8: families[0].d_out: a searched size range")
    assert not out.exists() and timings.seen == []


# -- real measurements ------------------------------------------------------------------------


def test_a_searched_size_is_measured_in_a_case_timeout_child(write_config) -> None:
    """The child process builds a case the run file does not list (a size between the ends)."""
    import jax

    from adbench.config.cases import expand
    from adbench.config.model import load_config
    from adbench.session.worker import Worker

    loaded = load_config(
        write_config(
            "families:\n  - name: l\n    builtin: linear\n    d_in: [3]\n"
            "    d_out: {from: 2, to: 50, search: crossover}\n"
        )
    )
    template = expand(loaded)[0]
    worker = Worker(loaded, sweep.settings_from(loaded))
    try:
        r = worker.measure(replace(template, d_out=7), jax.devices("cpu")[0], 120)
    finally:
        worker.close()
    assert [m.status for m in r.strategies] == ["ok", "ok"], r.strategies
    assert r.result_rows()[0]["case_id"] == "l/3x7"


def test_progress_of_a_searched_run_promises_no_total(timings: Timings, tmp_path: Path) -> None:
    """issue 18: '[5/6]' changed total as the search added sizes; a searched run counts cases
    without a total (a plain run keeps '[i/n]', tests/session/test_resume.py)."""
    config = tmp_path / "s.yaml"
    config.write_text(RUN.format(max_cases=12), encoding="utf-8")
    r = run(config, tmp_path / "out")
    counters = re.findall(r"^\[([^\]]*)\] lin/", r.stderr, flags=re.MULTILINE)
    assert counters == [str(i) for i in range(1, len(timings.seen) + 1)]
