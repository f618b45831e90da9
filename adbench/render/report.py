"""Stored results -> tables people read: Rich (terminal), Markdown, CSV, JSON, HTML.

Renderers return objects or text (and, for Markdown with plots, the image files' bytes) and never
print or write; the CLI decides where output goes. Every format carries the crossover estimate
(adbench.analysis.crossover) beside the verdicts. Plots and HTML live in adbench.render.plots
and adbench.render.html and are imported only when asked for, so the terminal table never
loads matplotlib.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text

from adbench.store import schema
from adbench.store.results import Results

WINNER_STYLE = {"jacfwd": "bold green", "jacrev": "bold cyan", "tie": "yellow", "n/a": "red"}


def _number(x: Any) -> float | None:
    """A float, or None for what cannot be shown as one (missing, NaN, text)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def fmt_seconds(s: Any) -> str:
    """1.23 ms, 45.6 µs, 2.10 s; '-' for missing."""
    v = _number(s)
    if v is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v / 1e-9:.3g} ns"


def fmt_bytes(b: Any) -> str:
    v = _number(b)
    if v is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{v:.3g} {unit}" if unit != "B" else f"{int(v)} B"
        v /= 1024
    return f"{v:.3g} TiB"


def fmt_num(x: Any, digits: int = 3) -> str:
    v = _number(x)
    if v is None:
        return "-"
    if math.isinf(v):
        return "never"
    return f"{v:.{digits}g}"


def _interval(v: pd.Series) -> str:
    if pd.isna(v.get("fwd_rev_ratio")):
        return "-"
    low, high = fmt_num(v["fwd_rev_ci_low"]), fmt_num(v["fwd_rev_ci_high"])
    return f"{fmt_num(v['fwd_rev_ratio'])} [{low}, {high}]"


def _break_even(v: pd.Series) -> str:
    b = v.get("break_even_calls")
    if b is None or pd.isna(b):
        return "-"
    if float(b) == 0:
        return "from 1st call"
    return "1 call" if float(b) == 1 else f"{fmt_num(b)} calls"


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
    """A Rich table of the verdicts, grouped by family (a rule between families).

    The recommended mode and the faster mode's time are highlighted in the winner's colour;
    under NO_COLOR or on a non-terminal Rich drops the styles and the text alone says it all.
    """
    name = res.meta.get("config", {}).get("name", res.path.name) if res.meta else res.path.name
    table = Table(title=title or f"adbench verdicts: {name}", title_justify="left")
    rows = verdict_rows(res)
    columns = list(rows[0]) if rows else ["family", "recommended"]
    for c in columns:
        table.add_column(c, justify="left" if c in ("family", "device", "recommended") else "right")
    order = {f: i for i, f in enumerate(dict.fromkeys(r["family"] for r in rows))}
    previous = None
    for row in sorted(rows, key=lambda r: order[r["family"]]):  # stable: run order within
        if previous is not None and row["family"] != previous:
            table.add_section()
        first = row["family"] != previous
        previous = row["family"]
        style = WINNER_STYLE.get(row["recommended"], "")
        cells: list[Any] = []
        for c in columns:
            if c == "family":
                cells.append(Text(row[c], style="bold") if first else "")
            elif c == "recommended" or c == row["recommended"]:
                cells.append(Text(row[c], style=style))
            else:
                cells.append(row[c])
        table.add_row(*cells)
    return table


def failures(res: Results) -> list[str]:
    """One line per mode that did not measure cleanly: 'case_id mode device: status: reason'."""
    df = res.results
    bad = df[df["status"] != "ok"]
    return [
        f"{r['case_id']} {r['strategy']} on {r['device']}: {r['status']}: {r['reason']}"
        for _, r in bad.iterrows()
    ]


def to_markdown(
    res: Results,
    crossovers: pd.DataFrame | None = None,
    images: Sequence[tuple[str, str, str, str]] = (),
) -> str:
    """The verdicts, the crossover per family and, where given, links to plot images.

    images: (family, device, caption, relative path) per plot file, from ``markdown_plots``.
    """
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
        lines += _md_table(rows, bold="recommended")
    else:
        lines.append("_No cases._")
    cross = crossovers if crossovers is not None else crossovers_of(res)
    if len(cross):
        lines += ["", "## Where the modes tie", ""]
        lines += _md_table(crossover_rows(cross), bold="outcome")
    if images:
        lines += ["", "## Plots"]
        shown = set()
        for family, device, caption, path in images:
            if (family, device) not in shown:
                shown.add((family, device))
                lines += ["", f"### {family} on {device}"]
            lines += ["", f"![{caption}]({path})"]
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


def _md_table(rows: list[dict[str, str]], *, bold: str) -> list[str]:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = [f"**{r[c]}**" if c == bold else r[c] for c in cols]
        out.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return out


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
        "crossovers": _records(crossovers_of(res)),
        "results": _records(res.results),
    }
    return json.dumps(doc, indent=2, default=str) + "\n"


