"""Re-judge stored `compare_noise.py --keep DIR` runs under candidate timing rules, offline.

    .venv/bin/python benchmarks/compare_noise.py --keep /tmp/cn     # once: the runs (~5 minutes)
    .venv/bin/python benchmarks/compare_rules.py /tmp/cn            # seconds, no JAX

For every pair of sides it computes what the timing tier sees (drift-corrected log ratios, their
robust spread, Mann-Whitney p-values) and then applies each rule in RULES, printing per rule: the
gate-level false-alarm rate over all same-code pairs (a comparison fails when any case x mode is a
timing regression), the per-case x mode rate, and detection of the 1.5x and 2x slowdowns, with 1
and 3 runs per side. The rule `adbench` uses is "adopted"; "before" is the fixed 5 sigma it
replaced.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as sps

from adbench.analysis import stats
from adbench.compare.model import Settings
from adbench.compare.timing import floor_sigmas, samples_by_key
from adbench.store.results import Results, load_results

SLOWED = ("slow15", "slow20")


@dataclass
class Pair:
    keys: list[tuple[str, str, str]]
    resid: np.ndarray  # log drift-corrected ratio per key, re-centred
    p: np.ndarray  # Mann-Whitney p per key
    within: np.ndarray  # robust sd of the log samples within the runs, per key
    n: np.ndarray  # samples per side (smaller)
    exceeded: np.ndarray  # beyond the 15% threshold
    m: int


def extract(bs_res: Sequence[Results], cs_res: Sequence[Results], s: Settings) -> Pair:
    bs = [samples_by_key(r.samples) for r in bs_res]
    cs = [samples_by_key(r.samples) for r in cs_res]
    keys = sorted(set(bs[0]) & set(cs[0]))
    keys = [
        k
        for k in keys
        if all(k in side and side[k].size >= s.min_samples for side in (*bs, *cs))
        and float(np.median([np.median(b[k]) for b in bs])) >= s.min_time_s
    ]
    lb = np.log([[np.median(side[k]) for k in keys] for side in bs])
    lc = np.log([[np.median(side[k]) for k in keys] for side in cs])
    ref = lb[0]
    db = np.median(lb - ref, axis=1)
    dc = np.median(lc - ref, axis=1)
    pooled_b = np.median(lb - db[:, None], axis=0)
    pooled_c = np.median(lc - dc[:, None], axis=0)
    centre = float(np.median(pooled_c - pooled_b))
    resid = pooled_c - pooled_b - centre
    thr = s.threshold("median")
    p, within, n, exc = [], [], [], []
    for i, k in enumerate(keys):
        b = np.concatenate([side[k] / math.exp(d) for side, d in zip(bs, db, strict=True)])
        c = np.concatenate([side[k] / math.exp(d + centre) for side, d in zip(cs, dc, strict=True)])
        p.append(stats.mann_whitney_p(c, b))
        w = [1.4826 * np.median(np.abs(np.log(x[k]) - np.median(np.log(x[k])))) for x in (*bs, *cs)]
        within.append(float(np.sqrt(np.mean(np.square(w)))))
        n.append(min(b.size, c.size))
        mb = math.exp(float(pooled_b[i]))
        exc.append(thr.exceeded(mb * math.exp(float(resid[i])), mb))
    return Pair(keys, resid, np.array(p), np.array(within), np.array(n), np.array(exc), len(keys))


Rule = Callable[[Pair], np.ndarray]  # -> bool per key: a timing regression


def mad(x: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(x)))


def loo_sigma(r: np.ndarray) -> np.ndarray:
    """Robust sigma of the other keys' residuals (re-centred without the key), per key."""
    out = np.empty(r.size)
    for i in range(r.size):
        o = np.delete(r, i)
        out[i] = mad(o - np.median(o))
    return out


