"""Instructions per call, counted under valgrind's callgrind: a CI signal that does not flake.

Why: XLA's cost_analysis counts a loop body once, so a scan running 1.5x the steps has the same
flops, bytes and temp memory; wall time sees it but is noisy on shared 2-core machines. Executed
instructions under valgrind are near-deterministic and see the extra steps. Measured with
benchmarks/instructions_check.py (valgrind 3.19, jax 0.10.2, 2-core VM): a 40- vs 60-step RNN
(64 -> 256) has equal flops and x1.45 the instructions; the same code counted in two processes
differs by <= 0.85% (configs/ci.yaml, medians of 3 repetitions); one process for ci.yaml's 26
case x mode takes 84-138 s, most of it tracing and compiling under valgrind.

One valgrind'd process per config, so the JAX import is paid once:

* the parent (:func:`run_under_valgrind`) writes a :class:`WorkerSpec` and launches
  ``valgrind --tool=callgrind --instr-atstart=no ... python -m adbench.count.instructions SPEC``;
* the worker (:func:`main`) pins itself to one CPU, imports JAX and calls the spec's builder,
  which compiles every case x strategy and returns :class:`Job` runners. All of this runs with
  instrumentation *off*, at about valgrind's minimum slowdown;
* :func:`count_regions` switches instrumentation on and, per repetition and job, zeroes the
  counters, makes ``calls`` calls and dumps the counters under a label (client requests, see
  :mod:`adbench.count.valgrind`). Callgrind merges all threads into one profile
  (``--separate-threads=no``): work XLA runs on its pool threads is inside the region, and
  with ``--separate-threads=yes`` it would not be (a dump then holds the calling thread only);
* the parent parses the labelled dumps and :func:`summarise` gives instructions per call with
  their spread over the repetitions.

Under valgrind, XLA compiles for valgrind's synthetic CPU, not the host's, so the worker reports
the CPU it sees and :func:`fingerprint` keys comparability on that, not on the host model.

Longer than ~400 lines on purpose: the parent and the worker speak one protocol (the WorkerSpec
file, the region labels, the dump names); kept in one module so a change to one side cannot miss the
other. Valgrind's client requests are adbench.count.valgrind.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adbench.count import valgrind as vg
from adbench.store import schema

INSTALL_HINT = (
    "--measure instructions needs valgrind, not found on PATH: install it "
    "(Debian/Ubuntu: apt-get install valgrind; Fedora: dnf install valgrind)"
)

# --instr-atstart=no: import and compile at ~valgrind's minimum slowdown; count_regions turns
# instrumentation on. --separate-threads=no: every thread in each dump (see above). --combine-dumps:
# all regions in one file. --vgdb=no: no FIFOs in /tmp, no polling. Defaults that matter are
# spelled out, as ~/.valgrindrc or VALGRIND_OPTS could change them: no cache or branch simulation
# (instructions are the signal, and the simulators multiply the slowdown), no per-instruction dumps.
VALGRIND_FLAGS = (
    "--tool=callgrind",
    "--instr-atstart=no",
    "--separate-threads=no",
    "--combine-dumps=yes",
    "--vgdb=no",
    "--cache-sim=no",
    "--branch-sim=no",
    "--dump-instr=no",
)
# The worker's environment. PYTHONHASHSEED: dict layouts, and so instructions, alike run to run.
# No XLA flags of ours and JAX's async dispatch left on: once the worker is pinned to one CPU,
# neither `--xla_cpu_multi_thread_eigen=false` nor synchronous dispatch changed the counts (within
# 0.3%) or their spread (benchmarks/instructions_check.py --flags), so the user's settings stand
# (fingerprint() records XLA_FLAGS).
WORKER_ENV = {"PYTHONHASHSEED": "0", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}


class InstructionsUnavailable(RuntimeError):
    """Instruction counting cannot run here (no valgrind, or not x86-64 Linux): exit 2."""


class InstructionsFailed(RuntimeError):
    """The valgrind'd worker failed, ran too long, or its output lacks regions it marked."""


