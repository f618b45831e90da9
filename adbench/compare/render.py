"""A :class:`~adbench.compare.model.Comparison` -> what people and CI systems read: a Rich table,
Markdown (PR comments, ``$GITHUB_STEP_SUMMARY``) and JSON. Returns objects or text, never prints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.text import Text

from adbench import fmt
from adbench.compare.model import Comparison, Finding, Kind, Scope
from adbench.render.terminal import FitTable
from adbench.render.views import Column, View

KIND_STYLE = {
    Kind.REGRESSION: "bold red",
    Kind.FLIP: "bold magenta",
    Kind.INCONCLUSIVE: "yellow",
    Kind.NOT_COMPARABLE: "yellow",
    Kind.IMPROVEMENT: "green",
    Kind.MISSING: "cyan",
    Kind.NEW: "cyan",
    Kind.NOTE: "dim",
}
KIND_MARK = {
    Kind.REGRESSION: "❌",
    Kind.FLIP: "🔀",
    Kind.INCONCLUSIVE: "❔",
    Kind.NOT_COMPARABLE: "⚠️",
    Kind.IMPROVEMENT: "✅",
    Kind.MISSING: "➖",
    Kind.NEW: "➕",
    Kind.NOTE: "ℹ️",
}
COLUMNS = ("finding", "tier", "case", "strategy", "metric", "baseline", "current", "change", "why")


def metric_value(metric: str, v: Any) -> str:
    if v is None or isinstance(v, str):
        return v or ""
    if metric == "median":
        return fmt.seconds(v)
    if metric in ("bytes_accessed", "temp_bytes"):
        return fmt.nbytes(v)
    if metric == "instructions":
        return fmt.count(v)
    return fmt.num(v, 4)


def _change(f: Finding) -> str:
    if f.ratio is None or (isinstance(f.ratio, float) and math.isnan(f.ratio)):
        return ""
    text = f"x{fmt.num(f.ratio)}"
    if f.ci_low is not None and f.ci_high is not None:
        text += f" [{fmt.num(f.ci_low)}, {fmt.num(f.ci_high)}]"
    return text


def finding_cells(f: Finding) -> list[str]:
    """One finding as display strings, in :data:`COLUMNS` order (shared by table and Markdown)."""
    case = f.case_id or ("(run)" if not f.device else f"(all on {f.device})")
    if f.case_id and f.device:
        case = f"{f.case_id} [{f.device}]"
    return [
        f.kind.value,
        f.tier.value,
        case,
        f.strategy,
        f.metric,
        metric_value(f.metric, f.baseline),
        metric_value(f.metric, f.current),
        _change(f),
        f.message,
    ]


def headline(cmp: Comparison) -> str:
    """'FAIL: 2 regressions, 1 flip' or 'OK: no regression', with the other counts after."""
    fail = _FAIL + ((Kind.NOT_COMPARABLE,) if cmp.settings.strict else ())
    counts = [(k, cmp.count(k)) for k in Kind if cmp.count(k)]
    failing = ", ".join(f"{n} {k.value}{'s' if n > 1 else ''}" for k, n in counts if k in fail)
    rest = ", ".join(f"{n} {k.value}" for k, n in counts if k not in fail)
    head = f"FAIL: {failing}" if failing else "OK: no regression"
    return f"{head}{f' ({rest})' if rest else ''}"


_FAIL = (Kind.REGRESSION, Kind.FLIP)


def _env(fp: Mapping[str, tuple[Any, Any]]) -> str:
    def shown(v: Any) -> str:
        return "(none)" if v == "" else str(v)

    return ", ".join(
        f"{k} {shown(b)}" if b == c else f"{k} {shown(b)} -> {shown(c)}" for k, (b, c) in fp.items()
    )


def context_lines(cmp: Comparison) -> list[str]:
    """What was compared and how: environments, timing drift and noise, thresholds."""
    lines = [f"baseline {cmp.baseline} -> current {cmp.current}"]
    if cmp.settings.scope is Scope.INSTRUCTIONS:
        lines.append("deterministic tier not judged (--tier instructions)")
    else:
        tier = "compared" if cmp.comparable else "NOT comparable"
        lines.append(f"deterministic tier {tier}: {_env(cmp.fingerprint)}")
    if cmp.instructions_comparable is not None:
        tier = "compared" if cmp.instructions_comparable else "NOT comparable"
        env = _env(cmp.instructions_fingerprint) or "no counts on a side"
        lines.append(f"instructions tier {tier}: {env}")
    for d in cmp.drifts:
        if math.isnan(d.factor):
            lines.append(
                f"timing on {d.device}: {d.n_timed} case x strategies, too few for a control"
            )
        else:
            runs = "" if d.runs == (1, 1) else f" ({d.runs[0]} vs {d.runs[1]} runs pooled)"
            lines.append(
                f"timing on {d.device}: {d.n_timed} case x strategies{runs}, run drift "
                f"x{d.factor:.3g}, noise +-{(math.exp(d.noise) - 1) * 100:.0f}%, "
                f"noise floor x{d.floor:.3g}"
            )
    if cmp.settings.scope is not Scope.ALL:
        lines.append(f"scope {cmp.settings.scope.value}: timing and verdicts not judged")
    lines.append("thresholds: " + ", ".join(str(t) for t in cmp.settings.thresholds))
    return lines


# The findings table in the terminal: which columns go first when it is narrow (views.Column
# priority) and which may wrap. "why" is printed below the table, one paragraph per finding,
# when it does not fit beside it, so no sentence is folded a letter per line.
TABLE_COLUMNS = (
    Column("finding", text=True, winner=True),
    Column("tier", text=True, priority=5),
    Column("case", text=True),
    Column("strategy", text=True),
    Column("metric", text=True, priority=2),
    Column("baseline", priority=4),
    Column("current", priority=4),
    Column("change", priority=3),
    Column("why", text=True, priority=6, prose=True, note=True),
)
assert [c.name for c in TABLE_COLUMNS] == list(COLUMNS)


def _label(row: tuple[str, ...]) -> str:
    """The paragraph label of a finding whose "why" is printed below the table."""
    return " ".join(c for c in (row[0], row[2], row[3]) if c)


def findings_table(cmp: Comparison, *, show_notes: bool = True) -> FitTable:
    """One row per finding (worst first), fitted to the terminal's width like the report's
    tables (:class:`adbench.render.terminal.FitTable`): no value is cut, a dropped column is
    named below the table."""
    shown = [f for f in cmp.findings if show_notes or f.kind is not Kind.NOTE]
    rows = tuple(tuple(finding_cells(f)) for f in shown)
    view = View(
        "adbench compare",
        TABLE_COLUMNS,
        rows,
        tuple(f.kind.value for f in shown),
        tuple(f.kind.value for f in shown),
    )
    styles = {k.value: style for k, style in KIND_STYLE.items()}
    return FitTable(view, styles=styles, label=_label)


def table(cmp: Comparison, *, show_notes: bool = True) -> Group:
    """Headline, context, and one row per finding (worst first)."""
    style = "bold red" if cmp.failed else "bold green"
    parts: list[Any] = [Text(headline(cmp), style=style)]
    parts += [Text(line, style="dim") for line in context_lines(cmp)]
    if cmp.findings:
        parts.append(findings_table(cmp, show_notes=show_notes))
    return Group(*parts)


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(cmp: Comparison) -> str:
    mark = "❌" if cmp.failed else "✅"
    out = [f"### {mark} adbench compare — {headline(cmp)}", ""]
    out += [f"- {_md_cell(line)}" for line in context_lines(cmp)]
    out.append("")
    if cmp.findings:
        out.append("| | " + " | ".join(COLUMNS) + " |")
        out.append("|---" * (len(COLUMNS) + 1) + "|")
        for f in cmp.findings:
            cells = [_md_cell(c) for c in finding_cells(f)]
            out.append(f"| {KIND_MARK[f.kind]} | " + " | ".join(cells) + " |")
        out.append("")
    if cmp.untimed:
        out.append("<details><summary>judged by the deterministic tier only</summary>")
        out.append("")
        out += [f"- {_md_cell(u)}" for u in cmp.untimed]
        out += ["", "</details>", ""]
    return "\n".join(out)


def to_json(cmp: Comparison) -> str:
    return json.dumps(cmp.to_dict(), indent=2, allow_nan=False) + "\n"
