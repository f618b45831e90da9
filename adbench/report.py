"""Stored results -> tables people read: Rich (terminal), Markdown, CSV, JSON.

Renderers return objects or text and never print; the CLI decides where output goes.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text

from adbench.results import Results

WINNER_STYLE = {"jacfwd": "bold green", "jacrev": "bold cyan", "tie": "yellow", "n/a": "red"}


def fmt_seconds(s: Any) -> str:
    """1.23 ms, 45.6 µs, 2.10 s; '-' for missing."""
    try:
        v = float(s)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(v):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v / 1e-9:.3g} ns"


def fmt_bytes(b: Any) -> str:
    try:
        v = float(b)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(v):
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{v:.3g} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return f"{v:.3g} TiB"


def fmt_num(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "never"
    return f"{v:.{digits}g}"


def _interval(v: pd.Series) -> str:
    if pd.isna(v.get("ratio")):
        return "-"
    return f"{fmt_num(v['ratio'])} [{fmt_num(v['ratio_ci_low'])}, {fmt_num(v['ratio_ci_high'])}]"


def _break_even(v: pd.Series) -> str:
    b = v.get("break_even_calls")
    if b is None or pd.isna(b):
        return "-"
    if float(b) == 0:
        return "from 1st call"
    return f"{fmt_num(b)} calls"


def verdict_rows(res: Results) -> list[dict[str, str]]:
    """The verdict table as display strings, one dict per case x device (shared by all formats)."""
    rows = []
    for _, v in res.verdicts.iterrows():
        rows.append(
            {
                "family": str(v["family"]),
                "d_in → d_out": f"{int(v['d_in'])} → {int(v['d_out'])}",
                "device": str(v["device"]),
                "recommended": str(v["recommended"]),
                "speedup": "-" if pd.isna(v.get("speedup")) else f"{float(v['speedup']):.2f}x",
                "fwd/rev time [95% CI]": _interval(v),
                "jacfwd": fmt_seconds(v.get("median_jacfwd_s")),
                "jacrev": fmt_seconds(v.get("median_jacrev_s")),
                "fwd/rev flops": fmt_num(v.get("flop_ratio")),
                "break-even": _break_even(v),
                "textbook": str(v.get("textbook", "-")),
            }
        )
    return rows


def verdict_table(res: Results, *, title: str | None = None) -> Table:
    """A Rich table of the verdicts; the recommended mode is coloured (plain under NO_COLOR)."""
    name = res.meta.get("config", {}).get("name", res.path.name) if res.meta else res.path.name
    table = Table(title=title or f"adbench verdicts: {name}", title_justify="left")
    rows = verdict_rows(res)
    columns = list(rows[0]) if rows else ["family", "recommended"]
    for c in columns:
        table.add_column(c, justify="left" if c in ("family", "device", "recommended") else "right")
    for row in rows:
        cells: list[Any] = []
        for c in columns:
            if c == "recommended":
                cells.append(Text(row[c], style=WINNER_STYLE.get(row[c], "")))
            else:
                cells.append(row[c])
        table.add_row(*cells)
    return table


def failures(res: Results) -> list[str]:
    """One line per mode that did not measure cleanly: 'case_id mode device: status: reason'."""
    df = res.results
    bad = df[df["status"] != "ok"]
    return [
        f"{r['case_id']} {r['mode']} on {r['device']}: {r['status']}: {r['reason']}"
        for _, r in bad.iterrows()
    ]


def to_markdown(res: Results) -> str:
    rows = verdict_rows(res)
    name = res.meta.get("config", {}).get("name", res.path.name)
    lines = [f"# adbench verdicts: {name}", ""]
    env = res.meta
    lines.append(
        f"jax {env.get('jax_version', '?')} · {env.get('backend', '?')} · "
        f"{env.get('cpu_model', '?')} · x64 {env.get('x64', '?')} · "
        f"schema {env.get('schema_version')}"
    )
    lines.append("")
    if rows:
        cols = list(rows[0])
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        for r in rows:
            cells = [f"**{r[c]}**" if c == "recommended" else r[c] for c in cols]
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    else:
        lines.append("_No cases._")
    fails = failures(res)
    if fails:
        lines += ["", "## Cases that did not measure cleanly", ""]
        lines += [f"- {f}" for f in fails]
    lines += [
        "",
        "Ratio = time(jacfwd) / time(jacrev) over paired rounds; "
        f"a tie means the 95% interval does not clear the ±{_margin(res):.0%} margin.",
    ]
    return "\n".join(lines) + "\n"


def _margin(res: Results) -> float:
    m = res.verdicts["margin"].dropna() if "margin" in res.verdicts else pd.Series([], dtype=float)
    return float(m.iloc[0]) if len(m) else 0.1


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                v = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
            elif hasattr(v, "item"):
                v = v.item()
            clean[str(k)] = v
        out.append(clean)
    return out


def to_json(res: Results) -> str:
    """Verdicts, per-mode results and the environment, as one JSON document."""
    doc = {
        "meta": res.meta,
        "verdicts": _records(res.verdicts),
        "results": _records(res.results),
    }
    return json.dumps(doc, indent=2, default=str) + "\n"


def to_csv(res: Results) -> str:
    """The verdicts table as CSV (full precision)."""
    return res.verdicts.to_csv(index=False, float_format="%.17g")
