"""Stored results -> one self-contained HTML page (returned as text, never written here).

Everything the page shows travels inside it: the plots as base64 PNG ``data:`` URIs, the styles
inline, no scripts, fonts or links to fetch. It opens offline, attaches to an issue or an email,
and reads the same in ten years. Sections: a summary, the crossover per family and device, then
per family and device its plots and verdict table, the cases that did not measure cleanly, and
the environment fingerprint from meta.json.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from adbench import __version__
from adbench.store import schema

if TYPE_CHECKING:
    from adbench.render.plots import NamedFigure
    from adbench.store.results import Results

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
td { white-space: nowrap; } td.w { white-space: normal; min-width: 18em; }
.jacfwd { color: #1b7837; font-weight: 600; } .jacrev { color: #2166ac; font-weight: 600; }
.tie { color: #8c6d00; } .na { color: #b2182b; }
.far { background: #fde0c5; font-weight: 600; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
.reason { color: #444; font-size: .92em; }
.chips > span { display: inline-block; margin-right: 1.2em; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
footer { margin-top: 3em; color: #888; font-size: .85em; }
"""

_WINNER_CLASS = {"jacfwd": "jacfwd", "jacrev": "jacrev", "tie": "tie", "n/a": "na"}

# the environment table: every meta key but the whole config (its path and hash are shown)
FINGERPRINT_KEYS = tuple(k for k in schema.META_KEYS if k != "config")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    left: Iterable[int] = (),
    wrap: Iterable[int] = (),
) -> str:
    """An HTML table of already-escaped cells; ``left`` columns align left, ``wrap`` ones wrap."""
    lefts, wraps = set(left), set(wrap)
    cls = []
    for i in range(len(header)):
        names = [n for n, on in (("l", i in lefts), ("w", i in wraps)) if on]
        cls.append(f' class="{" ".join(names)}"' if names else "")
    out = ["<table><thead><tr>"]
    out += [f"<th{cls[i]}>{_e(h)}</th>" for i, h in enumerate(header)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls[i]}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _winner(mode: str) -> str:
    return f'<span class="{_WINNER_CLASS.get(mode, "")}">{_e(mode)}</span>'


def crossover_table(crossovers: pd.DataFrame) -> str:
    """The crossover rows (schema.CROSSOVER_COLUMNS) as an HTML table, as report shows them."""
    from adbench.render.report import crossover_rows

    rows = crossover_rows(crossovers)
    if not rows:
        return "<p>No crossover estimates.</p>"
    cols = list(rows[0])
    body = []
    for r in rows:
        cells = []
        for c in cols:
            if c == "outcome":
                cells.append(_winner(r[c]))
            elif c == "far from textbook" and r[c] == "yes":
                cells.append('<span class="far">yes</span>')
            elif c == "reason":
                cells.append(f'<span class="reason">{_e(r[c])}</span>')
            else:
                cells.append(_e(r[c]))
        body.append(cells)
    lefts = [
        i for i, c in enumerate(cols) if c in ("family", "device", "axis", "outcome", "reason")
    ]
    return _table(cols, body, left=lefts, wrap=(cols.index("reason"),))


def _verdict_table(res: Results, family: str, device: str) -> str:
    from adbench.render.report import verdict_rows

    rows = [r for r in verdict_rows(res) if r["family"] == family and r["device"] == device]
    if not rows:
        return "<p>No verdicts.</p>"
    cols = [c for c in rows[0] if c not in ("family", "device")]
    body = [[_winner(r[c]) if c == "recommended" else _e(r[c]) for c in cols] for r in rows]
    return _table(cols, body, left=(cols.index("recommended"),))


def _img(fig: NamedFigure, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{_e(fig.slug)}"><img src="data:image/png;base64,{data}" '
        f'alt="{_e(fig.caption)}"><figcaption>{_e(fig.caption)}</figcaption></figure>'
    )


