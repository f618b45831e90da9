"""adbench run --measure instructions (adbench.count.engine): options refused before anything runs,
the wiring with the valgrind'd process faked (counts land in results.csv, repetitions and the
fingerprint in meta.json, statuses from the check kept), and one real run under valgrind."""

from __future__ import annotations

import json
import math
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from adbench.cli import app
from adbench.count import engine as count
from adbench.count import instructions as ins
from adbench.session.resume import measure_conflict as resume_conflict
from adbench.store import schema

runner = CliRunner()

TINY = """\
name: tiny
families:
  - name: linear
    builtin: linear
    params: {activation: tanh}
    strategies: [jacfwd, jacrev, jacfwd_chunked]
    points: [[6, 5]]
"""


def one_error_line(r: Any) -> str:
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture
def tiny(write_config) -> Path:
    return write_config(TINY, fast=False)


def test_no_valgrind_exits_2_with_how_to_install(tiny: Path, tmp_path: Path, monkeypatch) -> None:
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the install hint is for x86-64 Linux")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    out = tmp_path / "out"
    line = one_error_line(
        runner.invoke(app, ["run", str(tiny), "--out", str(out), "--measure", "instructions"])
    )
    assert line == f"error: {ins.INSTALL_HINT}"
    assert "apt-get install valgrind" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--device", "gpu"], "--measure instructions counts CPU instructions"),
        (["--device", "all"], "use --device cpu or leave it out"),
        (["--engine", "ray"], "not with --engine ray"),
    ],
)
def test_refused_combinations_exit_2(tiny: Path, tmp_path: Path, extra, says) -> None:
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["run", str(tiny), "--out", str(out), "--measure", "instructions", *extra]
    )
    assert says in one_error_line(r)
    assert not out.exists()


def test_resume_keeps_what_was_measured() -> None:
    assert resume_conflict({}, "time") is None  # directories from before --measure
    assert resume_conflict({"measure": "instructions"}, "instructions") is None
    why = resume_conflict({}, "instructions")
    assert why == "its results were measured with --measure time, not instructions"
    assert "--measure instructions, not time" in str(
        resume_conflict({"measure": "instructions"}, "time")
    )


# --- the wiring, with the valgrind'd process faked ------------------------------------------------


