"""Instruction counting: the callgrind parser (golden file from a real run), the worker's region
marking outside valgrind, the fingerprint, the missing-valgrind path, and one real count."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from adbench.count import instructions as ins
from adbench.count import valgrind as vg

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "instructions" / "callgrind.out"
JOBS_DIR = str(Path(__file__).resolve().parent)


# --- the parser ----------------------------------------------------------------------------------


def test_golden_regions_exact() -> None:
    """A real run (make_golden.py says which): settle and termination parts are skipped, idle
    spinning is taken out of the totals line."""
    with GOLDEN.open(encoding="utf-8") as fh:
        regions = vg.parse_callgrind(fh)
    assert [(r.label, r.rep, r.calls, r.instructions, r.idle) for r in regions] == [
        ("scan4 jacfwd", 0, 2, 338526, 208),
        ("scan8 jacfwd", 0, 2, 541608, 208),
        ("scan4 jacfwd", 1, 2, 343411, 100360),
        ("scan8 jacfwd", 1, 2, 542186, 200522),
        ("scan4 jacfwd", 2, 2, 331461, 100370),
        ("scan8 jacfwd", 2, 2, 538710, 208),
    ]


def test_golden_summary_per_call() -> None:
    with GOLDEN.open(encoding="utf-8") as fh:
        counts = ins.summarise(vg.parse_callgrind(fh))
    assert list(counts) == ["scan4 jacfwd", "scan8 jacfwd"]
    scan4 = counts["scan4 jacfwd"]
    assert scan4.per_call == (338526 / 2, 343411 / 2, 331461 / 2)
    assert scan4.reps == 3 and scan4.calls == 2
    assert scan4.median == 338526 / 2  # the median, not the mean (168 900) nor the first
    assert scan4.spread == pytest.approx((343411 - 331461) / 338526)


def _part(label: str, body: str, events: str = "Ir", positions: str = "line") -> str:
    return textwrap.dedent(
        f"""\
        part: 1
        desc: Trigger: Client Request: {label}
        positions: {positions}
        events: {events}
        summary: 999999999
        """
    ) + textwrap.dedent(body)


IDLE = "Eigen::ThreadPoolTempl<tsl::thread::EigenEnvironment>::MaybeGetTask(Task*)"


def test_call_costs_are_not_self_costs() -> None:
    """The line after calls= is the callee's inclusive cost: counting it as the idle function's
    own would take real work (here 5000) out of the region."""
    text = _part(
        "adbench rep=0 calls=4 label=f",
        f"""\
        fn=(1) {IDLE}
        0 30
        cfn=(2) do_real_work
        calls=1 0
        0 5000
        0 12
        fn=(2)
        0 5000
        totals: 10042
        """,
    )
    [region] = vg.parse_callgrind(text.splitlines())
    assert region.idle == 42
    assert region.instructions == 10000


def test_names_defined_at_a_call_site_and_reused() -> None:
    """A compressed name may first appear on a cfn= line; a later fn=(id) refers to it."""
    text = _part(
        "adbench rep=1 calls=1 label=g",
        f"""\
        fn=(7) main
        0 5
        cfn=(9) {IDLE}
        calls=1 0
        0 70
        fn=(9)
        0 70
        totals: 75
        """,
    )
    [region] = vg.parse_callgrind(text.splitlines())
    assert (region.instructions, region.idle) == (5, 70)


def test_ir_column_and_positions_from_the_header() -> None:
    """With two position columns and cache events the Ir column is not the first number."""
    text = _part(
        "adbench rep=0 calls=1 label=h",
        f"""\
        fn=(1) {IDLE}
        0x10 3 900 11 5
        totals: 500 111 9999
        """,
        events="Dr Ir Dw",
        positions="instr line",
    )
    [region] = vg.parse_callgrind(text.splitlines())
    assert (region.instructions, region.idle) == (111 - 11, 11)


def test_labels_with_spaces_and_equals_and_other_triggers() -> None:
    text = (
        _part("adbench rep=2 calls=3 label=linear/3x4 a=b jacfwd", "totals: 30\n")
        + _part("adbench settle", "totals: 7\n")
        + _part("not ours", "totals: 8\n")
    )
    [region] = vg.parse_callgrind(text.splitlines())
    assert (region.label, region.rep, region.calls, region.instructions) == (
        "linear/3x4 a=b jacfwd",
        2,
        3,
        30,
    )


def test_summarise_rejects_a_repetition_twice() -> None:
    twice = [vg.Region("f", 0, 1, 10), vg.Region("f", 0, 1, 11)]
    with pytest.raises(ValueError, match="twice"):
        ins.summarise(twice)


# --- the worker, outside valgrind (the client requests are then no-ops) --------------------------


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_count_regions_order_and_calls() -> None:
    a, b = _Counter(), _Counter()
    jobs = [ins.Job("a", a), ins.Job("b", b)]
    marks = ins.count_regions(jobs, reps=3, calls=4, warmup=2)
    assert marks == [(label, rep, 4) for rep in range(3) for label in ("a", "b")]
    # warm-up 2 + 3 x 4 counted; job 0 also runs once in the unread settling region
    assert (a.calls, b.calls) == (2 + 1 + 12, 2 + 12)


def test_count_regions_fits_calls_to_region_s() -> None:
    """10 s per warm-up call by a fake clock: 25 s fits 2 calls; 0.5 s still makes 1."""
    ticks = iter(range(0, 10_000, 10))
    jobs = [ins.Job("slow", _Counter())]
    marks = ins.count_regions(
        jobs, reps=1, calls=10, warmup=2, region_s=25.0, clock=lambda: float(next(ticks))
    )
    assert marks == [("slow", 0, 2)]
    ticks = iter(range(0, 10_000, 10))
    marks = ins.count_regions(
        jobs, reps=1, calls=10, warmup=2, region_s=0.5, clock=lambda: float(next(ticks))
    )
    assert marks == [("slow", 0, 1)]


def test_count_regions_bad_jobs_fail_before_running() -> None:
    ran = _Counter()
    with pytest.raises(ValueError, match="unique"):
        ins.count_regions([ins.Job("x", ran), ins.Job("x", ran)], reps=1, calls=1)
    with pytest.raises(ValueError, match="one line"):
        ins.count_regions([ins.Job("x\ny", ran)], reps=1, calls=1)
    with pytest.raises(ValueError, match="reps"):
        ins.count_regions([ins.Job("x", ran)], reps=0, calls=1)
    assert ran.calls == 0


def test_count_regions_restores_the_garbage_collector() -> None:
    import gc

    assert gc.isenabled()
    ins.count_regions([ins.Job("a", _Counter())], reps=1, calls=1)
    assert gc.isenabled()


def test_worker_main_outside_valgrind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker entry point builds and marks, and says it was not under valgrind."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # main() prepends the spec's sys_path
    spec = ins.WorkerSpec(
        builder="instructions_jobs:scan_jobs",
        kwargs={"steps": [2]},
        reps=2,
        calls=1,
        sys_path=(JOBS_DIR,),
        one_cpu=False,  # do not pin the test process
    )
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(ins.dataclasses.asdict(spec)), encoding="utf-8")
    assert ins.main([str(path)]) == 0
    report = json.loads((tmp_path / "worker.json").read_text(encoding="utf-8"))
    assert report["marks"] == [["scan2 jacfwd", 0, 1], ["scan2 jacfwd", 1, 1]]
    assert report["on_valgrind"] is False
    assert set(report["seconds"]) == {"import", "build", "count"}
    assert ins.main([]) == 2


def test_not_on_valgrind_natively() -> None:
    assert vg.running_on_valgrind() is False


# --- fingerprint and availability ----------------------------------------------------------------


def test_cpu_seen_natively_reports_brand_and_known_flags() -> None:
    seen = vg.cpu_seen()
    brand, _, flags = seen.rpartition(" [")
    assert brand and flags.endswith("]")
    assert set(flags[:-1].split()) <= {name for name, *_ in vg.CPU_FLAGS}


def test_fingerprint_keys() -> None:
    fp = ins.fingerprint("Intel(R) Core(TM) i7-4910MQ [avx avx2]")
    assert set(ins.COMPARABLE_KEYS) <= set(fp)
    assert fp["cpu_under_valgrind"] == "Intel(R) Core(TM) i7-4910MQ [avx avx2]"
    assert fp["jax"] != "absent" and fp["python"].count(".") == 2
    assert "host_cpu_model" in fp and "host_cpu_model" not in ins.COMPARABLE_KEYS
    assert set(fp["host_cpu_flags"].split()) <= {name for name, *_ in vg.CPU_FLAGS}
    assert fp["valgrind"] == (ins.valgrind_version() or "absent")


def test_fingerprint_without_valgrind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert ins.fingerprint("cpu")["valgrind"] == "absent"


def test_missing_valgrind_raises_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert ins.valgrind_version() is None
    with pytest.raises(ins.InstructionsUnavailable) as err:
        ins.require_valgrind()
    message = str(err.value)
    assert "\n" not in message and "apt-get install valgrind" in message
    with pytest.raises(ins.InstructionsUnavailable):
        ins.run_under_valgrind(ins.WorkerSpec(builder="x:y"), workdir=tmp_path / "w", timeout=10)
    assert not (tmp_path / "w").exists()  # nothing written, nothing started


def test_worker_env_puts_this_checkout_first() -> None:
    env = ins.worker_env({"PYTHONPATH": "/elsewhere", "XLA_FLAGS": "--keep"})
    root = str(Path(ins.__file__).resolve().parents[2])
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/elsewhere"]
    assert env["PYTHONHASHSEED"] == "0" and env["XLA_FLAGS"] == "--keep"


# --- one real count ------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif(not vg.is_x86_64() or sys.platform != "linux", reason="x86-64 Linux only")
def test_real_count_sees_work_on_xla_threads(tmp_path: Path) -> None:
    """jacfwd of a 32-wide tanh RNN, 10 and 40 steps: XLA's flops are equal, the counts are not.

    Most of the work runs on XLA's pool threads (benchmarks/instructions_check.py --flags), so a
    count of the calling thread alone would barely grow. ~20-40 s on 2 cores; not skipped in CI
    as long as CI installs valgrind (.ci/run).
    """
    spec = ins.WorkerSpec(
        builder="instructions_jobs:scan_jobs",
        kwargs={"steps": [10, 40]},
        reps=3,
        calls=3,
        sys_path=(JOBS_DIR,),
    )
    counted = ins.run_under_valgrind(spec, workdir=tmp_path, timeout=600)
    short, long = counted.counts["scan10 jacfwd"], counted.counts["scan40 jacfwd"]
    assert short.reps == long.reps == 3
    assert 2.0 < long.median / short.median < 4.5, (short, long)
    assert long.spread < 0.05, long
    assert counted.cpu_seen.endswith("]")
    assert set(counted.seconds) == {"import", "build", "count"}