@dataclass(frozen=True)
class Job:
    """One thing to count: ``run()`` calls a compiled function once and blocks until ready."""

    label: str
    run: Callable[[], object]


@dataclass(frozen=True)
class InstructionCount:
    """Instructions per call of one label: one value per repetition, each over ``calls`` calls."""

    label: str
    per_call: tuple[float, ...]
    calls: int

    @property
    def median(self) -> float:
        return float(statistics.median(self.per_call))

    @property
    def spread(self) -> float:
        """(max - min) / median over the repetitions: the noise a compare threshold must clear."""
        return (max(self.per_call) - min(self.per_call)) / self.median if self.median else 0.0

    @property
    def reps(self) -> int:
        return len(self.per_call)


@dataclass(frozen=True)
class WorkerSpec:
    """What the worker runs: ``builder`` ("module:function", importable in the worker once
    ``sys_path`` is prepended) called with ``kwargs`` returns the jobs, compiled."""

    builder: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    reps: int = 3
    calls: int = 10
    warmup: int = 2
    region_s: float | None = 0.5
    sys_path: tuple[str, ...] = ()
    one_cpu: bool = True


@dataclass(frozen=True)
class Counted:
    """One valgrind'd process's result: counts per label, the regions they come from (raw, idle
    spinning included apart), the CPU XLA saw under valgrind, the worker's phases in seconds
    (import, build = trace + compile, count) and the process's wall time."""

    counts: Mapping[str, InstructionCount]
    regions: tuple[vg.Region, ...]
    cpu_seen: str
    seconds: Mapping[str, float]
    wall_s: float


def valgrind_version(valgrind: str = "valgrind") -> str | None:
    """``valgrind-3.19.0``, or None when valgrind is not on PATH or does not run."""
    exe = shutil.which(valgrind)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def require_valgrind(valgrind: str = "valgrind") -> str:
    """The valgrind version; :class:`InstructionsUnavailable` (one line) when it cannot count."""
    if platform.system() != "Linux" or not vg.is_x86_64():
        raise InstructionsUnavailable(
            f"--measure instructions needs x86-64 Linux, not {platform.system()} "
            f"{platform.machine()}: its region markers are x86-64 valgrind client requests"
        )
    version = valgrind_version(valgrind)
    if version is None:
        raise InstructionsUnavailable(INSTALL_HINT)
    return version


def summarise(regions: Iterable[vg.Region]) -> dict[str, InstructionCount]:
    """Instructions per call per label, repetitions in order; labels in first-seen order."""
    per_label: dict[str, list[vg.Region]] = {}
    for r in regions:
        per_label.setdefault(r.label, []).append(r)
    out: dict[str, InstructionCount] = {}
    for label, rs in per_label.items():
        rs.sort(key=lambda r: r.rep)
        if len({r.rep for r in rs}) != len(rs) or any(r.calls < 1 for r in rs):
            raise ValueError(f"{label}: a repetition twice, or one with no calls")
        per_call = tuple(r.instructions / r.calls for r in rs)
        out[label] = InstructionCount(label, per_call, rs[0].calls)
    return out


# --- the worker side -----------------------------------------------------------------------------


