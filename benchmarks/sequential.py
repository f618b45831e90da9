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
4. Racing (``--race``; synthetic, needs no samples and no JAX): the real timing loop
   (adbench.measure.timing.race) on a fake clock, strategies with known per-call times and
   log-normal per-call noise, the default stopping rule with elimination against the same rule
   without it (the "full budget": every strategy timed until the case stops). Printed per
   scenario, without -> with elimination: how often the verdict says the truth (the true
   fastest, or a tie of exactly the strategies within the margin of it), the wrong-decisive rate
   (a recommendation other than the true fastest, or any when two are within the margin) with
   the paired difference and its 95% interval, wrong eliminations (a strategy dropped that is
   within the margin of the true fastest), the contenders' rounds, seconds per case, and the
   rounds (and seconds) elimination spared the eliminated strategies against timing them to
   the case's end. Runs on a loaded machine as well as a quiet one: nothing is timed for real.
6. ``--issue-cases`` (real runs, ~1 min): issue 17's 17 square tanh-linear cases at budgets
   0.001 / 0.01 / 0.5 s (undecided, tie, decisive counts: a case extends past a small budget to
   the 6 rounds a verdict needs, so none should be undecided), and the 67-parameter PDE-loss
   Hessian of benchmarks/pde_hessian.yaml (verdict, ranking, eliminations).
5. ``--coverage``: how often the percentile bootstrap's 95% interval of the median of n ratios
   misses the true median (n = 2-12), the figures behind analysis.decision.MIN_ROUNDS.

Figures, not assertions: the machine is shared and noisy; read them with the load average.
This script is over 400 lines because it holds five related experiments on one stopping rule;
each section is a few functions and reads on its own.
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
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

from adbench.analysis import decision, sequential, stats  # noqa: E402
from adbench.analysis.paired import CasePairs  # noqa: E402
from adbench.analysis.verdict import judge  # noqa: E402
from adbench.measure.timing import race  # noqa: E402
from adbench.store import schema  # noqa: E402

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


# ------------------------------------------------------------------------------------- racing

# scenario -> (per-call seconds by strategy, budget seconds); the first strategy is the fastest
RACES: dict[str, tuple[dict[str, float], float]] = {
    "issue 17 Hessian (x1.02, x1.3, x100)": (
        {"fwd_over_rev": 3e-3, "sparse": 3.06e-3, "rev_over_rev": 3.9e-3, "rev_over_fwd": 0.3},
        2.0,
    ),
    "edge pair + x100 (x1.1, x100)": ({"a": 3e-3, "b": 3.3e-3, "slow": 0.3}, 2.0),
    "equal pair + x100 (x1, x100)": ({"a": 3e-3, "b": 3e-3, "slow": 0.3}, 2.0),
    "x1.3 pair + x3 (no hopeless one)": ({"a": 3e-3, "b": 3.9e-3, "c": 9e-3}, 0.5),
}