def _summary(res: Results) -> str:
    v = res.verdicts
    counts = v["recommended"].value_counts() if len(v) else pd.Series(dtype=int)
    chips = [
        f"<span>{_winner(mode)}: {int(counts.get(mode, 0))}</span>"
        for mode in ("jacfwd", "jacrev", "tie", "n/a")
    ]
    families = res.results["family"].nunique()
    devices = ", ".join(_e(d) for d in res.results["device"].drop_duplicates())
    return (
        f"<p>{len(v)} case(s) in {families} famil{'y' if families == 1 else 'ies'} on "
        f'{devices or "-"}. Recommended:</p><p class="chips">{"".join(chips)}</p>'
    )


def _fingerprint(meta: dict[str, Any]) -> str:
    rows = []
    for key in FINGERPRINT_KEYS:
        if key in meta:
            value = meta[key]
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            rows.append([_e(key), _e(text)])
    table = _table(["key", "value"], rows, left=(0, 1), wrap=(1,))
    config = meta.get("config")
    if config:
        dumped = json.dumps(config, indent=2, default=str)
        table += f"<details><summary>config</summary><pre>{_e(dumped)}</pre></details>"
    return table


def _failures(res: Results) -> str:
    bad = res.results[res.results["status"] != schema.STATUS_OK]
    if bad.empty:
        return ""
    items = "".join(
        f"<li><code>{_e(r['case_id'])}</code> {_e(r['strategy'])} on {_e(r['device'])}: "
        f"<b>{_e(r['status'])}</b>: {_e(r['reason'])}</li>"
        for _, r in bad.iterrows()
    )
    return f"<h2>Cases that did not measure cleanly</h2><ul>{items}</ul>"


def render_html(
    res: Results,
    crossovers: pd.DataFrame,
    figures: Sequence[NamedFigure] | None = None,
    *,
    title: str | None = None,
) -> str:
    """The whole report as one HTML document.

    res: a loaded results directory; crossovers: its crossover table (schema.CROSSOVER_COLUMNS);
    figures: from adbench.render.plots.report_figures (made here when None).
    """
    from adbench.render.plots import png_bytes, report_figures

    if figures is None:
        figures = report_figures(res, crossovers)
    name = (res.meta.get("config") or {}).get("name") or res.path.name
    title = title or f"adbench report: {name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(res.meta.get("backend", "?"))} · jax '
        f"{_e(res.meta.get('jax_version', '?'))} · {_e(res.meta.get('cpu_model', '?'))} · "
        f"finished {_e(res.meta.get('finished_at', '?'))}</p>",
        _summary(res),
        "<h2>Where the modes tie</h2>",
        "<p>Per family and device: the size (or d_in/d_out ratio) at which jacfwd and jacrev take "
        "equal time, with a bootstrap 95% interval over the raw samples, beside the textbook rule "
        "(forward when d_in &lt; d_out).</p>",
        crossover_table(crossovers),
    ]
    pairs = res.results[["family", "device"]].drop_duplicates().itertuples(index=False)
    cross = {(str(c["family"]), str(c["device"])): c for _, c in crossovers.iterrows()}
    for family, device in pairs:
        family, device = str(family), str(device)
        parts.append(f'<h2 id="{_e(family)}-{_e(device)}">{_e(family)} on {_e(device)}</h2>')
        c = cross.get((family, device))
        if c is not None:
            parts.append(f'<p class="reason">Crossover: {_e(c.get("reason", ""))}</p>')
        for fig in figures:
            if fig.family == family and fig.device == device:
                parts.append(_img(fig, png_bytes(fig.figure)))
        parts.append(_verdict_table(res, family, device))
    parts.append(_failures(res))
    parts.append("<h2>Environment</h2>")
    parts.append(_fingerprint(res.meta))
    parts.append(
        f"<footer>Generated by adbench {_e(__version__)} from {_e(res.path)}. Ratio = "
        "time(jacfwd) / time(jacrev), median over paired rounds; a tie means the 95% interval "
        "does not clear the practical margin. This page is self-contained.</footer>"
    )
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"
