"""Does `adbench compare --tier instructions` catch a slowdown XLA's counts miss, without false
alarms? Next to the timing tier on the same code, and what an instructions run costs.

    .venv/bin/python benchmarks/instructions_gate.py               # ~9 min on 2 shared cores
    .venv/bin/python benchmarks/instructions_gate.py --reps 2 --no-ci --keep /tmp/ig

The code under test is configs/ci_instructions.yaml (the CI gate's config: 4 cases x jacfwd,
jacrev) and a variant of it whose `scan` case (x -> C h_T, h <- h + 0.1 tanh(W h), 64 -> 256)
runs 60 lax.scan steps instead of 40: x1.5 the loop's work, with XLA's flops and bytes accessed
identical (a loop body is counted once); temp memory too under jacfwd (jacrev stores a residual
per step: +1.9%). Every repetition runs, back to back, in fresh
processes (`python -m adbench run`), the base and the variant timed (`--measure time`) and
counted (`--measure instructions`). Then every pair of runs is compared with adbench's own gate:

* same code (A/A): each pair of base runs and each pair of variant runs; a comparison "fails"
  for the instructions tier when `--tier instructions --strict` would exit 1, for the timing tier
  when the default `adbench compare` finds a timing regression;
* injected x1.5 (base run i -> variant run j, every i, j): "detected" when that tier flags
  scan/64x256 as a regression; the deterministic tier (flops, bytes, temp) is shown beside them.

Finally the wall time of `adbench run configs/ci.yaml --measure instructions` (13 cases x 2
strategies; --no-ci skips it). Figures, not assertions.

Last run (valgrind 3.19, jax 0.10.2, a shared 2-core AMD EPYC VM, load 1.3-2.7, 549 s in all):
same-code comparisons failed 0/6 (instructions), 0/6 (timing), 0/6 (deterministic); scan x1.5
detected under jacfwd 9/9, 3/9, 0/9 and under jacrev 9/9, 4/9, 9/9 (temp bytes); instructions
x1.454 / x1.456 in every pair, same code <= 0.26% apart; an instructions run of this config 64-75
s, of configs/ci.yaml 101 s. Details in README, "Instruction counts: the tier that sees what FLOPs
miss".
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from adbench.compare import gate  # noqa: E402
from adbench.compare.model import Kind, Scope, Settings, Tier  # noqa: E402
from adbench.store.results import Results, load_results  # noqa: E402

CONFIG = REPO / "configs" / "ci_instructions.yaml"
INJECTED = "scan/64x256"
STEPS = (40, 60)


def variant_config(where: Path) -> Path:
    """configs/ci_instructions.yaml with the scan case at 60 steps instead of 40."""
    text = CONFIG.read_text(encoding="utf-8")
    changed, n = re.subn(r"params: \{steps: 40\}", "params: {steps: 60}", text)
    if n != 1:
        raise SystemExit(f"{CONFIG}: expected one 'params: {{steps: 40}}' to change")
    path = where / "variant.yaml"
    path.write_text(changed, encoding="utf-8")
    return path


def adbench_run(config: Path, out: Path, measure: str) -> float:
    """One `adbench run` in a fresh process; its wall seconds. Exit status 1 (a case failed) is
    kept and shows in the comparisons; anything else stops the benchmark."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    argv = [sys.executable, "-m", "adbench", "run", str(config), "--out", str(out)]
    argv += ["--device", "cpu", "--quiet", "--measure", measure, "--force"]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall


def judged(base: Results, cur: Results, scope: Scope) -> dict[str, Any]:
    """What each tier said about one pair: failed (the gate's exit), and the (case, strategy)
    pairs each tier called a regression."""
    cmp = gate.compare(base, cur, Settings(scope=scope, strict=scope is Scope.INSTRUCTIONS))
    regressed: dict[Tier, set[tuple[str, str]]] = {}
    for f in cmp.findings:
        if f.kind is Kind.REGRESSION and f.case_id:
            regressed.setdefault(f.tier, set()).add((f.case_id, f.strategy))
    not_comparable = [f for f in cmp.findings if f.kind is Kind.NOT_COMPARABLE]
    return {"failed": cmp.failed, "regressed": regressed, "not_comparable": not_comparable}


def ratio(base: Results, cur: Results, column: str, strategy: str) -> float:
    def value(res: Results) -> float:
        df = res.results
        row = df[(df["case_id"] == INJECTED) & (df["strategy"] == strategy)]
        return float(row[column].iloc[0])

    return value(cur) / value(base)