def count_regions(
    jobs: Sequence[Job],
    *,
    reps: int,
    calls: int,
    warmup: int = 2,
    region_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[tuple[str, int, int]]:
    """Mark ``reps`` regions per job; return (label, rep, calls) in the order marked.

    Runs in the valgrind'd worker; outside valgrind the requests do nothing (tests use that).
    Every job is first called ``warmup`` times with instrumentation on (Python's specialisation,
    lazy allocations, callgrind re-translating code are not part of a call). A region holds
    ``calls`` calls, or with ``region_s`` as many as fit in that many seconds by the last warm-up
    call's time, between 1 and ``calls``: a 20 M-instruction call varies by 0.02% alone and
    takes over 0.5 s under callgrind, a 0.15 M one varies by ~1% and gains from 10. Repetitions
    go round the jobs (rep 0 of every job, then rep 1, ...), so a job's spread includes the state
    other jobs leave behind.
    The garbage collector is off while counting: a collection would land in one repetition (and
    a collection per region cost ~0.4 s under callgrind with JAX's heap).
    """
    if reps < 1 or calls < 1 or warmup < 0:
        raise ValueError(f"need reps >= 1, calls >= 1, warmup >= 0, got {reps}, {calls}, {warmup}")
    labels = [job.label for job in jobs]
    if len(set(labels)) != len(labels):
        raise ValueError("job labels must be unique")
    for label in labels:
        vg.region_label(label, 0, 0)  # a bad label fails before anything runs
    zero = vg.Request(vg.ZERO_STATS)
    marks: list[tuple[str, int, int]] = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    vg.Request(vg.START_INSTRUMENTATION)()
    try:
        n_calls = []
        for job in jobs:
            last = math.inf
            for _ in range(warmup):
                start = clock()
                job.run()
                last = clock() - start
            fit = calls if region_s is None or warmup == 0 else int(region_s / max(last, 1e-9))
            n_calls.append(max(1, min(calls, fit)))
        if jobs:  # a region nobody reads: the first one after the warm-ups ran 5-7% high
            zero()
            jobs[0].run()
            vg.Request(vg.DUMP_STATS_AT, "adbench settle")()
        for rep in range(reps):
            for job, n in zip(jobs, n_calls, strict=True):
                dump = vg.Request(vg.DUMP_STATS_AT, vg.region_label(job.label, rep, n))
                run = job.run
                zero()
                for _ in range(n):
                    run()
                dump()
                marks.append((job.label, rep, n))
    finally:
        vg.Request(vg.STOP_INSTRUMENTATION)()
        if gc_was_enabled:
            gc.enable()
    return marks


def main(argv: Sequence[str] | None = None) -> int:
    """Worker: ``python -m adbench.count.instructions SPEC.json``, run under valgrind.

    Writes ``worker.json`` next to the spec: the regions marked, the CPU seen, phase seconds.
    Pinned to one CPU first: XLA sizes its thread pools from the CPUs it may use, so a 2-core and
    a 4-core runner would otherwise count different pool overheads; valgrind runs one thread at a
    time anyway, so the pin costs no wall time.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m adbench.count.instructions SPEC.json", file=sys.stderr)
        return 2
    spec_path = Path(args[0])
    spec = WorkerSpec(**json.loads(spec_path.read_text(encoding="utf-8")))
    if spec.one_cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    t0 = time.perf_counter()
    import jax  # noqa: F401  (timed apart from the builder)

    t1 = time.perf_counter()
    sys.path[:0] = list(spec.sys_path)
    module, _, name = spec.builder.partition(":")
    jobs = getattr(importlib.import_module(module), name)(**dict(spec.kwargs))
    t2 = time.perf_counter()
    marks = count_regions(
        jobs, reps=spec.reps, calls=spec.calls, warmup=spec.warmup, region_s=spec.region_s
    )
    report = {
        "marks": marks,
        "cpu_seen": vg.cpu_seen(),
        "on_valgrind": vg.running_on_valgrind(),
        "seconds": {"import": t1 - t0, "build": t2 - t1, "count": time.perf_counter() - t2},
    }
    (spec_path.parent / "worker.json").write_text(json.dumps(report), encoding="utf-8")
    return 0


# --- the parent side -----------------------------------------------------------------------------


def valgrind_command(out_file: Path, log_file: Path, valgrind: str = "valgrind") -> list[str]:
    """valgrind and its flags; callgrind output to ``out_file``, valgrind's log to ``log_file``."""
    return [valgrind, *VALGRIND_FLAGS, f"--callgrind-out-file={out_file}", f"--log-file={log_file}"]


def worker_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: ``base`` (default: this process's) with WORKER_ENV, and this
    adbench first on the path (an editable install of another checkout must not shadow it)."""
    env = dict(os.environ if base is None else base)
    env.update(WORKER_ENV)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def run_under_valgrind(
    spec: WorkerSpec,
    *,
    workdir: Path,
    timeout: float,
    valgrind: str = "valgrind",
    env: Mapping[str, str] | None = None,
    extra_flags: Sequence[str] = (),
) -> Counted:
    """Count ``spec``'s jobs in one valgrind'd worker; its files (spec, output, log) in ``workdir``.

    ``env`` overrides entries of the worker's environment and ``extra_flags`` adds valgrind flags
    (the benchmark compares settings so; adbench passes neither). Raises
    :class:`InstructionsUnavailable` without valgrind, :class:`InstructionsFailed` when the worker
    fails, runs past ``timeout`` seconds, or a region it marked is missing from the output.
    """
    require_valgrind(valgrind)
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path, out, log = workdir / "spec.json", workdir / "callgrind.out", workdir / "valgrind.log"
    report_path = workdir / "worker.json"
    for stale in (out, log, report_path):
        stale.unlink(missing_ok=True)
    spec_path.write_text(json.dumps(dataclasses.asdict(spec)), encoding="utf-8")
    argv = [*valgrind_command(out, log, valgrind), *extra_flags]
    argv += [sys.executable, "-m", "adbench.count.instructions", str(spec_path)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            env={**worker_env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise InstructionsFailed(f"the valgrind'd worker ran past {timeout:g} s") from None
    wall = time.perf_counter() - started
    if proc.returncode != 0 or not report_path.exists():
        said = proc.stderr.strip() or (
            log.read_text(errors="replace").strip() if log.exists() else ""
        )
        tail = (said.splitlines() or ["no output"])[-1]
        raise InstructionsFailed(f"the valgrind'd worker exited {proc.returncode}: {tail}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    with out.open(encoding="utf-8", errors="replace") as fh:
        regions = vg.parse_callgrind(fh)
    found = {(r.label, r.rep) for r in regions}
    missing = [(label, rep) for label, rep, _ in report["marks"] if (label, rep) not in found]
    if missing or not report["on_valgrind"]:
        raise InstructionsFailed(f"callgrind's output lacks {len(missing)} regions: {missing[:3]}")
    return Counted(summarise(regions), tuple(regions), report["cpu_seen"], report["seconds"], wall)


# --- comparability -------------------------------------------------------------------------------

# Keys of fingerprint() that must agree for two counts to be compared (part of the results
# contract, so adbench compare reads them without this module); the host_* keys are kept for the
# record (they decide cpu_under_valgrind through valgrind, and nothing else).
COMPARABLE_KEYS = schema.INSTRUCTIONS_COMPARABLE


def host_cpu() -> tuple[str, str]:
    """The host's CPU model and its flags among valgrind.CPU_FLAGS, from /proc/cpuinfo."""
    model, flags = "", ""
    names = [name for name, *_ in vg.CPU_FLAGS]
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    have = set(value.split())
                    flags = " ".join(f for f in names if f in have)
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def fingerprint(cpu_under_valgrind: str, valgrind: str = "valgrind") -> dict[str, str]:
    """What makes instruction counts comparable (COMPARABLE_KEYS), plus the host for the record.

    ``cpu_under_valgrind`` is :attr:`Counted.cpu_seen`: the CPU XLA compiled for. Python is in
    (a small case's count is mostly interpreted dispatch), glibc (malloc), and XLA_FLAGS as the
    worker inherits them from this process.
    """
    from importlib import metadata

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "absent"

    model, flags = host_cpu()
    return {
        "valgrind": valgrind_version(valgrind) or "absent",
        "cpu_under_valgrind": cpu_under_valgrind,
        "python": platform.python_version(),
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
        "glibc": "-".join(platform.libc_ver()),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "host_cpu_model": model,
        "host_cpu_flags": flags,
    }


if __name__ == "__main__":
    sys.exit(main())