def to_csv(res: Results) -> str:
    """The verdicts table as CSV (full precision), each row with its family's crossover.

    The crossover columns come after schema.VERDICT_COLUMNS: CSV_CROSSOVER_COLUMNS, each the
    crossover table's column of (mostly) the same name, prefixed where it would clash.
    """
    cross = crossovers_of(res)[["family", "device", *CSV_CROSSOVER_COLUMNS.values()]]
    cross = cross.rename(columns={v: k for k, v in CSV_CROSSOVER_COLUMNS.items()})
    table = res.verdicts.merge(cross, on=["family", "device"], how="left")
    return table.to_csv(index=False, float_format="%.17g")


# verdict CSV column -> crossover table column
CSV_CROSSOVER_COLUMNS = {
    "crossover_axis": "axis",
    "crossover_outcome": "outcome",
    "crossover": "crossover",
    "crossover_low": "crossover_low",
    "crossover_high": "crossover_high",
    "crossover_textbook": "textbook",
    "crossover_far_from_textbook": "far_from_textbook",
}


def crossovers_of(res: Results) -> pd.DataFrame:
    """The crossover table stored with the results, or computed from them when absent.

    Columns schema.CROSSOVER_COLUMNS; one row per family and device.
    """
    from adbench.store.reader import stored_derived

    # one staleness rule for every derived file (adbench.store.reader.derived_fresh)
    df = stored_derived(res, schema.CROSSOVER_FILE, schema.CROSSOVER_COLUMNS)
    if df is not None:
        return df
    from adbench.analysis.crossover import crossovers_for

    return crossovers_for(res.results, res.samples, margin=_margin(res))


def _tie(c: pd.Series) -> str:
    if pd.isna(c.get("crossover")):
        return "-"
    low, high = c.get("crossover_low"), c.get("crossover_high")
    tie = fmt_size(c["crossover"])
    return tie if pd.isna(low) else f"{tie} [{fmt_size(low)}, {fmt_size(high)}]"


def fmt_size(x: Any) -> str:
    """A size or size ratio: whole numbers written out (10000), others to 3 digits (0.01)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == round(v) and 1 <= abs(v) < 1e9:
        return str(int(v))
    return fmt_num(v)


def crossover_rows(crossovers: pd.DataFrame) -> list[dict[str, str]]:
    """The crossover table as display strings, one dict per family x device."""
    rows = []
    for _, c in crossovers.iterrows():
        fixed = "" if pd.isna(c.get("fixed")) else f" ({fmt_size(c['fixed'])} fixed)"
        rows.append(
            {
                "family": str(c["family"]),
                "device": str(c["device"]),
                "axis": f"{c['axis']}{fixed}",
                "range": f"{fmt_size(c['axis_min'])}–{fmt_size(c['axis_max'])}",
                "outcome": str(c["outcome"]),
                "tie [95% CI]": _tie(c),
                "textbook tie": fmt_size(c.get("textbook")),
                "far from textbook": str(c.get("far_from_textbook", "n/a")),
                "reason": str(c.get("reason", "")),
            }
        )
    return rows


def crossover_table(crossovers: pd.DataFrame, *, title: str = "where the modes tie") -> Table:
    """A Rich table of the crossover estimates; far-from-textbook flags stand out."""
    table = Table(title=title, title_justify="left", expand=True)
    rows = crossover_rows(crossovers)
    columns = list(rows[0]) if rows else ["family", "outcome"]
    for c in columns:
        left = c in ("family", "device", "axis", "outcome", "reason")
        table.add_column(
            c,
            justify="left" if left else "right",
            overflow="fold",
            ratio=3 if c == "reason" else None,
        )
    for row in rows:
        cells: list[Any] = []
        for c in columns:
            if c == "outcome":
                cells.append(Text(row[c], style=WINNER_STYLE.get(row[c], "")))
            elif c == "far from textbook" and row[c] == "yes":
                cells.append(Text(row[c], style="bold magenta"))
            else:
                cells.append(row[c])
        table.add_row(*cells)
    return table


def to_html(res: Results) -> str:
    """One self-contained HTML page: plots, verdicts, crossovers, environment."""
    from adbench.render.html import render_html

    return render_html(res, crossovers_of(res))


def markdown_plots(res: Results, folder: str) -> tuple[str, dict[str, bytes]]:
    """Markdown whose plots are PNG files in ``folder`` (relative to the Markdown file).

    Returns the text and {relative path: PNG bytes} for the caller to write beside it.
    """
    from adbench.render.plots import png_bytes, report_figures

    cross = crossovers_of(res)
    files: dict[str, bytes] = {}
    images = []
    for fig in report_figures(res, cross):
        rel = f"{folder}/{fig.slug}.png"
        files[rel] = png_bytes(fig.figure)
        images.append((fig.family, fig.device, fig.caption, rel))
    return to_markdown(res, cross, images), files
