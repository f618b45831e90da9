"""adbench.render.export: github-action-benchmark customSmallerIsBetter JSON, golden runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adbench.render.export import DEFAULT_METRICS, github_action_benchmark
from adbench.store.results import load_results

GOLDEN = Path(__file__).parents[1] / "data" / "compare"


def test_entries_follow_the_custom_format() -> None:
    res = load_results(GOLDEN / "cur")
    entries = github_action_benchmark(res)
    json.dumps(entries, allow_nan=False)  # what the action reads: plain, finite JSON
    ok = res.results[res.results["status"] == "ok"]
    timed = [m for m in DEFAULT_METRICS if m != "instructions"]  # a timed run counts none
    assert len(entries) == len(ok) * len(timed)
    names = [e["name"] for e in entries]
    assert len(set(names)) == len(names)
    for e in entries:
        assert set(e) <= {"name", "unit", "value", "range", "extra"}
        assert isinstance(e["value"], float) and e["value"] >= 0
        assert isinstance(e.get("range", ""), str) and isinstance(e.get("extra", ""), str)
    by_name = {e["name"]: e for e in entries}
    slow = by_name["slower/200x200 jacfwd cpu:0 median"]
    assert (slow["unit"], slow["value"]) == ("us", pytest.approx(2000.0))
    assert slow["range"] == "± 40"  # the stored CI is median +-2%
    assert "12 samples" in slow["extra"] and "jax 0.10.2, cpu" in slow["extra"]
    flops = by_name["costlier/64x64 jacrev cpu:0 flops"]
    assert (flops["unit"], flops["value"]) == ("flops", 1.5e6)
    assert by_name["costlier/64x64 jacrev cpu:0 temp_bytes"]["unit"] == "bytes"
    # a mode that did not measure cleanly is left out rather than exported as a wrong number
    assert not any(n.startswith("breaks/50x50 jacrev") for n in names)
    assert any(n.startswith("breaks/50x50 jacfwd") for n in names)


def test_metric_choice_and_unknown_metric() -> None:
    res = load_results(GOLDEN / "base")
    entries = github_action_benchmark(res, ["compile"])
    assert {e["unit"] for e in entries} == {"ms"}
    assert entries[0]["value"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="unknown metric speed; choose from median"):
        github_action_benchmark(res, ["speed"])


def test_cli_export(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from adbench.cli import app

    out = tmp_path / "bench.json"
    r = CliRunner().invoke(app, ["export", str(GOLDEN / "cur"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    entries = json.loads(out.read_text(encoding="utf-8"))
    assert entries == github_action_benchmark(load_results(GOLDEN / "cur"))
    r = CliRunner().invoke(app, ["export", str(GOLDEN / "cur"), "-m", "compile", "-m", "flops"])
    assert r.exit_code == 0 and {e["unit"] for e in json.loads(r.stdout)} == {"ms", "flops"}
    assert CliRunner().invoke(app, ["export", str(GOLDEN / "cur"), "-m", "speed"]).exit_code == 2
    assert CliRunner().invoke(app, ["export", str(GOLDEN / "old-schema")]).exit_code == 2
    assert CliRunner().invoke(app, ["export", str(GOLDEN / "cur"), "-f", "csv"]).exit_code == 2


def test_one_entry_per_strategy_that_ran() -> None:
    res = load_results(GOLDEN.parent / "v2" / "report")
    entries = github_action_benchmark(res, ["median"])
    names = [e["name"] for e in entries]
    assert "chunked/200x20 jacrev_chunked cpu:0 median" in names
    assert "hess/100x1 sparse cpu:0 median" in names
    ok = res.results[res.results["status"] == "ok"]
    assert len(names) == len(set(names)) == len(ok)
    assert not [n for n in names if n.startswith(("odeint/50x5 jacfwd", "wide/2000x2000 jacrev"))]


def test_rows_of_several_machines_name_their_host(tmp_path: Path) -> None:
    from builders import C, S, write_run

    cases = [C("f", 2, 2, (S("jacfwd", 1e-3), S("jacrev", 2e-3)), host=h) for h in ("a", "b")]
    res = load_results(write_run(tmp_path / "two", cases))
    names = [e["name"] for e in github_action_benchmark(res, ["median"])]
    assert names == [
        "f/2x2 jacfwd a/cpu:0 median",
        "f/2x2 jacrev a/cpu:0 median",
        "f/2x2 jacfwd b/cpu:0 median",
        "f/2x2 jacrev b/cpu:0 median",
    ]
