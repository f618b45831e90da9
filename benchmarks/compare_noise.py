"""How often does `adbench compare` cry wolf, and does it catch a real slowdown?

Runs `adbench run` (the CLI, one fresh process each) repeatedly on the same code and compares
every rerun against the first run, counting false alarms; then runs a variant in which two
families do 1.5x and 2x the work (a user callable with a `reps` parameter repeating the
computation) and counts how often each slowed case x mode is flagged. Every case lasts >= 1 ms.

    .venv/bin/python benchmarks/compare_noise.py                 # ~8 minutes on 2 cores
    .venv/bin/python benchmarks/compare_noise.py --reruns 4 --variants 2   # a quick look

Printed: false alarms (timing tier, and the whole gate), detection per slowdown factor (timing
tier alone, and the whole gate, where the deterministic tier sees the extra FLOPs), and how often
the timing tier said "inconclusive". `--keep DIR` keeps the run directories, which
`benchmarks/compare_rules.py DIR` re-judges offline under other timing rules.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent

# (family, d_in, d_out, seed); each case's two modes take >= 1 ms per call here.
CASES = [
    ("slow15", 360, 360, 0),  # the variant does 1.5x the work
    ("slow20", 320, 400, 1),  # the variant does 2x the work
    ("ctl_a", 400, 320, 2),
    ("ctl_b", 340, 340, 3),
    ("ctl_c", 380, 360, 4),
    ("ctl_d", 360, 380, 5),
]
BASE_REPS = 2
VARIANT_REPS = {"slow15": 3, "slow20": 4}  # 1.5x and 2x the base work
EXTRA = """\
  - name: lin_tanh
    builtin: linear
    params: {activation: tanh}
    points: [[560, 560]]
  - name: scan
    builtin: scan
    params: {steps: 48}
    points: [[128, 128]]