def current(k: float = 5.0, alpha: float = 0.01) -> Rule:
    def rule(pr: Pair) -> np.ndarray:
        return pr.exceeded & (pr.resid > k * mad(pr.resid)) & (pr.p < alpha)

    return rule


def bonf(
    fw: float = 0.01,
    df: float = 3.0,
    loo: bool = False,
    holm: bool = False,
    alpha: float = 0.01,
    within: float = 0.0,
    kmin: float = 0.0,
) -> Rule:
    """Floor k = Student-t(df) quantile at 1 - fw/m (one-sided Bonferroni over the m keys)."""

    def rule(pr: Pair) -> np.ndarray:
        m = pr.m
        # in robust sigmas (1.4826 MAD) of that t distribution
        k = float(sps.t.ppf(1.0 - fw / m, df) / (1.4826 * sps.t.ppf(0.75, df)))
        k = max(kmin, k)
        sig = loo_sigma(pr.resid) if loo else np.full(m, mad(pr.resid))
        if within:
            sig = np.sqrt(sig**2 + within * pr.within**2)
        if loo:
            # the key's residual against the others' centre
            z = np.array([pr.resid[i] - np.median(np.delete(pr.resid, i)) for i in range(m)])
        else:
            z = pr.resid
        beyond = z > k * sig
        if holm:
            order = np.argsort(pr.p)
            sig_p = np.zeros(m, bool)
            for rank, i in enumerate(order):
                if pr.p[i] < alpha / (m - rank):
                    sig_p[i] = True
                else:
                    break
        else:
            sig_p = pr.p < alpha
        return pr.exceeded & beyond & sig_p

    return rule


def fixed(k: float, loo: bool = False) -> Rule:
    def rule(pr: Pair) -> np.ndarray:
        if loo:
            z = np.array([pr.resid[i] - np.median(np.delete(pr.resid, i)) for i in range(pr.m)])
            return pr.exceeded & (z > k * loo_sigma(pr.resid)) & (pr.p < 0.01)
        return pr.exceeded & (pr.resid > k * mad(pr.resid)) & (pr.p < 0.01)

    return rule


def adopted(s: Settings) -> Rule:
    """What adbench does now (compare_timing.floor_sigmas)."""

    def rule(pr: Pair) -> np.ndarray:
        k = floor_sigmas(pr.m, s)
        return pr.exceeded & (pr.resid > k * mad(pr.resid)) & (pr.p < s.alpha)

    return rule


RULES: dict[str, Rule] = {
    "before: fixed 5 sigma": current(),
    "fixed 6 sigma": fixed(6.0),
    "fixed 7 sigma": fixed(7.0),
    "fixed 8 sigma": fixed(8.0),
    "fixed 6 sigma loo": fixed(6.0, loo=True),
    "fixed 7 sigma loo": fixed(7.0, loo=True),
    "bonf t4 fw1%": bonf(0.01, 4),
    "bonf t5 fw1%": bonf(0.01, 5),
    "bonf t3 fw5%": bonf(0.05, 3),
    "bonf t4 fw5%": bonf(0.05, 4),
    "bonf t4 fw5% loo": bonf(0.05, 4, loo=True),
    "bonf t4 fw5% holm": bonf(0.05, 4, holm=True),
    "bonf t4 fw5% +within": bonf(0.05, 4, within=1.0),
    "bonf t3 fw1% +within": bonf(0.01, 3, within=1.0),
    "bonf t3 fw1% loo": bonf(0.01, 3, loo=True),
    "adopted: bonf t3 fw1%": adopted(Settings()),
}


def load(work: Path) -> tuple[list[Results], list[Results]]:
    base = [load_results(p) for p in sorted(work.glob("base[0-9][0-9]"))]
    var = [load_results(p) for p in sorted(work.glob("variant[0-9][0-9]"))]
    return base, var


