"""`adbench show DIR [CASE]`: one case in full, every stored number of every strategy; and
`adbench run --dry-run`'s list of what a run would measure.

The verdict table keeps one line per case and hides a failed strategy's reason behind "n/a";
this view is where that reason, the one-off costs and XLA's numbers are read. Renders lines of
plain text from loaded results (columns of adbench.store.schema); prints nothing.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from adbench.analysis.results import with_verdicts
from adbench.fmt import nbytes as fmt_bytes
from adbench.fmt import num as fmt_num
from adbench.fmt import number as fmt_number
from adbench.fmt import seconds as fmt_seconds
from adbench.fmt import whole as fmt_whole
from adbench.store import schema
from adbench.store.reader import Results

if TYPE_CHECKING:
    from adbench.dry_run import RunPlan


class UnknownCase(LookupError):
    """No stored case has that id; the message names the closest ones."""


def _present(v: Any) -> bool:
    return not (v is None or (isinstance(v, float) and math.isnan(v)) or v == "")


def _when(v: Any) -> str:
    if not _present(v):
        return "-"
    try:
        return dt.datetime.fromtimestamp(float(v), dt.timezone.utc).isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError):
        return str(v)


def by_size(results: pd.DataFrame) -> pd.DataFrame:
    """Rows in the order people read them: families as they first appear, each by size (d_in,
    d_out, batch), not in the order they were measured (a size search measures the ends, then
    the middle: 10, 10000, 316, ...). Stable: a case's own rows keep their order."""
    if results.empty:
        return results
    first = {f: i for i, f in enumerate(dict.fromkeys(results["family"].astype(str)))}
    keys = pd.DataFrame(
        {
            "family": results["family"].astype(str).map(first),
            **{c: pd.to_numeric(results[c], errors="coerce") for c in ("d_in", "d_out", "batch")},
        },
        index=results.index,
    )
    order = keys.sort_values(["family", "d_in", "d_out", "batch"], kind="stable").index
    return results.loc[order]


def overview(res: Results) -> list[str]:
    """One line per stored case x device, by family and size: each strategy's status and the
    verdict."""
    verdicts = {
        (str(v["case_id"]), str(v["host"]), str(v["device"])): v
        for v in with_verdicts(res).verdicts.to_dict("records")
    }
    lines = []
    for (cid, host, device), group in by_size(res.results).groupby(
        ["case_id", "host", "device"], sort=False, dropna=False
    ):
        statuses = ", ".join(f"{r['strategy']} {r['status']}" for r in group.to_dict("records"))
        v = verdicts.get((str(cid), str(host), str(device)))
        verdict = f"; verdict {v['recommended']}" if v is not None else ""
        lines.append(f"{cid} on {device}: {statuses}{verdict}")
    return lines


