"""Results -> one verdict per case x host x device among N strategies, and a ranking (pure).

Among the strategies that ran, the fastest is the one with the smallest per-round time ratio to
the others (:mod:`adbench.analysis.paired`). It is ``recommended`` only when, against every other
strategy that ran, the bootstrap 95% interval of the ratio clears the practical margin (default
10%; :func:`adbench.analysis.stats.decide`); otherwise the verdict is ``tie`` and ``tie_set``
names the fastest and every strategy the evidence cannot separate from it. A strategy that failed
or was refused by the memory guard is named with its reason and the verdict is taken among those
that ran, so a case where only jacrev ran recommends jacrev ("the only strategy that ran"), and
``none`` means nothing ran.

A decision needs evidence: when the fastest and any other strategy share fewer than
:data:`adbench.analysis.decision.MIN_ROUNDS` paired rounds (the module says why: below that a 95%
interval is not attainable) the verdict is ``undecided`` with the count in its reason
("undecided: 3 rounds: too few to decide"), neither a recommendation nor a tie; the ranking's
``n_rounds`` holds each strategy's paired rounds with the fastest, so the fewest of a case's is
what its verdict rests on. The same holds for the ``fwd_rev`` column. A strategy the
race eliminated (:mod:`adbench.analysis.sequential`: its rounds end before the case's last one)
keeps its rounds and its rank; ``eliminated_at_round`` in the ranking says after how many.

With a memory budget the recommendation is the fastest strategy that fitted. A strategy refused
by the guard is named in ``fastest_unfit`` when XLA's flop count (read from the compiled
derivative before the guard refused it) is below the fastest one's by more than the margin: the
prediction METHOD.md found right on 22 of 22 decisive fwd/rev cases here, though XLA undercounts
loops, so it is a pointer, not a measurement.

For Jacobian tasks the classic two-mode view stays: the ``fwd_rev*`` columns judge jacfwd
against jacrev alone, with the same pairs and the same decision as the crossover
(:mod:`adbench.analysis.crossover`), beside the textbook rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from adbench import fmt
from adbench.analysis import decision, estimators, stats
from adbench.analysis.decision import FWD, NA, NONE, REV, TIE, UNDECIDED
from adbench.analysis.paired import CasePairs, rounds_by_strategy, with_keys
from adbench.store import schema

__all__ = ["FWD", "NONE", "REV", "TIE", "UNDECIDED", "Judged", "fastest", "judge", "judge_case"]


def textbook(d_in: int, d_out: int) -> str:
    """What the classic rule says: forward when d_in < d_out, reverse when d_in > d_out."""
    if d_in < d_out:
        return FWD
    if d_in > d_out:
        return REV
    return "either"


def break_even_calls(
    winner_run_s: float, loser_run_s: float, winner_once_s: float, loser_once_s: float
) -> float:
    """Calls after which the faster strategy has repaid its longer one-off cost (0: from the
    first call; inf: never). One-off cost = lower + compile + setup seconds (:func:`once_s`).

    Rounded up: after ``floor`` calls the saving is still short of the extra one-off cost.
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


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def once_s(row: Mapping[str, Any]) -> float:
    """One-off seconds of a results row: lower + compile + setup (a missing setup_s counts 0)."""
    setup = _num(row.get("setup_s"))
    return (
        _num(row.get("lower_s"))
        + _num(row.get("compile_s"))
        + (0.0 if math.isnan(setup) else setup)
    )


def _ratio(a: Any, b: Any) -> float:
    a, b = _num(a), _num(b)
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan


@dataclass(frozen=True)
class Judged:
    """verdicts: one row per case x host x device (schema.VERDICT_COLUMNS); ranking: one row per
    case x strategy x host x device (schema.RANKING_COLUMNS)."""

    verdicts: pd.DataFrame
    ranking: pd.DataFrame


