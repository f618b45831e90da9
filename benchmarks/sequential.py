"""Does stopping a case's timing early change its verdict, and how much wall does it save?

    python benchmarks/sequential.py [CONFIG] [--runs K] [--trials N] [--samples SAMPLES_CSV]
    python benchmarks/sequential.py --runs 0 --samples benchmarks/data/seed_samples.csv

1. Real: `adbench run CONFIG` (default configs/seed.yaml) K times each way, alternating, with
   `stop_early: false` (every case spends its whole budget) and with the default
   (`stop_early: true`): wall seconds (JAX import included) with the load average beside each,
   rounds per case, and whether every case got the same verdict (recommended and tie set).
2. Synthetic: per-round ratios t(a)/t(b) drawn at true ratios 1, 1/(1+m) (the margin's edge),
   1/1.2, 1/2, 1/10, 1/1000, with noise taken from real samples (the full-budget run's
   samples.csv, or --samples; benchmarks/data/seed_samples.csv is a full-budget run of the
   default config on this 2-core machine under load, per-case spreads 0.02-0.79): lognormal
   with the median and the largest per-case spread (1.4826 x MAD of the log ratios), and the
   pooled residuals themselves resampled (heavy
   tails, outliers included). Each trial draws `max_rounds` rounds; the full-budget verdict
   reads them all, the sequential rule stops at the first look that finds the verdict settled
   (adbench.analysis.sequential, the rule the run uses) and its verdict reads the rounds up to
   there. Both verdicts go through the verdict's own pairs and decision (CasePairs.faster,
   95%). Printed per ratio: decisive rates, the sequential verdict's disagreement with the
   full budget's, its wrong-decisive rate against the truth beside the full budget's (with the
   paired difference and its 95% interval), and the mean rounds used. A decisive verdict is
   wrong at ratio 1 and at the edge (the truth is not beyond the margin) and, beyond the margin,
   when it names the slower strategy.
3. Why min_rounds stays 5: the verdict of a case the budget stops after 3 or 5 rounds, at ratio
   1 and at the edge, with the same noise.

Figures, not assertions: the machine is shared and noisy; read them with the load average.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

from adbench.analysis import sequential  # noqa: E402
from adbench.analysis.paired import CasePairs  # noqa: E402

A, B = "jacfwd", "jacrev"  # names only: the pair's resampling orientation is the verdict's


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min)"


# ------------------------------------------------------------------------------------ real run


def run_once(config: Path, out: Path) -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "adbench", "run", str(config), "--out", str(out), "--quiet"]
    proc = subprocess.run(
        [*cmd, "--force"], cwd=REPO, env=_ENV, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"adbench run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall


def verdicts(out: Path) -> dict[str, str]:
    """case -> the recommendation, or "tie" and the tie set (as a set: its order is the
    strategies' order by time, which a tie leaves to chance)."""
    v = pd.read_csv(out / "verdicts.csv", keep_default_na=False)
    return {
        str(r.case_id): " ".join([str(r.recommended), *sorted(str(r.tie_set).split("|"))]).strip()
        for r in v.itertuples(index=False)
    }


def rounds_per_case(out: Path) -> dict[str, int]:
    s = pd.read_csv(out / "samples.csv")
    return {str(k): int(g["round"].nunique()) for k, g in s.groupby("case_id", sort=False)}


def real(config: Path, runs: int, work: Path) -> Path:
    """Run CONFIG both ways `runs` times; print walls, rounds and verdicts. Returns the
    samples.csv of the last full-budget run (the noise for the synthetic part)."""
    full_cfg = work / "full.yaml"
    full_cfg.write_text(config.read_text() + "\nstop_early: false\n", encoding="utf-8")
    walls: dict[str, list[tuple[float, str]]] = {"full": [], "early": []}
    outs = {"full": work / "full", "early": work / "early"}
    same = []
    for _ in range(runs):
        for way, cfg in (("full", full_cfg), ("early", config)):
            before = load()
            walls[way].append((run_once(cfg, outs[way]), before))
        same.append(verdicts(outs["full"]) == verdicts(outs["early"]))
    print(f"1. `adbench run {config.name}`, wall seconds (JAX import included), {runs} run(s)")
    for way, label in (("full", "stop_early: false"), ("early", "stop_early: true ")):
        figs = ", ".join(f"{w:.1f} s [{ld}]" for w, ld in walls[way])
        print(f"   {label}  {figs}")
    print(f"   same verdict on every case: {sum(same)}/{len(same)} run pairs")
    vf, ve = verdicts(outs["full"]), verdicts(outs["early"])
    rf, re_ = rounds_per_case(outs["full"]), rounds_per_case(outs["early"])
    print("   case                      rounds full -> early   verdict full | early")
    for case in vf:
        mark = "" if vf[case] == ve.get(case) else "   <- differs"
        print(
            f"   {case:26s} {rf.get(case, 0):4d} -> {re_.get(case, 0):<4d}      "
            f"{vf[case]} | {ve.get(case)}{mark}"
        )
    return outs["full"] / "samples.csv"


# ------------------------------------------------------------------------------ synthetic part


def residuals(samples_csv: Path, min_rounds: int = 10) -> tuple[list[float], np.ndarray]:
    """Per-case robust spreads (1.4826 x MAD) of the per-round log ratios of the first two
    strategies of each case with >= `min_rounds` rounds, and the pooled centred log ratios."""
    s = pd.read_csv(samples_csv)
    spreads, pooled = [], []
    for _, g in s.groupby(["case_id", "host", "device"], sort=False):
        p = g.pivot_table(index="round", columns="strategy", values="seconds", aggfunc="median")
        if p.shape[1] < 2 or len(p) < min_rounds:
            continue
        r = np.log(p.iloc[:, 0] / p.iloc[:, 1]).dropna().to_numpy()
        centred = r - np.median(r)
        spreads.append(float(1.4826 * np.median(np.abs(centred))))
        pooled.append(centred)
    if not pooled:
        sys.exit(f"{samples_csv}: no case with {min_rounds}+ rounds of two strategies")
    return spreads, np.concatenate(pooled)


def verdict(ratios: np.ndarray, margin: float) -> int:
    """-1: a (jacfwd) recommended, +1: b, 0: tie; the verdict's pairs at 95%."""
    pairs = CasePairs({A: pd.Series(ratios), B: pd.Series(np.ones(len(ratios)))})
    won = pairs.faster(A, B, margin)
    return -1 if won == A else 1 if won == B else 0


def sequential_verdict(
    ratios: np.ndarray, rule: sequential.StopRule
) -> tuple[int, int]:  # (verdict, rounds used)
    n = len(ratios)
    for look in rule.looks:
        if look <= n and rule.settled({A: ratios[:look], B: np.ones(look)}):
            return verdict(ratios[:look], rule.margin), look
    return verdict(ratios, rule.margin), n


def wrong(v: np.ndarray, rho: float, margin: float) -> np.ndarray:
    """Decisive verdicts the truth contradicts (a is the faster one; rho = t(a)/t(b) <= 1)."""
    if rho >= 1 / (1 + margin) - 1e-12:  # at or inside the margin: nothing is decisive
        return v != 0
    return v == 1


def rate(x: np.ndarray) -> str:
    return f"{100 * x.mean():5.2f}%"


def diff(seq_wrong: np.ndarray, full_wrong: np.ndarray) -> str:
    d = seq_wrong.astype(float) - full_wrong.astype(float)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else math.nan
    return f"{100 * d.mean():+5.2f} +- {100 * half:.2f} pp"


def synthetic(
    draw: Callable[[np.random.Generator, int], np.ndarray],
    label: str,
    trials: int,
    rule: sequential.StopRule,
    n_full: int,
    rhos: Sequence[float],
) -> None:
    print(f"\n   noise: {label}")
    print(
        "   true ratio  full: dec a / dec b / tie | early: dec a / dec b / tie | disagree | "
        "wrong decisive: full  early (early - full)    | rounds early (full)"
    )
    for rho in rhos:
        rng = np.random.default_rng(12345)
        full, early, used = [], [], []
        for _ in range(trials):
            r = rho * np.exp(draw(rng, n_full))
            full.append(verdict(r, rule.margin))
            v, n = sequential_verdict(r, rule)
            early.append(v)
            used.append(n)
        f, e = np.array(full), np.array(early)
        wf, we = wrong(f, rho, rule.margin), wrong(e, rho, rule.margin)
        print(
            f"   {rho:10.4g}  {rate(f == -1)} / {rate(f == 1)} / {rate(f == 0)} | "
            f"{rate(e == -1)} / {rate(e == 1)} / {rate(e == 0)} | {rate(e != f)}   | "
            f"{rate(wf)} {rate(we)} ({diff(we, wf)}) | "
            f"{np.mean(used):5.1f} ({n_full})",
            flush=True,
        )


def capped(
    draw: Callable[[np.random.Generator, int], np.ndarray],
    label: str,
    trials: int,
    margin: float,
) -> None:
    """Decisive rates of a verdict read from only 3 or 5 rounds (a slow case the budget stops
    at min_rounds), at ratio 1 and at the margin's edge: what lowering min_rounds would cost."""
    parts = []
    for rho in (1.0, 1 / (1 + margin)):
        for n in (3, 5):
            rng = np.random.default_rng(999)
            v = np.array([verdict(rho * np.exp(draw(rng, n)), margin) for _ in range(trials)])
            parts.append(f"ratio {rho:.4g}, {n} rounds: {rate(v != 0)} decisive")
    print(f"   {label}: " + "; ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("config", nargs="?", default=str(REPO / "configs" / "seed.yaml"))
    ap.add_argument("--runs", type=int, default=2, help="real runs each way (0: none)")
    ap.add_argument("--trials", type=int, default=1000, help="synthetic trials per ratio")
    ap.add_argument("--samples", help="samples.csv for the noise (default: the real run's)")
    ap.add_argument("--margin", type=float, default=0.1)
    ap.add_argument("--max-rounds", type=int, default=50)
    ap.add_argument("--min-rounds", type=int, default=5)
    ap.add_argument(
        "--first-look",
        type=int,
        default=sequential.FIRST_LOOK,
        help="an alternative rule: its first look (then doubling)",
    )
    ap.add_argument(
        "--alpha", type=float, default=sequential.ALPHA, help="an alternative decisive alpha"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(args.samples) if args.samples else None
        if args.runs > 0:
            got = real(Path(args.config).resolve(), args.runs, Path(tmp))
            samples = samples or got
        if samples is None:
            sys.exit("no samples for the noise: give --samples or --runs >= 1")
        spreads, pooled = residuals(samples)
        at = sequential.looks(args.min_rounds, args.max_rounds, args.first_look)
        rule = sequential.StopRule(
            at,
            sequential.look_confidence(len(at), args.alpha),
            sequential.look_confidence(len(at), sequential.ALPHA_TIE),
            args.margin,
        )
        print(
            f"\n2. Synthetic, {args.trials} trials per ratio, {args.max_rounds} rounds for the "
            f"full budget; looks at {list(rule.looks)} rounds, each at "
            f"{100 * rule.confidence:.3f}% to stop decided, {100 * rule.tie_confidence:.2f}% "
            f"to stop tied (margin {args.margin:.0%}). Noise from {samples}: "
            f"{len(spreads)} cases, spread (1.4826 MAD of log ratios) "
            + ", ".join(f"{s:.3f}" for s in sorted(spreads))
        )
        m = args.margin
        rhos = (1.0, 1 / (1 + m), 1 / 1.2, 1 / 2, 1 / 10, 1 / 1000)
        mid, top = float(np.median(spreads)), float(max(spreads))
        models: list[tuple[str, Callable[[np.random.Generator, int], np.ndarray]]] = [
            (f"lognormal, sigma {mid:.3f} (median case)", lambda g, n: g.normal(0, mid, n)),
            (f"lognormal, sigma {top:.3f} (noisiest case)", lambda g, n: g.normal(0, top, n)),
            (
                f"the {len(pooled)} pooled real residuals, resampled",
                lambda g, n: g.choice(pooled, n),
            ),
        ]
        for label, draw in models:
            synthetic(draw, label, args.trials, rule, args.max_rounds, rhos)
        print("\n3. A verdict from only 3 or 5 rounds (min_rounds), same noise:")
        for label, draw in models:
            capped(draw, label, args.trials, m)


if __name__ == "__main__":
    main()