def pct(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "0/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each kind (default 3)")
    parser.add_argument("--no-ci", action="store_true", help="skip the configs/ci.yaml run")
    parser.add_argument("--keep", type=Path, help="keep the results directories here")
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep: judge the runs already there again"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="adbench-ig-")
    root = args.keep or Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    configs = {"base": CONFIG, "variant": variant_config(root)}
    walls: dict[str, list[float]] = {"time": [], "instructions": []}
    dirs: dict[tuple[str, str], list[Path]] = {}
    for rep in range(args.reps):
        order = ["base", "variant"] if rep % 2 == 0 else ["variant", "base"]
        for measure in ("time", "instructions"):
            for code in order:
                out = root / measure / code / str(rep)
                if args.reuse and (out / "meta.json").is_file():
                    walls[measure].append(float("nan"))
                else:
                    walls[measure].append(adbench_run(configs[code], out, measure))
                dirs.setdefault((measure, code), []).append(out)
                print(f"rep {rep}: {measure:12} {code:7} {walls[measure][-1]:6.0f} s", flush=True)
    runs = {key: [load_results(d) for d in ds] for key, ds in dirs.items()}

    print(f"\nruns: {args.reps} x (base, variant) x (time, instructions); {INJECTED} at {STEPS}")
    for measure in ("time", "instructions"):
        w = walls[measure]
        print(f"  wall of one {measure} run: {min(w):.0f}-{max(w):.0f} s")
    b0, v0 = runs["instructions", "base"][0], runs["instructions", "variant"][0]
    xla = {c: [ratio(b0, v0, c, s) for s in ("jacfwd", "jacrev")] for c in ("flops", "temp_bytes")}
    print(
        f"  XLA's view of 60 vs 40 steps (jacfwd / jacrev): flops x{xla['flops'][0]:.3f} / "
        f"x{xla['flops'][1]:.3f}, temp bytes x{xla['temp_bytes'][0]:.3f} / "
        f"x{xla['temp_bytes'][1]:.3f}"
    )

    same = [
        (measure, a, b)
        for measure in ("time", "instructions")
        for code in ("base", "variant")
        for a, b in itertools.combinations(runs[measure, code], 2)
    ]
    injected = [
        (measure, b, v)
        for measure in ("time", "instructions")
        for b, v in itertools.product(runs[measure, "base"], runs[measure, "variant"])
    ]
    rows = []
    for tier, measure, scope in (
        ("instructions (--tier instructions --strict)", "instructions", Scope.INSTRUCTIONS),
        ("timing (default compare)", "time", Scope.ALL),
        ("deterministic (flops, bytes, temp)", "time", Scope.ALL),
    ):
        aa = [judged(a, b, scope) for m, a, b in same if m == measure]
        inj = [judged(b, v, scope) for m, b, v in injected if m == measure]
        own = {
            "instructions": Tier.INSTRUCTIONS,
            "timing": Tier.TIMING,
            "deterministic": Tier.DETERMINISTIC,
        }[tier.split()[0]]
        if own is Tier.INSTRUCTIONS:
            aa_failed = sum(j["failed"] for j in aa)
        else:
            aa_failed = sum(bool(j["regressed"].get(own)) for j in aa)
        cells = [tier, pct(aa_failed, len(aa))]
        for strategy in ("jacfwd", "jacrev"):
            hit = sum((INJECTED, strategy) in j["regressed"].get(own, set()) for j in inj)
            cells.append(pct(hit, len(inj)))
        others = sum(
            any(case != INJECTED for case, _ in j["regressed"].get(own, set())) for j in inj
        )
        cells.append(pct(others, len(inj)))
        rows.append(cells)
        nc = sum(bool(j["not_comparable"]) for j in aa + inj) if own is Tier.INSTRUCTIONS else 0
        if nc:
            print(f"  note: {nc} instruction comparisons had a 'not comparable' finding")

    print(
        "\n| tier | same-code comparisons failed | scan x1.5 detected, jacfwd (XLA's counts "
        "identical) | scan x1.5 detected, jacrev | injected pairs flagging another case |"
    )
    print("|---|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")

    print("\nscan/64x256, 60 vs 40 steps, per pair (base i -> variant j):")
    for strategy in ("jacfwd", "jacrev"):
        instr = [ratio(b, v, "instructions", strategy) for m, b, v in injected
                 if m == "instructions"]  # fmt: skip
        secs = [ratio(b, v, "median_s", strategy) for m, b, v in injected if m == "time"]
        print(f"  {strategy}: instructions x{min(instr):.3f}-x{max(instr):.3f}; "
              f"median seconds x{min(secs):.2f}-x{max(secs):.2f}")  # fmt: skip
    spreads = [float(s) for rs in runs.values() for r in rs if "instructions" in r.results
               for s in r.results["instructions_spread"].dropna()]  # fmt: skip
    if spreads:
        print(f"  spread of a count over its 3 repetitions: max {100 * max(spreads):.2f}% "
              f"over {len(spreads)} counts")  # fmt: skip
    moves: dict[tuple[str, str], list[float]] = {}
    for m, a, b in same:
        if m != "instructions":
            continue
        ka = a.results.set_index(["case_id", "strategy"])["instructions"]
        kb = b.results.set_index(["case_id", "strategy"])["instructions"]
        for key, move in (kb / ka - 1).abs().dropna().items():
            moves.setdefault(key, []).append(float(move))
    if moves:
        print("  same code, instructions between processes (max over the same-code pairs):")
        for (case, strategy), ms in moves.items():
            count = float(runs["instructions", "base"][0].results.set_index(
                ["case_id", "strategy"]).loc[(case, strategy), "instructions"])  # fmt: skip
            print(f"    {case} {strategy}: {100 * max(ms):.2f}% ({count:.3g} per call)")

    if not args.no_ci:
        out = root / "ci_yaml"
        reused = args.reuse and (out / "meta.json").is_file()
        wall = (
            float("nan")
            if reused
            else adbench_run(REPO / "configs" / "ci.yaml", out, "instructions")
        )
        meta = load_results(out).meta.get("instructions", {})
        proc = (meta.get("processes") or [{}])[-1]
        s = proc.get("seconds", {})
        print(
            f"\nconfigs/ci.yaml --measure instructions: {wall:.0f} s wall ({proc.get('counted')} "
            f"case x strategies; valgrind'd process {proc.get('wall_s', 0):.0f} s = JAX import "
            f"{s.get('import', 0):.0f} s + trace/compile {s.get('build', 0):.0f} s + counting "
            f"{s.get('count', 0):.0f} s)"
        )
    with open("/proc/loadavg", encoding="utf-8") as fh:
        load = fh.read().split()[:3]
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s; load average now {load}")
    if args.keep is None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