class FakeValgrind:
    """Stands in for count.count_checked: builds the jobs with the real builder (in this process,
    where the region markers do nothing), checks each job's value against plain autodiff at the
    input the measuring code makes, and returns made-up counts."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.targets: list[count.Target] = []

    def __call__(self, loaded, settings, targets, **_: Any) -> ins.Counted:
        import jax

        from adbench.config.cases import expand
        from adbench.measure import case as measure

        self.targets = list(targets)
        if self.fail:
            raise ins.InstructionsFailed(self.fail)
        spec = [[t.case_id, t.strategy, t.chunk_size] for t in targets]
        jobs = count.build(str(loaded.path), spec, settings.__dict__)
        case = expand(loaded)[0]
        fn, x = measure._build(case, settings, jax.devices("cpu")[0])
        want = np.asarray(jax.jacfwd(fn)(x))
        for job in jobs:
            np.testing.assert_allclose(np.asarray(job.run()), want, rtol=1e-5, atol=1e-6)
        assert ins.count_regions(jobs, reps=3, calls=2, warmup=1) == [
            (job.label, rep, 2) for rep in range(3) for job in jobs
        ]
        counts = {
            job.label: ins.InstructionCount(job.label, (1000.0 + i, 1010.0 + i, 990.0 + i), 10)
            for i, job in enumerate(jobs)
        }
        return ins.Counted(counts, (), "Fake CPU [avx2]", {"import": 1.0, "build": 2.0}, 4.0)


@pytest.fixture
def fake(monkeypatch) -> FakeValgrind:
    monkeypatch.setattr(ins, "require_valgrind", lambda valgrind="valgrind": "valgrind-fake")
    f = FakeValgrind()
    monkeypatch.setattr(count, "count_checked", f)
    return f


def test_counted_rows_through_the_writer(tiny: Path, tmp_path: Path, fake: FakeValgrind) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(tiny), "--out", str(out), "--measure", "instructions"])
    assert r.exit_code == 0, r.output
    assert "Instructions per call" in r.stdout and "1 k" in r.stdout
    # only the strategies the check let through are counted; the skipped twin keeps its status
    assert [(t.case_id, t.strategy) for t in fake.targets] == [
        ("linear/6x5", "jacfwd"),
        ("linear/6x5", "jacrev"),
    ]
    res = pd.read_csv(out / schema.RESULTS_FILE).set_index("strategy")
    assert list(res.index) == ["jacfwd", "jacrev", "jacfwd_chunked"]
    assert res.loc["jacfwd", "instructions"] == 1000.0
    assert res.loc["jacfwd", "instructions_spread"] == pytest.approx(20 / 1000)
    assert res.loc["jacrev", "instructions"] == 1001.0
    assert (res.loc["jacfwd", "instructions_reps"], res.loc["jacrev", "status"]) == (3, "ok")
    skipped = res.loc["jacfwd_chunked"]
    assert skipped["status"] == "skipped" and math.isnan(skipped["instructions"])
    # checked and compiled as for timing (XLA's costs, compile seconds), but not timed
    assert res.loc["jacfwd", "flops"] > 0 and res.loc["jacfwd", "compile_s"] > 0
    assert res["median_s"].isna().all() and (res["n_samples"] == 0).all()
    assert len(pd.read_csv(out / schema.SAMPLES_FILE)) == 0  # samples.csv holds seconds only
    meta = json.loads((out / schema.META_FILE).read_text())
    assert meta["measure"] == "instructions"
    fp = meta["instructions_fingerprint"]
    assert fp["cpu_under_valgrind"] == "Fake CPU [avx2]"
    assert set(schema.INSTRUCTIONS_COMPARABLE) <= set(fp)
    rep = meta["instructions"]["per_rep"]["linear/6x5 jacrev"]
    assert rep == {"per_call": [1001.0, 1011.0, 991.0], "calls": 10}
    assert meta["instructions"]["processes"][0]["wall_s"] == 4.0

    # a resume with nothing left to count keeps the record; one measuring time is refused
    again = runner.invoke(
        app, ["run", str(tiny), "--out", str(out), "--measure", "instructions", "--resume"]
    )
    assert again.exit_code == 0, again.output
    kept = json.loads((out / schema.META_FILE).read_text())
    assert kept["instructions_fingerprint"] == fp and kept["instructions"]["per_rep"]
    line = one_error_line(runner.invoke(app, ["run", str(tiny), "--out", str(out), "--resume"]))
    assert "measured with --measure instructions, not time" in line
    # a timed run records what it measured too
    timed = tmp_path / "timed"
    assert runner.invoke(app, ["run", str(tiny), "--out", str(timed), "-q"]).exit_code == 0
    assert json.loads((timed / schema.META_FILE).read_text())["measure"] == "time"


def test_a_failed_counting_is_each_counted_rows_error(
    tiny: Path, tmp_path: Path, fake: FakeValgrind
) -> None:
    fake.fail = "the valgrind'd worker exited 1: boom (its files are in /tmp/x)"
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(tiny), "--out", str(out), "--measure", "instructions"])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    res = pd.read_csv(out / schema.RESULTS_FILE).set_index("strategy")
    assert list(res["status"]) == ["error", "error", "skipped"]
    assert res.loc["jacrev", "reason"] == f"instruction counting failed: {fake.fail}"
    assert res["instructions"].isna().all()
    assert "instructions_fingerprint" not in json.loads((out / schema.META_FILE).read_text())


def test_with_counts_and_run_record() -> None:
    from adbench.config.cases import Case
    from adbench.measure.outcome import CaseResult, StrategyResult

    case = Case("f", 2, 3, "builtin:f", factory=lambda d_in, d_out: None)
    result = CaseResult(
        case,
        "cpu:0",
        "cpu",
        "cpu",
        "float32",
        True,
        (
            StrategyResult("jacfwd"),
            StrategyResult("jacrev"),
            StrategyResult("linearize", schema.STATUS_MISMATCH, "disagrees"),
        ),
    )
    assert count.targets_of([result]) == [
        count.Target("f/2x3", "jacfwd"),
        count.Target("f/2x3", "jacrev"),
    ]
    fwd = ins.InstructionCount("f/2x3 jacfwd", (100.0, 104.0, 102.0), 10)
    got = count.with_counts(result, {fwd.label: fwd}, None)
    rows = {r["strategy"]: r for r in got.result_rows()}
    assert (rows["jacfwd"]["instructions"], rows["jacfwd"]["instructions_reps"]) == (102.0, 3.0)
    assert rows["jacfwd"]["instructions_spread"] == pytest.approx(4 / 102)
    # a clean strategy without a count is an error, never a silent hole; others keep theirs
    assert (rows["jacrev"]["status"], rows["jacrev"]["reason"]) == (
        "error",
        "instruction counting returned no count for it",
    )
    assert (rows["linearize"]["status"], rows["linearize"]["reason"]) == ("mismatch", "disagrees")
    assert math.isnan(rows["linearize"]["instructions"])

    counted = ins.Counted({fwd.label: fwd}, (), "cpu", {"count": 1.0}, 2.0)
    first = count.run_record(counted, None, reps=3, calls=10)
    rev = ins.InstructionCount("f/2x3 jacrev", (7.0, 7.0, 7.0), 5)
    second = count.run_record(
        ins.Counted({rev.label: rev}, (), "cpu", {}, 1.0), first, reps=3, calls=10
    )
    assert set(second["per_rep"]) == {"f/2x3 jacfwd", "f/2x3 jacrev"}  # a resume adds, keeps
    assert [p["wall_s"] for p in second["processes"]] == [2.0, 1.0]


# --- one real run under valgrind ------------------------------------------------------------------

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None
    or platform.machine().lower() not in ("x86_64", "amd64")
    or platform.system() != "Linux",
    reason="needs valgrind on x86-64 Linux (.ci/run installs it)",
)


@needs_valgrind
def test_real_valgrind_end_to_end(write_config, tmp_path: Path) -> None:
    """~30-60 s on 2 cores: JAX's import and two compiles under valgrind, then the counting."""
    config = write_config(TINY.replace(", jacfwd_chunked", ""), fast=False)
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--measure", "instructions"])
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out / schema.RESULTS_FILE).set_index("strategy")
    for name in ("jacfwd", "jacrev"):
        row = res.loc[name]
        assert row["status"] == "ok" and row["instructions_reps"] == 3
        # a 6 -> 5 Jacobian is tens of thousands of instructions per call, not millions
        assert 5e3 < row["instructions"] < 5e6, row["instructions"]
        assert 0 <= row["instructions_spread"] < 0.2
    meta = json.loads((out / schema.META_FILE).read_text())
    assert meta["instructions_fingerprint"]["valgrind"].startswith("valgrind-")
    assert len(meta["instructions"]["per_rep"]) == 2
    same = runner.invoke(
        app,
        ["compare", str(out), str(out), "--tier", "instructions", "--strict"],
        env={"GITHUB_STEP_SUMMARY": ""},
    )
    assert same.exit_code == 0, same.output