class _Clock:
    """Moves only when a fake runner runs (as tests/measure/test_timing.py)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _one_race(
    costs: dict[str, float],
    budget: float,
    sigma: float,
    seed: int,
    racing: bool,
    futility: bool = True,
):
    clock = _Clock()
    rng = np.random.default_rng(seed)

    def runner(cost: float) -> Callable[[], None]:
        def run() -> None:
            clock.t += cost * float(np.exp(rng.normal(0.0, sigma)))

        return run

    rule = sequential.rule(5, 50, 0.1)
    if not futility:
        rule = replace(rule, max_rounds=None)
    timed = race(
        {s: runner(c) for s, c in costs.items()},
        dict.fromkeys(costs, 1),
        budget_s=budget,
        min_rounds=5,
        max_rounds=50,
        clock=clock,
        looks=rule.looks,
        settled=rule.settled,
        eliminate=rule.eliminate if racing else None,
    )
    key = dict(case_id="r/1x1", family="r", task="hessian", d_in=1, d_out=1, batch=1, host="h")
    key["device"] = "cpu:0"
    res = pd.DataFrame(
        [
            {**key, "strategy": s, "status": "ok", "median_s": float(np.median(v))}
            for s, v in timed.samples.items()
        ]
    ).reindex(columns=list(schema.RESULT_COLUMNS))
    smp = pd.DataFrame(
        [
            {**key, "strategy": s, "round": i, "position": 0, "n_inner": 1, "seconds": t}
            for s, v in timed.samples.items()
            for i, t in enumerate(v)
        ]
    ).reindex(columns=list(schema.SAMPLE_COLUMNS))
    return judge(res, smp, margin=0.1).verdicts.iloc[0], timed, clock.t


def _resolved(v: pd.Series, near: set[str], best: str) -> bool:
    """The verdict says what the truth is: the true fastest recommended when nothing is within
    the margin of it, else a tie of exactly the strategies within it."""
    if len(near) == 1:
        return bool(v["recommended"] == best)
    return v["recommended"] == decision.TIE and set(str(v["tie_set"]).split("|")) == near


def racing(trials: int, sigmas: Sequence[float], futility: bool = True) -> None:
    print(
        f"\n4. Racing: the timing loop on a fake clock, {trials} trials per scenario and noise, "
        "the default rule (looks 10/20/40, margin 10%) without elimination (full) and with it"
    )
    for sigma in sigmas:
        print(f"\n   per-call noise: log-normal sigma {sigma}")
        print(
            "   scenario                              resolved full  racing | wrong decisive full"
            "  racing (racing - full)   | wrong elim. | contender rounds | s/case       |"
            " rounds spared (s)"
        )
        for label, (costs, budget) in RACES.items():
            names = list(costs)
            best = names[0]
            near = {s for s in names if costs[s] / costs[best] <= 1.1 + 1e-9}
            out: dict[bool, dict[str, list[float]]] = {}
            for way in (False, True):
                got: dict[str, list[float]] = {k: [] for k in ("ok", "wrong", "elim", "n", "s")}
                got["spared"], got["spared_s"] = [], []
                for t in range(trials):
                    v, timed, spent = _one_race(costs, budget, sigma, 1000 + t, way, futility)
                    rec = str(v["recommended"])
                    decisive = rec not in decision.NOT_DECISIVE
                    got["ok"].append(_resolved(v, near, best))
                    got["wrong"].append(decisive and (len(near) > 1 or rec != best))
                    got["elim"].append(bool(near & set(timed.eliminated)))
                    kept = [s for s in names if s not in timed.eliminated]
                    end = max(len(timed.samples[s]) for s in kept)
                    got["n"].append(min(len(timed.samples[s]) for s in kept))
                    got["s"].append(spent)
                    spared = {s: end - at for s, at in timed.eliminated.items()}
                    got["spared"].append(sum(spared.values()))
                    got["spared_s"].append(sum(n * costs[s] for s, n in spared.items()))
                out[way] = got
            f, r = out[False], out[True]
            wf, wr = np.array(f["wrong"]), np.array(r["wrong"])
            print(
                f"   {label:38s} {rate(np.array(f['ok']))} {rate(np.array(r['ok']))} | "
                f"{rate(wf)} {rate(wr)} ({diff(wr, wf)}) | {rate(np.array(r['elim']))}      | "
                f"{np.mean(f['n']):5.1f} -> {np.mean(r['n']):5.1f}   | "
                f"{np.mean(f['s']):4.2f} -> {np.mean(r['s']):4.2f} | "
                f"{np.mean(r['spared']):5.1f} ({np.mean(r['spared_s']):.1f} s)",
                flush=True,
            )


def coverage(trials: int) -> None:
    """Miss rate of the 95% percentile-bootstrap interval of the median of n log-normal ratios
    (true median 1), n = 2-12: the figures behind analysis.decision.MIN_ROUNDS."""
    print(f"\n5. Coverage of the verdict's 95% interval, {trials} trials per n (2000 resamples)")
    print("    n   [min, max] misses 2*0.5^n   bootstrap misses: low side  high side  total")
    rng = np.random.default_rng(1)
    for n in range(2, 13):
        lo = hi = 0
        for t in range(trials):
            x = rng.lognormal(0.0, 0.1, n)
            e = stats.paired_ratio(x, np.ones(n), n_boot=2000, seed=t)
            lo += e.ci_low > 1
            hi += e.ci_high < 1
        print(
            f"   {n:2d}   {100 * 2 * 0.5**n:6.2f}%                  "
            f"{100 * lo / trials:5.2f}%    {100 * hi / trials:5.2f}%   "
            f"{100 * (lo + hi) / trials:5.2f}%",
            flush=True,
        )


# ------------------------------------------------------------------------------ issue 17's cases

SQUARE = [int(round(v)) for v in np.geomspace(8, 512, 17)]  # 17 square tanh-linear sizes


def square_config(budget: float) -> str:
    """Issue 17 item 1's run file: 17 square tanh-linear cases, jacfwd and jacrev."""
    fams = "".join(
        f"  - name: sq{d}\n    builtin: linear\n    params: {{activation: tanh}}\n"
        f"    d_in: [{d}]\n    d_out: [{d}]\n"
        for d in SQUARE
    )
    return (
        f"name: square\nmodes: [jacfwd, jacrev]\ndtype: float32\ntime_budget_s: {budget}\n"
        f"families:\n{fams}"
    )