"""


def workload(d_in: int, d_out: int, reps: int = BASE_REPS, seed: int = 0) -> Any:
    """x: shape (d_in,) -> sum over k < reps of tanh(W_k x): shape (d_out,).

    Each repetition has its own matrix, so XLA cannot share work between them: the cost of both
    Jacobians grows in proportion to ``reps``.
    """
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    ws = [rng.normal(0.0, 1.0 / np.sqrt(d_in), size=(d_out, d_in)) for _ in range(reps)]

    def fn(x: Any) -> Any:
        y = jnp.zeros(d_out, dtype=x.dtype)
        for w in ws:
            y = y + jnp.tanh(jnp.asarray(w, dtype=x.dtype) @ x)
        return y

    return fn


def config_text(variant: bool, budget: float) -> str:
    lines = [
        "name: compare-noise",
        f"time_budget_s: {budget}",
        "families:",
    ]
    for name, d_in, d_out, seed in CASES:
        reps = VARIANT_REPS.get(name, BASE_REPS) if variant else BASE_REPS
        lines += [
            f"  - name: {name}",
            f'    callable: "{HERE}:workload"',
            f"    points: [[{d_in}, {d_out}]]",
            f"    params: {{reps: {reps}, seed: {seed}}}",
        ]
    return "\n".join(lines) + "\n" + EXTRA


def adbench_run(config: Path, out: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "adbench", "run", str(config), "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"adbench run failed ({proc.returncode}):\n{proc.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--reruns", type=int, default=14, help="reruns of the same code (after the first)"
    )
    ap.add_argument("--variants", type=int, default=12, help="runs of the slowed variant")
    ap.add_argument("--budget", type=float, default=0.5, help="time_budget_s per case")
    ap.add_argument("--keep", type=Path, help="keep the run directories here")
    ap.add_argument("--collect-only", action="store_true", help="only make the runs")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="adbench-compare-noise-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base_cfg, var_cfg = work / "base.yaml", work / "variant.yaml"
    base_cfg.write_text(config_text(False, args.budget), encoding="utf-8")
    var_cfg.write_text(config_text(True, args.budget), encoding="utf-8")

    # Alternate same-code reruns and variant runs, so both see the same machine conditions.
    plan = [("base", 0)]
    i = j = 0
    while i < args.reruns or j < args.variants:
        if i < args.reruns:
            i += 1
            plan.append(("base", i))
        if j < args.variants:
            j += 1
            plan.append(("variant", j))
    t_start = time.perf_counter()
    for kind, k in plan:
        out = work / f"{kind}{k:02d}"
        if not (out / "verdicts.csv").exists():
            secs = adbench_run(base_cfg if kind == "base" else var_cfg, out, env)
            print(f"  ran {out.name} in {secs:.1f} s", flush=True)
    load = os.getloadavg()
    print(
        f"runs: {len(plan)} in {time.perf_counter() - t_start:.0f} s ({work}); "
        f"load average {load[0]:.1f} at the end"
    )
    if args.collect_only:
        return
    report(work, args.reruns, args.variants)


def _rate(k: int, n: int) -> str:
    return f"{k}/{n} = {100.0 * k / n:.1f}%" if n else "0/0"


SLOWED = {"slow15": "1.5x", "slow20": "2x"}


def false_alarms(pairs: list[tuple[Any, Any]]) -> str:
    """Same code on both sides: every regression is a false alarm."""
    from adbench.compare.gate import compare
    from adbench.compare.model import Kind, Tier

    n = failed = timed = reg = imp = inc = flips = det = 0
    for b, r in pairs:
        cmp = compare(b, r)
        n += 1
        failed += cmp.failed
        timed += cmp.checked.get("timing", 0)
        for f in (f for f in cmp.findings if f.case_id):
            if f.tier is Tier.TIMING:
                reg += f.kind is Kind.REGRESSION
                imp += f.kind is Kind.IMPROVEMENT
                inc += f.kind is Kind.INCONCLUSIVE
            flips += f.kind is Kind.FLIP
            det += f.tier is Tier.DETERMINISTIC and f.kind is Kind.REGRESSION
    return (
        f"timing false alarms {_rate(reg, timed)} case x modes; gate failed "
        f"{_rate(failed, n)} comparisons (verdict flips {flips}, deterministic {det}); "
        f"false 'improvements' {imp}; inconclusive {_rate(inc, timed)}"
    )


def detection(pairs: list[tuple[Any, Any]]) -> list[str]:
    """The variant on the current side: each slowed case x mode should be a regression."""
    from adbench.compare.gate import compare
    from adbench.compare.model import Kind, Tier

    hits = {fam: [0, 0, 0, 0] for fam in SLOWED}  # timing, whole gate, inconclusive, n
    ctl_alarms = ctl_n = 0
    for b, r in pairs:
        cmp = compare(b, r)
        found = {
            (f.case_id.split("/")[0], f.strategy, f.tier): f for f in cmp.findings if f.case_id
        }
        for fam, h in hits.items():
            for mode in ("jacfwd", "jacrev"):
                t = found.get((fam, mode, Tier.TIMING))
                d = found.get((fam, mode, Tier.DETERMINISTIC))
                t_hit = bool(t and t.kind is Kind.REGRESSION)
                h[0] += t_hit
                h[1] += t_hit or bool(d and d.kind is Kind.REGRESSION)
                h[2] += bool(t and t.kind is Kind.INCONCLUSIVE)
                h[3] += 1
        for f in cmp.findings:
            if f.case_id and f.case_id.split("/")[0] not in SLOWED and f.tier is Tier.TIMING:
                ctl_alarms += f.kind is Kind.REGRESSION
        ctl_n += cmp.checked.get("timing", 0) - 4
    lines = []
    for fam, (t, g, inc, n) in hits.items():
        lines.append(
            f"{SLOWED[fam]:4s} the work ({fam}): timing tier {_rate(t, n)}, whole gate "
            f"{_rate(g, n)} (the deterministic tier sees the FLOPs); timing inconclusive {inc}"
        )
    lines.append(
        f"unchanged cases in the variant runs: timing false alarms {_rate(ctl_alarms, ctl_n)}"
    )
    return lines


def report(work: Path, reruns: int, variants: int) -> None:
    from adbench.store.results import load_results

    base = [load_results(work / f"base{i:02d}") for i in range(reruns + 1)]
    var = [load_results(work / f"variant{j:02d}") for j in range(1, variants + 1)]
    first = base[0]

    print("\n== one run per side: every rerun / variant run against the first run ==")
    print("same code, rerun vs first:", false_alarms([(first, r) for r in base[1:]]))
    every = [(a, b) for i, a in enumerate(base) for b in base[i + 1 :]]
    print(f"same code, all {len(every)} pairs:", false_alarms(every))
    for line in detection([(first, r) for r in var]):
        print(line)

    k = 3
    if len(base) >= 2 * k and len(var) >= k:
        b3 = base[:k]
        aa3 = [base[i : i + k] for i in range(k, len(base) - k + 1, k)]
        var3 = [var[i : i + k] for i in range(0, len(var) - k + 1, k)]
        print(
            f"\n== {k} runs per side, pooled: the first {k} runs against each later group of {k} =="
        )
        print(f"same code ({len(aa3)} groups):", false_alarms([(b3, g) for g in aa3]))
        for line in detection([(b3, g) for g in var3]):
            print(f"({len(var3)} groups) {line}")
    load = os.getloadavg()
    print(f"\nload average now: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
