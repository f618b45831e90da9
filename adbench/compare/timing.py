"""The timing tier of `adbench compare`: is a case x strategy slower than in the baseline,
beyond what the machine does on its own? Pure: loaded runs in, findings out.

Between two processes on a shared machine a case moves far more than its samples spread inside one
run (x1.4-x2.7 here, and whole cases jump x2 when a neighbour takes a core), so a test on the
samples alone cries wolf. Each side is therefore read at the level of processes:

1. Drift. Every process is compared with the first baseline process over all timed case x
   strategies of a device; the median log ratio is that process's drift (the machine as a whole
   got slower or faster) and is divided out. The runs are their own A/A control.
2. Pooling. With several runs per side (repeated processes, see
   :func:`adbench.compare.gate.load_runs`) a case's value on that side is the median over
   processes of the drift-corrected medians, so one process in which the case jumped is voted
   out. With one run per side this is just its median.
3. Noise. r = current / baseline per case x strategy, re-centred on its median; the spread of
   log r across cases (1.4826 x MAD) is the run-to-run variation left, and exp(k x spread) the
   noise floor. k is set for the whole comparison, not per case: one false alarm fails the gate,
   so with m timed case x strategies each may be wrong with probability familywise_alpha / m
   (Bonferroni), read from a Student t with 3 degrees of freedom because the variation is
   heavy-tailed (a whole case, every strategy, jumps x1.6-x2.5 between processes and can stay
   there for minutes): k = 10.6 for 16 case x strategies, 13.4 for 32 (:func:`floor_sigmas`). A
   fixed k = 5 failed 8-16% of same-code comparisons of 16 case x modes here although each was
   wrong in only 0.5-2%.
4. Judgement. A slowdown is a regression only when r exceeds the threshold (default median:15%)
   AND the noise floor AND a Mann-Whitney test on the drift-corrected raw samples is significant
   (p < 0.01); otherwise it is "inconclusive", with the reason. An improvement is reported only
   when r is below the threshold AND below 1 / the noise floor AND significant: the floor guards
   both directions.

Consequences, stated on purpose: a change that slows *every* case alike looks like a slower machine
(the drift is reported as inconclusive; the deterministic tier has to catch it); with fewer than 6
timed case x strategies there is no control and every slowdown is inconclusive; on a loaded
machine the floor rises and only large slowdowns are flagged; with one run per side on a shared
2-core machine that means little short of x2-x3 (the deterministic tier is the gate there).
Strategies faster than 100 us in the baseline are left to the deterministic tier: there, after
drift correction, medians moved x2.3-x5 between processes on a 2-core machine (x1.2-x2 above
100 us).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as _t

from adbench import fmt
from adbench.analysis import stats
from adbench.compare.model import (
    DEFAULT_THRESHOLDS,
    Drift,
    Finding,
    Key,
    Kind,
    Settings,
    Threshold,
    Tier,
)
from adbench.store import schema
from adbench.store.results import Results


def samples_by_key(df: pd.DataFrame, many_hosts: bool = False) -> dict[Key, np.ndarray]:
    """Seconds per call of every (case_id, device, strategy): shape (n_samples,), positive,
    finite; the device as "host/device" when ``many_hosts`` (as the gate keys rows)."""
    if df.empty:
        return {}
    seconds = pd.to_numeric(df["seconds"], errors="coerce")
    where = df["device"].astype(str)
    if many_hosts:
        host = df["host"].fillna("").astype(str)
        where = (host + "/" + where).where(host != "", where)
    out = {}
    for (cid, dev, name), g in seconds.groupby([df["case_id"], where, df["strategy"]]):
        v = g.to_numpy(dtype=float)
        out[(str(cid), str(dev), str(name))] = v[np.isfinite(v) & (v > 0)]
    return out


def judge(
    common: Sequence[Key],
    b_rows: Mapping[Key, Mapping[str, Any]],
    c_rows: Mapping[Key, Mapping[str, Any]],
    baselines: Sequence[Results],
    currents: Sequence[Results],
    s: Settings,
    many_hosts: bool = False,
) -> tuple[list[Finding], tuple[Drift, ...], tuple[str, ...]]:
    """Timing findings, the drift per device, and the case x strategies left untimed (why)."""
    thr = s.threshold("median")
    bs = [samples_by_key(r.samples, many_hosts) for r in baselines]
    cs = [samples_by_key(r.samples, many_hosts) for r in currents]
    empty = np.empty(0)
    by_device: dict[str, list[Key]] = {}
    fast, few = [], []
    for key in common:
        if not (str(b_rows[key]["status"]) == str(c_rows[key]["status"]) == schema.STATUS_OK):
            continue  # the status tier has said what happened
        sizes = [side.get(key, empty).size for side in (*bs, *cs)]
        name = f"{key[0]} {key[2]} ({key[1]})"
        if min(sizes) < s.min_samples:
            few.append(name)
        elif float(np.median([np.median(b[key]) for b in bs])) < s.min_time_s:
            fast.append(name)
        else:
            by_device.setdefault(key[1], []).append(key)

    out: list[Finding] = []
    drifts = []
    for device, keys in sorted(by_device.items()):
        found, drift = _judge_device(device, keys, bs, cs, thr, s)
        out += found
        drifts.append(drift)
    if fast:
        out.append(
            Finding(
                Kind.NOTE,
                Tier.TIMING,
                f"{len(fast)} case x strategies faster than {fmt.seconds(s.min_time_s)} in the "
                "baseline are judged by the deterministic tier only: between processes their "
                "times move more than any useful threshold",
            )
        )
    if few:
        out.append(
            Finding(
                Kind.NOTE,
                Tier.TIMING,
                f"{len(few)} case x strategies have fewer than {s.min_samples} samples in a run "
                "and are not timed: raise time_budget_s in the run file",
            )
        )
    untimed = tuple(f"{n}: faster than {fmt.seconds(s.min_time_s)}" for n in fast) + tuple(
        f"{n}: fewer than {s.min_samples} samples" for n in few
    )
    return out, tuple(drifts), untimed


def _judge_device(
    device: str,
    keys: Sequence[Key],
    bs: Sequence[Mapping[Key, np.ndarray]],
    cs: Sequence[Mapping[Key, np.ndarray]],
    thr: Threshold,
    s: Settings,
) -> tuple[list[Finding], Drift]:
    # log medians, shape (processes, keys)
    lb = np.log([[np.median(side[k]) for k in keys] for side in bs])
    lc = np.log([[np.median(side[k]) for k in keys] for side in cs])
    runs = (len(bs), len(cs))
    if len(keys) < s.min_timed:
        out = []
        for i, key in enumerate(keys):
            mb, mc = math.exp(np.median(lb[:, i])), math.exp(np.median(lc[:, i]))
            if thr.exceeded(mc, mb):
                msg = (
                    f"x{mc / mb:.3g} slower, but only {len(keys)} timed case x strategies on "
                    f"{device} (need {s.min_timed}) to tell machine drift from a change"
                )
                out.append(_finding(Kind.INCONCLUSIVE, msg, key, mb, mc, mc / mb))
        return out, Drift(device, len(keys), math.nan, math.nan, math.nan, runs)

    ref = lb[0]
    db = np.median(lb - ref, axis=1)  # each process's drift against the first baseline process
    dc = np.median(lc - ref, axis=1)
    pooled_b = np.median(lb - db[:, None], axis=0)
    pooled_c = np.median(lc - dc[:, None], axis=0)
    centre = float(np.median(pooled_c - pooled_b))
    resid = pooled_c - pooled_b - centre  # log of each case's drift-corrected ratio
    noise = stats.MAD_TO_SIGMA * float(np.median(np.abs(resid)))
    factor = math.exp(float(np.median(dc) - np.median(db)) + centre)
    sigmas = floor_sigmas(len(keys), s) if s.noise_sigmas is None else s.noise_sigmas
    drift = Drift(device, len(keys), factor, noise, math.exp(sigmas * noise), runs)

    out = _drift_findings(drift, thr)
    for i, key in enumerate(keys):
        r = math.exp(float(resid[i]))
        mb = math.exp(float(pooled_b[i]))
        slower, faster = thr.exceeded(mb * r, mb), thr.improved(mb * r, mb)
        if not (slower or (faster and r < 1.0 / drift.floor)):
            continue
        # raw samples of every process, each divided by its process's drift
        b = np.concatenate([side[key] / math.exp(d) for side, d in zip(bs, db, strict=True)])
        c = np.concatenate(
            [side[key] / math.exp(d + centre) for side, d in zip(cs, dc, strict=True)]
        )
        est = stats.ratio_of_medians(c, b)
        p = stats.mann_whitney_p(c, b)
        significant = not math.isnan(p) and p < s.alpha
        evidence = f"95% CI {est.ci_low:.3g}-{est.ci_high:.3g}, p={p:.2g}, drift x{factor:.3g}"
        if slower and r <= drift.floor:
            kind = Kind.INCONCLUSIVE
            msg = f"x{r:.3g} slower, within run-to-run noise (floor x{drift.floor:.3g}; {evidence})"
        elif slower and not significant:
            kind = Kind.INCONCLUSIVE
            msg = f"x{r:.3g} slower, not significant ({evidence}, n={b.size}/{c.size})"
        elif slower:
            kind, msg = Kind.REGRESSION, f"x{r:.3g} slower ({evidence})"
        elif significant:
            kind, msg = Kind.IMPROVEMENT, f"x{1 / r:.3g} faster ({evidence})"
        else:
            continue
        raw_b = math.exp(float(np.median(lb[:, i])))
        raw_c = math.exp(float(np.median(lc[:, i])))
        out.append(_finding(kind, msg, key, raw_b, raw_c, r, est, p))
    return out, drift


def floor_sigmas(n_timed: int, s: Settings) -> float:
    """The noise floor in robust sigmas for ``n_timed`` case x strategies judged together.

    Each case x strategy may raise a false alarm, and one is enough to fail the comparison, so the
    per-case rate must be ``s.familywise_alpha / n_timed`` (Bonferroni: valid however the cases
    are correlated; the strategies of a case jump together). Its quantile is read from a Student t
    with ``s.noise_df`` degrees of freedom, a heavy-tailed stand-in for the ratios between
    processes (and for the few cases the spread is estimated from), rescaled so that 1 is that
    t's robust sigma (1.4826 x MAD), the unit ``Drift.noise`` is measured in.
    """
    df = s.noise_df
    q = float(_t.ppf(1.0 - s.familywise_alpha / max(n_timed, 1), df))
    return q / (stats.MAD_TO_SIGMA * float(_t.ppf(0.75, df)))


def _finding(
    kind: Kind,
    message: str,
    key: Key,
    baseline: float,
    current: float,
    ratio: float,
    est: stats.RatioEstimate | None = None,
    p: float | None = None,
) -> Finding:
    return Finding(
        kind,
        Tier.TIMING,
        message,
        *key,
        metric="median",
        baseline=baseline,
        current=current,
        ratio=ratio,
        ci_low=est.ci_low if est else None,
        ci_high=est.ci_high if est else None,
        p_value=p,
    )


def _drift_findings(d: Drift, thr: Threshold) -> list[Finding]:
    out = []
    limit = 1.0 + (thr.limit if thr.relative else DEFAULT_THRESHOLDS[0].limit)
    if d.factor > limit:
        out.append(
            Finding(
                Kind.INCONCLUSIVE,
                Tier.TIMING,
                f"every timed case on {d.device} is slower together (drift x{d.factor:.3g} over "
                f"{d.n_timed} case x strategies): a busier machine or a change that slows "
                "everything alike cannot be told apart; cases are judged relative to this drift, "
                "so rerun baseline and current back to back on one machine to know",
                device=d.device,
                metric="median",
                ratio=d.factor,
            )
        )
    elif d.factor < 1.0 / limit:
        out.append(
            Finding(
                Kind.NOTE,
                Tier.TIMING,
                f"every timed case on {d.device} is faster together (drift x{d.factor:.3g}): a "
                "quieter machine or an improvement everywhere; cases are judged relative to it",
                device=d.device,
                metric="median",
                ratio=d.factor,
            )
        )
    if thr.relative and d.floor > 1.0 + thr.limit:
        out.append(
            Finding(
                Kind.NOTE,
                Tier.TIMING,
                f"run-to-run noise on {d.device} is +-{(math.exp(d.noise) - 1) * 100:.0f}% between "
                f"cases: only slowdowns beyond x{d.floor:.3g} can be told from it"
                + ("; repeated runs per side lower it" if d.runs == (1, 1) else ""),
                device=d.device,
                metric="median",
            )
        )
    return out