def kinds(out: Path) -> dict[str, int]:
    """undecided / tie / decisive counts of a results directory's verdicts."""
    v = pd.read_csv(out / "verdicts.csv", keep_default_na=False)
    rec = v["recommended"].astype(str)
    und = int((rec == decision.UNDECIDED).sum())
    tie = int((rec == decision.TIE).sum())
    return {"undecided": und, "tie": tie, "decisive": len(rec) - und - tie}


def issue_cases(work: Path) -> None:
    """Part 6: the undecided counts of the 17 square cases at budgets 0.001 / 0.01 / 0.5 s, then
    the 67-parameter PDE-loss Hessian (benchmarks/pde_hessian.yaml) with its eliminations."""
    print(f"\n6. Issue 17's cases (real runs; {load()})")
    print(f"   17 square tanh-linear cases (d = {SQUARE[0]}..{SQUARE[-1]}), jacfwd vs jacrev:")
    for budget in (0.001, 0.01, 0.5):
        cfg = work / f"square_{budget}.yaml"
        cfg.write_text(square_config(budget), encoding="utf-8")
        before = load()
        wall = run_once(cfg, work / f"square_{budget}")
        rounds = rounds_per_case(work / f"square_{budget}")
        k = kinds(work / f"square_{budget}")
        print(
            f"   budget {budget:<5} s: {k['undecided']:2d} undecided, {k['tie']:2d} tie, "
            f"{k['decisive']:2d} decisive; rounds {min(rounds.values())}-{max(rounds.values())};"
            f" {wall:.1f} s [{before}]"
        )
    out = work / "pde"
    before = load()
    wall = run_once(REPO / "benchmarks" / "pde_hessian.yaml", out)
    v = pd.read_csv(out / "verdicts.csv", keep_default_na=False).iloc[0]
    r = pd.read_csv(out / "ranking.csv", keep_default_na=False)
    print(f"   67-parameter PDE-loss Hessian, budget 2 s: {wall:.1f} s [{before}]")
    print(f"   verdict: {v['recommended']} {v['tie_set']}  ({v['reason']})")
    for row in r.itertuples(index=False):
        gone = f", eliminated at round {row.eliminated_at_round}" if row.eliminated_at_round else ""
        print(
            f"     {row.strategy:13s} rank {row.rank!s:>2}  x{float(row.rel_time):8.3g} "
            f"[{float(row.rel_ci_low):.3g}, {float(row.rel_ci_high):.3g}]  "
            f"{int(row.n_rounds)} rounds{gone}"
        )


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
    ap.add_argument(
        "--no-futility",
        action="store_true",
        help="the rule without its futility stop (analysis.sequential.futile), to compare",
    )
    ap.add_argument("--race", action="store_true", help="only part 4: racing, synthetic")
    ap.add_argument(
        "--race-sigmas", default="0.1,0.3", help="per-call noise of part 4 (log-normal sigmas)"
    )
    ap.add_argument("--coverage", action="store_true", help="only part 5: bootstrap coverage")
    ap.add_argument(
        "--issue-cases", action="store_true", help="only part 6: issue 17's cases, real runs"
    )
    args = ap.parse_args()
    if args.issue_cases:
        with tempfile.TemporaryDirectory() as tmp:
            issue_cases(Path(tmp))
        return
    if args.race or args.coverage:
        if args.race:
            racing(
                args.trials,
                [float(v) for v in args.race_sigmas.split(",")],
                not args.no_futility,
            )
        if args.coverage:
            coverage(args.trials)
        return
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
            None if args.no_futility else args.max_rounds,
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
        racing(args.trials // 10 or 1, [mid, top], not args.no_futility)


if __name__ == "__main__":
    main()
