"""Results -> a recommendation per case and device (pure; no JAX, no I/O).

The verdict comes from the ratio t(jacfwd) / t(jacrev) over rounds in which both modes were
timed back to back, with a bootstrap 95% interval. A mode is recommended only when the whole
interval lies beyond the practical margin (default 10%) in its favour; otherwise it is a tie,
because a difference the evidence cannot place outside the margin is not worth acting on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from adbench.analysis import stats
from adbench.store import schema

FWD, REV = "jacfwd", "jacrev"


def textbook(d_in: int, d_out: int) -> str:
    """What the classic rule says: forward when d_in < d_out, reverse when d_in > d_out."""
    if d_in < d_out:
        return FWD
    if d_in > d_out:
        return REV
    return "either"


def decide(ratio: stats.RatioEstimate, margin: float) -> str:
    """jacfwd / jacrev / tie from the interval of t_fwd / t_rev and the practical margin."""
    if math.isnan(ratio.ci_low) or math.isnan(ratio.ci_high):
        return "tie"
    if ratio.ci_high < 1.0 / (1.0 + margin):
        return FWD
    if ratio.ci_low > 1.0 + margin:
        return REV
    return "tie"


def break_even_calls(
    winner_run_s: float, loser_run_s: float, winner_once_s: float, loser_once_s: float
) -> float:
    """Calls after which the faster mode has repaid its longer one-off cost (0: from the first).

    one-off cost = trace/lower + compile seconds.
    """
    if any(math.isnan(v) for v in (winner_run_s, loser_run_s, winner_once_s, loser_once_s)):
        return math.nan
    extra = winner_once_s - loser_once_s
    if extra <= 0:
        return 0.0
    gain = loser_run_s - winner_run_s
    if gain <= 0:
        return math.inf
    return float(math.ceil(extra / gain))


def _safe_ratio(a: Any, b: Any) -> float:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


def _paired_samples(
    samples: pd.DataFrame, case_id: str, host: Any, device: str
) -> tuple[np.ndarray, ...]:
    sel = samples[(samples["case_id"] == case_id) & (samples["device"] == device)]
    if "host" in sel:  # rows of several machines (adbench merge): keep them apart
        sel = sel[sel["host"].fillna("").astype(str) == ("" if pd.isna(host) else str(host))]
    out = []
    for mode in (FWD, REV):
        s = sel[sel["strategy"] == mode].sort_values("round")
        out.append(s.set_index("round")["seconds"].astype(float))
    fwd, rev = out
    common = fwd.index.intersection(rev.index)
    return fwd.loc[common].to_numpy(), rev.loc[common].to_numpy()


def _one(
    key: dict[str, Any], fwd: pd.Series, rev: pd.Series, samples: pd.DataFrame, margin: float
) -> dict[str, Any]:
    row: dict[str, Any] = dict(key)
    row["margin"] = margin
    row["textbook"] = textbook(int(key["d_in"]), int(key["d_out"]))
    row["median_jacfwd_s"] = float(fwd["median_s"])
    row["median_jacrev_s"] = float(rev["median_s"])
    row["compile_jacfwd_s"] = float(fwd["compile_s"])
    row["compile_jacrev_s"] = float(rev["compile_s"])
    row["flop_ratio"] = _safe_ratio(fwd["flops"], rev["flops"])
    row["temp_ratio"] = _safe_ratio(fwd["temp_bytes"], rev["temp_bytes"])
    bad = [r for r in (fwd, rev) if r["status"] != schema.STATUS_OK]
    if bad:
        row.update(recommended="n/a", agrees_with_textbook="n/a")
        row["reason"] = "; ".join(f"{r['strategy']} {r['status']}: {r['reason']}" for r in bad)
        return row
    a, b = _paired_samples(samples, key["case_id"], key.get("host"), key["device"])
    est = stats.paired_ratio(a, b)
    verdict = decide(est, margin)
    row.update(fwd_rev_ratio=est.ratio, fwd_rev_ci_low=est.ci_low, fwd_rev_ci_high=est.ci_high)
    row["recommended"] = verdict
    row["fwd_rev"] = verdict
    if verdict == "tie":
        row["tie_set"] = f"{FWD}|{REV}"
    row["speedup"] = max(est.ratio, 1.0 / est.ratio) if est.ratio > 0 else math.nan
    once = {m: float(r["lower_s"]) + float(r["compile_s"]) for m, r in ((FWD, fwd), (REV, rev))}
    run = {FWD: float(fwd["median_s"]), REV: float(rev["median_s"])}
    interval = f"fwd/rev time ratio {est.ratio:.3g} (95% CI {est.ci_low:.3g}-{est.ci_high:.3g}, "
    interval += f"{est.n} paired rounds)"
    if verdict == "tie":
        row["break_even_calls"] = math.nan
        row["agrees_with_textbook"] = "n/a"
        inside = 1 / (1 + margin) <= est.ci_low and est.ci_high <= 1 + margin
        why = f"within the ±{margin:.0%} margin" if inside else "not separated beyond the margin"
        row["reason"] = f"tie, {why}: {interval}"
        return row
    loser = REV if verdict == FWD else FWD
    row["break_even_calls"] = break_even_calls(run[verdict], run[loser], once[verdict], once[loser])
    book = row["textbook"]
    row["agrees_with_textbook"] = (
        "n/a" if book == "either" else ("yes" if book == verdict else "no")
    )
    row["reason"] = f"{verdict} {row['speedup']:.3g}x faster: {interval}"
    return row


def verdicts_for(
    results: pd.DataFrame, samples: pd.DataFrame, *, margin: float = 0.1
) -> pd.DataFrame:
    """One verdict row per (case, device) with the columns of schema.VERDICT_COLUMNS.

    results: the results table (one row per case x mode x device);
    samples: the raw samples table (per-call seconds, one row per round).
    """
    rows = []
    if len(results):
        for _, group in results.groupby(list(schema.CASE_GROUP), sort=False, dropna=False):
            first = group.iloc[0]
            key = {c: first[c] for c in schema.CASE_KEY}
            key["d_in"], key["d_out"] = int(first["d_in"]), int(first["d_out"])
            by_mode = {r["strategy"]: r for _, r in group.iterrows()}
            if FWD not in by_mode or REV not in by_mode:
                only = ", ".join(sorted(by_mode))
                rows.append(
                    {
                        **key,
                        "recommended": "n/a",
                        "margin": margin,
                        "textbook": textbook(key["d_in"], key["d_out"]),
                        "agrees_with_textbook": "n/a",
                        "reason": f"only {only} measured; a verdict needs both modes",
                    }
                )
                continue
            rows.append(_one(key, by_mode[FWD], by_mode[REV], samples, margin))
    return pd.DataFrame(rows).reindex(columns=list(schema.VERDICT_COLUMNS))