def case_detail(res: Results, case_id: str) -> list[str]:
    """Every stored number of the case `case_id`, on every device and host that measured it."""
    rows = res.results[res.results["case_id"] == case_id]
    if rows.empty:
        ids = list(dict.fromkeys(res.results["case_id"].astype(str)))
        close = difflib.get_close_matches(case_id, ids, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownCase(f"{res.path}: no case {case_id!r}{hint} (`adbench show DIR` lists them)")
    lines: list[str] = []
    judged = with_verdicts(res)  # stale or missing stored verdicts: recomputed, as report does
    for (host, device), group in rows.groupby(["host", "device"], sort=False, dropna=False):
        first = group.iloc[0]
        lines += [
            f"{case_id}: family {first['family']}, task {first['task']}, d_in {first['d_in']}, "
            f"d_out {first['d_out']}, batch {first['batch']}",
            f"on {device} ({first['device_kind']}, host {host}); {first['dtype']}, "
            f"jit {first['jit']}; source {first['source']}",
        ]
        lines += _verdict(judged, case_id, str(host), str(device))
        for r in group.to_dict("records"):
            lines += _strategy({str(k): v for k, v in r.items()}, res.samples, case_id, str(device))
        lines.append("")
    return lines[:-1]


def _verdict(res: Results, case_id: str, host: str, device: str) -> list[str]:
    v = res.verdicts
    if v.empty:
        return []
    hit = v[
        (v["case_id"] == case_id)
        & (v["device"].astype(str) == device)
        & (v["host"].fillna("").astype(str) == ("" if host == "nan" else host))
    ]
    if hit.empty:
        return []
    r = hit.iloc[0]
    out = [f"verdict: {r['recommended']}"]
    if _present(r.get("runner_up")) and _present(r.get("speedup")):
        out[0] += (
            f" ({fmt_num(r['speedup'])}x faster than {r['runner_up']}; time ratio "
            f"{fmt_num(r['ratio'])} [{fmt_num(r['ratio_ci_low'])}, {fmt_num(r['ratio_ci_high'])}])"
        )
    if _present(r.get("reason")):
        out.append(f"  {r['reason']}")
    return out


def _strategy(r: dict[str, Any], samples: pd.DataFrame, case_id: str, device: str) -> list[str]:
    status = str(r["status"])
    head = f"  {r['strategy']}: {status}"
    if status != schema.STATUS_OK and _present(r.get("reason")):
        head += f": {r['reason']}"
    out = [head]
    if _present(r.get("median_s")):
        out.append(
            f"    run time   median {fmt_seconds(r['median_s'])} [95% CI "
            f"{fmt_seconds(r['ci_low_s'])}, {fmt_seconds(r['ci_high_s'])}], IQR "
            f"{fmt_seconds(r['iqr_s'])}, min {fmt_seconds(r['min_s'])}, max "
            f"{fmt_seconds(r['max_s'])}; {fmt_whole(r['n_samples'])} samples x "
            f"{fmt_whole(r['n_inner'])} calls, {fmt_whole(r['outliers'])} outliers"
        )
    once = [
        (label, r.get(col))
        for label, col in (
            ("lower", "lower_s"),
            ("compile", "compile_s"),
            ("setup", "setup_s"),
            ("first call", "first_call_s"),
        )
        if _present(r.get(col))
    ]
    if once:
        out.append("    one-off    " + ", ".join(f"{k} {fmt_seconds(v)}" for k, v in once))
    xla = [
        ("flops", fmt_num(r.get("flops"))),
        ("transcendentals", fmt_num(r.get("transcendentals"))),
        ("bytes accessed", fmt_bytes(r.get("bytes_accessed"))),
        ("temp", fmt_bytes(r.get("temp_bytes"))),
        ("argument", fmt_bytes(r.get("argument_bytes"))),
        ("output", fmt_bytes(r.get("output_bytes"))),
        ("code", fmt_bytes(r.get("generated_code_bytes"))),
    ]
    if any(v != "-" for _, v in xla):
        out.append("    XLA        " + ", ".join(f"{k} {v}" for k, v in xla))
    chose = [
        (col, r.get(col))
        for col in ("chunk_size", "colors", "sparse_mode", "nnz")
        if _present(r.get(col))
    ]
    if chose:
        out.append("    chose      " + ", ".join(f"{k} {_chosen(v)}" for k, v in chose))
    if _present(r.get("max_abs_diff")):
        out.append(
            f"    check      max |diff| against the reference {fmt_num(r['max_abs_diff'])} "
            f"at max |value| {fmt_num(r.get('max_abs'))}"
        )
    if _present(r.get("instructions")):
        out.append(
            f"    simulated  {fmt_num(r['instructions'])} instructions per call "
            f"(spread {fmt_num(r.get('instructions_spread'))})"
        )
    if _present(r.get("started_at")):
        out.append(f"    measured   {_when(r['started_at'])} to {_when(r.get('ended_at'))}")
    if len(samples):
        mine = samples[
            (samples["case_id"] == case_id)
            & (samples["device"].astype(str) == device)
            & (samples["strategy"] == r["strategy"])
        ]
        if len(mine):
            secs = ", ".join(fmt_seconds(s) for s in mine["seconds"].head(12))
            more = f", ... ({len(mine)} in all)" if len(mine) > 12 else ""
            out.append(f"    samples    {secs}{more}")
    return out


def _chosen(v: Any) -> str:
    """A strategy's choice as text: counts whole (chunk_size 100, nnz 1000), words as they are."""
    return fmt_whole(v) if fmt_number(v) is not None and not isinstance(v, str) else str(v)


def gib(n: float) -> str:
    return fmt_bytes(n, missing="?")


def plan_lines(plan: RunPlan) -> list[str]:
    """`run --dry-run`: one line per case (sizes, least memory need, why it is skipped), then
    the timing the time budgets imply and what the memory column means."""

    width = max([len("case"), *(len(c.case_id) for c in plan.cases)])
    lines = [f"{'case':<{width}}  {'d_in':>8}  {'d_out':>8}  {'memory':>10}  note"]
    for c in plan.cases:
        note = ""
        if c.over_budget:
            note = f"refused: over the memory budget of {gib(plan.budget_bytes or 0)}"
        elif c.stored_on:
            note = f"stored on {', '.join(c.stored_on)}: skipped"
        mem = gib(c.memory_bytes)
        lines.append(f"{c.case_id:<{width}}  {c.d_in:>8}  {c.d_out:>8}  {mem:>10}  {note}")
    guard = f"budget {gib(plan.budget_bytes)}" if plan.budget_bytes is not None else "guard off"
    lines += [
        f"{len(plan.cases)} case(s), {plan.to_run} to measure on each device: about "
        f"{plan.timing_s:.3g} s of timing per device ({plan.to_run} x time_budget_s "
        f"{plan.time_budget_s:g} s; cases with very slow calls take up to 3x), plus tracing "
        "and compiling, which only a run can tell.",
        "memory: the Jacobian on the device plus its host copies, the least any mode needs; "
        f"XLA's analysis of each compiled mode is the real guard ({guard}).",
    ]
    return lines