def judge(
    results: pd.DataFrame,
    samples: pd.DataFrame | None,
    *,
    margin: float = 0.1,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Judged:
    """Verdicts and ranking of every case.

    results: the results table (schema.RESULT_COLUMNS, one row per case x strategy x host x
    device); samples: the raw samples (schema.SAMPLE_COLUMNS), per-call seconds, one per round.
    """
    verdicts: list[dict[str, Any]] = []
    ranking: list[dict[str, Any]] = []
    if len(results):
        by_case: dict[Any, pd.DataFrame] = {}
        if samples is not None and len(samples):
            by_case = dict(iter(with_keys(samples).groupby(list(schema.CASE_GROUP), sort=False)))
        for key, group in with_keys(results).groupby(list(schema.CASE_GROUP), sort=False):
            rows: list[dict[str, Any]] = group.to_dict("records")  # type: ignore[assignment]
            pairs = CasePairs(
                rounds_by_strategy(by_case.get(key)),
                {str(r["strategy"]): _num(r.get("median_s")) for r in rows},
                confidence=confidence,
                n_boot=n_boot,
                seed=seed,
            )
            v, rank = judge_case(rows, pairs, margin)
            verdicts.append(v)
            ranking += rank
    return Judged(
        pd.DataFrame(verdicts).reindex(columns=list(schema.VERDICT_COLUMNS)),
        pd.DataFrame(ranking).reindex(columns=list(schema.RANKING_COLUMNS)),
    )


def verdicts_for(
    results: pd.DataFrame, samples: pd.DataFrame | None, *, margin: float = 0.1
) -> pd.DataFrame:
    """One verdict row per case x host x device (schema.VERDICT_COLUMNS); see :func:`judge`."""
    return judge(results, samples, margin=margin).verdicts


def fastest(ran: Sequence[str], pairs: CasePairs) -> str:
    """The strategy with the smallest per-round ratio to the others.

    Start from the smallest stored median; if another strategy is faster round by round against
    it, take the one that is most so. Per-round ratios need not be transitive across three or
    more strategies, so one correction may not find a strategy ahead of all others; a strategy
    the evidence would still place ahead of the one chosen is then not separated from it, and
    lands in the tie set rather than out of sight.
    """
    first = min(ran, key=lambda s: (pairs.medians.get(s, math.inf), s))
    rel = {s: pairs.get(s, first).estimate.ratio for s in ran if s != first}
    faster = [s for s, r in rel.items() if r < 1.0]
    return min(faster, key=lambda s: (rel[s], s)) if faster else first


def _problems(rows: Sequence[Mapping[str, Any]], ran: Sequence[str]) -> str:
    bad = [r for r in rows if str(r["strategy"]) not in ran]
    return "; ".join(f"{r['strategy']} {r['status']}: {_text(r.get('reason'))}" for r in bad)


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _eliminated(pairs: CasePairs, ran: Sequence[str]) -> dict[str, int]:
    """strategy -> rounds it was timed in, for each strategy whose rounds end before the case's
    last round (the race stopped timing it; :mod:`adbench.analysis.sequential`)."""
    last = {s: int(r.index.max()) for s in ran if (r := pairs.rounds.get(s)) is not None and len(r)}
    if not last:
        return {}
    end = max(last.values())
    return {s: int(len(pairs.rounds[s])) for s, e in last.items() if e < end}


def judge_case(
    rows: Sequence[Mapping[str, Any]], pairs: CasePairs, margin: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(verdict row, ranking rows) of one case x host x device from its results rows."""
    first = rows[0]
    key = {c: first.get(c) for c in schema.CASE_KEY}
    d_in, d_out = int(_num(first["d_in"])), int(_num(first["d_out"]))
    by_name = {str(r["strategy"]): r for r in rows}
    ran = [
        s
        for s, r in by_name.items()
        if r.get("status") == schema.STATUS_OK and _num(r.get("median_s")) > 0
    ]
    ran, aside = estimators.competing(by_name, ran)  # an estimate only within its tolerance
    v: dict[str, Any] = {**key, "margin": margin, "n_ran": len(ran), "n_strategies": len(rows)}
    v.update(_fwd_rev(key, d_in, d_out, by_name, ran, pairs, margin))
    conf = f"{pairs.confidence:.0%} CI"
    problems = _problems([r for r in rows if str(r["strategy"]) not in aside], ran)
    problems = "; ".join(p for p in (problems, *aside.values()) if p)
    tail = f"; {problems}" if problems else ""
    ranking = [_rank_row(key, r) for r in rows]
    for row in ranking:  # an estimate set aside says why it is not ranked
        if str(row["strategy"]) in aside:
            row["reason"] = f"not ranked: {aside[str(row['strategy'])]}"
    if not ran:
        v["recommended"] = NONE
        v["reason"] = f"no strategy ran: {problems}"
        return v, ranking
    best = fastest(ran, pairs)
    v["best_s"] = _num(by_name[best]["median_s"])
    unfit = _fastest_unfit(by_name, best, margin)
    if unfit:
        v["fastest_unfit"] = unfit
    rel = {s: pairs.get(s, best) for s in ran if s != best}
    order = [best, *sorted(rel, key=lambda s: (rel[s].estimate.ratio, s))]
    tied = [best, *(s for s in order[1:] if pairs.faster(s, best, margin) != best)]
    own_rounds = pairs.rounds.get(best)
    n_rounds = min(
        (p.estimate.n for p in rel.values()),
        default=len(own_rounds) if own_rounds is not None else 0,
    )
    undecided = len(ran) > 1 and not decision.enough_rounds(n_rounds)
    if len(ran) == 1:
        v["recommended"] = best
        v["reason"] = f"{best}: the only strategy that ran{tail}"
    else:
        ru = order[1]
        e = rel[ru].inverted().estimate  # t(best) / t(runner-up)
        v.update(runner_up=ru, ratio=e.ratio, ratio_ci_low=e.ci_low, ratio_ci_high=e.ci_high)
        evidence = (
            f"{best}/{ru} time ratio {fmt.num(e.ratio)} ({conf} {fmt.num(e.ci_low)}-"
            f"{fmt.num(e.ci_high)}, {e.n} paired rounds)"
        )
        if undecided:
            v["recommended"] = UNDECIDED
            v["reason"] = (
                f"undecided: {decision.too_few(n_rounds)}; {best} fastest so far, {evidence}{tail}"
            )
        elif len(tied) == 1:
            v["recommended"] = best
            v["speedup"] = 1.0 / e.ratio
            v["break_even_calls"] = break_even_calls(
                _num(by_name[best]["median_s"]),
                _num(by_name[ru]["median_s"]),
                once_s(by_name[best]),
                once_s(by_name[ru]),
            )
            # an estimator's speed has a price: its error, and its speed against the exact ones
            trade = estimators.at_error(by_name, best, {s: rel[s].estimate.ratio for s in rel})
            v["reason"] = (
                f"{best} {fmt.factor(1.0 / e.ratio)} faster than {ru}{trade}: {evidence}{tail}"
            )
        else:
            v["recommended"] = TIE
            v["tie_set"] = "|".join(tied)
            inside = all(stats.within_margin(rel[s].estimate, margin) for s in tied[1:])
            why = (
                f"within the ±{margin:.0%} margin" if inside else "not separated beyond the margin"
            )
            v["reason"] = f"tie between {', '.join(tied)}, {why}: {evidence}{tail}"
    ranks = {s: 1 if s in tied else i + 1 for i, s in enumerate(order)}
    out_at = _eliminated(pairs, ran)
    for row in ranking:
        s = str(row["strategy"])
        if s not in ranks:
            continue
        own: stats.RatioEstimate | None = rel[s].estimate if s in rel else None
        if own is not None:
            row["n_rounds"] = own.n
        else:
            row["n_rounds"] = len(own_rounds) if own_rounds is not None else 0
        row.update(
            rank=math.nan if undecided else ranks[s],
            rel_time=1.0 if own is None else own.ratio,
            rel_ci_low=1.0 if own is None else own.ci_low,
            rel_ci_high=1.0 if own is None else own.ci_high,
        )
        gone = ""
        if s in out_at:
            row["eliminated_at_round"] = out_at[s]
            gone = f"; eliminated after {out_at[s]} rounds (no more rounds needed)"
        if undecided:
            row["reason"] = f"unranked: {decision.too_few(n_rounds)}"
        elif own is None:
            row["reason"] = "fastest" if len(ran) > 1 else "the only strategy that ran"
        elif s in tied:
            row["reason"] = (
                f"tied with {best}: {fmt.interval(own.ratio, own.ci_low, own.ci_high)} "
                f"not beyond ±{margin:.0%}{gone}"
            )
        else:
            row["reason"] = (
                f"{fmt.factor(own.ratio)} the time of {best} ({conf} {fmt.num(own.ci_low)}-"
                f"{fmt.num(own.ci_high)}){gone}"
            )
    return v, ranking


def _rank_row(key: Mapping[str, Any], r: Mapping[str, Any]) -> dict[str, Any]:
    ok = r.get("status") == schema.STATUS_OK
    return {
        **key,
        "strategy": r["strategy"],
        "status": r.get("status"),
        "median_s": _num(r.get("median_s")),
        "once_s": once_s(r),
        "reason": "" if ok else f"{r.get('status')}: {_text(r.get('reason'))}",
    }


def _fastest_unfit(by_name: Mapping[str, Mapping[str, Any]], best: str, margin: float) -> str:
    """The refused strategy XLA's flops predict faster than ``best`` beyond the margin, or ""."""
    best_flops = _num(by_name[best].get("flops"))
    if not best_flops > 0:
        return ""
    unfit = {
        s: _num(r.get("flops"))
        for s, r in by_name.items()
        if r.get("status") == schema.STATUS_MEMORY and _num(r.get("flops")) >= 0
    }
    cheaper = {s: f for s, f in unfit.items() if f * (1.0 + margin) < best_flops}
    return min(cheaper, key=lambda s: (cheaper[s], s)) if cheaper else ""


def _fwd_rev(
    key: Mapping[str, Any],
    d_in: int,
    d_out: int,
    by_name: Mapping[str, Mapping[str, Any]],
    ran: Sequence[str],
    pairs: CasePairs,
    margin: float,
) -> dict[str, Any]:
    """The classic jacfwd-vs-jacrev columns of a Jacobian task (textbook only, without both)."""
    if key.get("task") not in ("jacobian", None) or (
        isinstance(key.get("task"), float) and math.isnan(key["task"])
    ):
        return {"textbook": NA, "agrees_with_textbook": NA}
    out: dict[str, Any] = {"textbook": textbook(d_in, d_out), "agrees_with_textbook": NA}
    fwd, rev = by_name.get(FWD), by_name.get(REV)
    if fwd is None or rev is None:
        return out
    out.update(
        median_jacfwd_s=_num(fwd.get("median_s")),
        median_jacrev_s=_num(rev.get("median_s")),
        compile_jacfwd_s=_num(fwd.get("compile_s")),
        compile_jacrev_s=_num(rev.get("compile_s")),
        flop_ratio=_ratio(fwd.get("flops"), rev.get("flops")),
        temp_ratio=_ratio(fwd.get("temp_bytes"), rev.get("temp_bytes")),
    )
    if FWD not in ran or REV not in ran:
        out["fwd_rev"] = NA
        return out
    re = pairs.get(FWD, REV).estimate
    winner = pairs.faster(FWD, REV, margin) or TIE
    if not decision.enough_rounds(re.n):
        winner = UNDECIDED
    out.update(fwd_rev=winner, fwd_rev_ratio=re.ratio, fwd_rev_ci_low=re.ci_low)
    out["fwd_rev_ci_high"] = re.ci_high
    book = out["textbook"]
    if decision.names_one(winner) and book != "either":
        out["agrees_with_textbook"] = "yes" if book == winner else "no"
    return out