def pairs_of(base: list[Results], var: list[Results], k: int, s: Settings) -> dict[str, list[Pair]]:
    """Same-code and slowed pairs with k runs per side."""
    if k == 1:
        bg = [[r] for r in base]
        vg = [[r] for r in var]
    else:
        bg = [base[i : i + k] for i in range(0, len(base) - k + 1, k)]
        vg = [var[i : i + k] for i in range(0, len(var) - k + 1, k)]
    aa = [extract(a, b, s) for a, b in itertools.combinations(bg, 2)]
    first = [extract(bg[0], v, s) for v in vg]
    every = [extract(b, v, s) for b in bg for v in vg]
    return {"aa": aa, "first": first, "every": every}


def score(rule: Rule, sets: dict[str, list[Pair]]) -> str:
    fails = reg = timed = 0
    for pr in sets["aa"]:
        hit = rule(pr)
        fails += bool(hit.any())
        reg += int(hit.sum())
        timed += pr.m
    det = {f: [0, 0] for f in SLOWED}
    gate_fail_ctl = 0
    for pr in sets["every"]:
        hit = rule(pr)
        ctl = False
        for i, key in enumerate(pr.keys):
            fam = key[0].split("/")[0]
            if fam in det:
                det[fam][0] += bool(hit[i])
                det[fam][1] += 1
            elif hit[i]:
                ctl = True
        gate_fail_ctl += ctl
    n_aa, n_ev = len(sets["aa"]), len(sets["every"])
    d15, d20 = det["slow15"], det["slow20"]
    return (
        f"gate FA {fails:3d}/{n_aa} ({100 * fails / n_aa:4.1f}%)  "
        f"case FA {reg:3d}/{timed} ({100 * reg / timed:4.2f}%)  | "
        f"1.5x {d15[0]:3d}/{d15[1]} ({100 * d15[0] / d15[1]:3.0f}%)  "
        f"2x {d20[0]:3d}/{d20[1]} ({100 * d20[0] / d20[1]:3.0f}%)  "
        f"ctl-FA pairs {gate_fail_ctl}/{n_ev}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("work", type=Path, nargs="+", help="directories from compare_noise.py --keep")
    ap.add_argument("--dump", action="store_true", help="print the standardized residuals")
    args = ap.parse_args()
    s = Settings()
    for work in args.work:
        base, var = load(work)
        print(f"== {work}: {len(base)} same-code runs, {len(var)} variant runs ==")
        for k in (1, 3):
            sets = pairs_of(base, var, k, s)
            print(
                f"-- {k} run(s) per side: {len(sets['aa'])} same-code pairs; detection over "
                f"{len(sets['every'])} (baseline, variant) pairs"
            )
            if args.dump and k == 1:
                z = np.concatenate([pr.resid / mad(pr.resid) for pr in sets["aa"]])
                sg = np.array([mad(pr.resid) for pr in sets["aa"]])
                q = np.quantile(z, [0.5, 0.9, 0.99, 0.999])
                print(f"   z quantiles 50/90/99/99.9%: {np.round(q, 2)}; max {z.max():.2f}")
                print(f"   sigma over pairs: {np.round(np.quantile(sg, [0, 0.5, 1]), 3)}")
                mx = [float(np.max(pr.resid / mad(pr.resid))) for pr in sets["aa"]]
                print(f"   max z per pair, top 12: {np.round(sorted(mx)[-12:], 1)}")
                sv = [pr.resid / mad(pr.resid) for pr in sets["every"]]
                zs = {
                    f: np.array(
                        [
                            z[i]
                            for pr, z in zip(sets["every"], sv, strict=True)
                            for i, kk in enumerate(pr.keys)
                            if kk[0].startswith(f)
                        ]
                    )
                    for f in SLOWED
                }
                for f, zz in zs.items():
                    q = np.round(np.quantile(zz, [0.1, 0.5, 0.9]), 1)
                    print(f"   {f} z quantiles 10/50/90%: {q}")
            for name, rule in RULES.items():
                print(f"   {name:24s} {score(rule, sets)}")


if __name__ == "__main__":
    main()
