"""A report -> one self-contained HTML page (returned as text, never written here).

Everything the page shows travels inside it: the plots as base64 PNG ``data:`` URIs, the styles
inline, no scripts, fonts or links to fetch. It opens offline, attaches to an issue or an email,
and reads the same in ten years. Sections: a summary, the crossover per family and device, then
per family and device its plots, verdicts and ranking, the strategies that did not measure
cleanly, and the environment fingerprint from meta.json. Cells come from
:mod:`adbench.render.views`, as in every other format.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adbench.render import views
from adbench.store import schema
from adbench.version import __version__

if TYPE_CHECKING:
    from adbench.render.axes import NamedFigure

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { margin-top: 1.4em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
td { white-space: nowrap; } td.w { white-space: normal; min-width: 18em; }
.win { font-weight: 600; }
.far { background: #fde0c5; font-weight: 600; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
.reason { color: #444; font-size: .92em; }
.chips > span { display: inline-block; margin-right: 1.2em; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
footer { margin-top: 3em; color: #888; font-size: .85em; }
"""

# the environment table: every meta key but the whole config (its path and hash are shown)
FINGERPRINT_KEYS = tuple(k for k in schema.META_KEYS if k != "config")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _winner(text: str, name: str) -> str:
    """A winner cell: the text in the colour of ``name`` (a strategy, tie, none)."""
    if not name or text in ("", "-"):
        return _e(text)
    return f'<span class="win" style="color:{views.colour(name)}">{_e(text)}</span>'


def table(view: views.View, *, drop: Sequence[str] = ()) -> str:
    """A view as an HTML table (cells escaped); text columns align left, 'reason'/'why' wrap."""
    keep = [j for j, c in enumerate(view.columns) if c.name not in drop]
    if not view.rows:
        return "<p>None.</p>"
    cls = []
    for j in keep:
        c = view.columns[j]
        names = [n for n, on in (("l", c.text), ("w", c.name in ("reason", "why"))) if on]
        cls.append(f' class="{" ".join(names)}"' if names else "")
    out = ["<table><thead><tr>"]
    out += [f"<th{cls[k]}>{_e(view.columns[j].name)}</th>" for k, j in enumerate(keep)]
    out.append("</tr></thead><tbody>")
    for row, winner in zip(view.rows, view.winners, strict=True):
        cells = []
        for k, j in enumerate(keep):
            c, text = view.columns[j], row[j]
            if c.winner:
                body = _winner(text, winner)
            elif c.name == "far from textbook" and text == "yes":
                body = '<span class="far">yes</span>'
            elif c.name in ("reason", "why"):
                body = f'<span class="reason">{_e(text)}</span>'
            else:
                body = _e(text)
            cells.append(f"<td{cls[k]}>{body}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _family_table(view: views.View | None) -> str:
    """One family's table (its name is the heading above); None: it has no rows."""
    return "<p>None.</p>" if view is None else table(view, drop=("family",))


def _img(fig: NamedFigure, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{_e(fig.slug)}"><img src="data:image/png;base64,{data}" '
        f'alt="{_e(fig.caption)}"><figcaption>{_e(fig.caption)}</figcaption></figure>'
    )


def _summary(rep: views.Report) -> str:
    counts = views.summary_counts(rep)
    chips = [f"<span>{_winner(name, name)}: {n}</span>" for name, n in counts.items()]
    res = rep.res
    families = res.results["family"].nunique()
    devices = ", ".join(_e(d) for d in res.results["device"].drop_duplicates())
    return (
        f"<p>{len(rep.verdicts)} case(s) in {families} famil{'y' if families == 1 else 'ies'} "
        f'on {devices or "-"}. Recommended:</p><p class="chips">{"".join(chips)}</p>'
    )


def _fingerprint(meta: dict[str, Any]) -> str:
    rows = []
    for key in FINGERPRINT_KEYS:
        if key in meta:
            value = meta[key]
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            rows.append((key, text))
    view = views.View(
        "environment",
        (views.Column("key", text=True), views.Column("value", text=True)),
        tuple(rows),
        tuple("" for _ in rows),
        tuple("" for _ in rows),
    )
    out = table(view)
    config = meta.get("config")
    if config:
        dumped = json.dumps(config, indent=2, default=str)
        out += f"<details><summary>config</summary><pre>{_e(dumped)}</pre></details>"
    return out


def _failures(rep: views.Report) -> str:
    bad = rep.res.results[rep.res.results["status"] != schema.STATUS_OK]
    if bad.empty:
        return ""
    items = "".join(
        f"<li><code>{_e(r['case_id'])}</code> {_e(r['strategy'])} on {_e(r['device'])}: "
        f"<b>{_e(r['status'])}</b>: {_e(r['reason'])}</li>"
        for _, r in bad.iterrows()
    )
    return f"<h2>Strategies that did not measure cleanly</h2><ul>{items}</ul>"


def render_html(
    rep: views.Report,
    figures: Sequence[NamedFigure] | None = None,
    *,
    title: str | None = None,
) -> str:
    """The whole report as one HTML document; figures from ``plots.report_figures`` (made here
    when None)."""
    from adbench.render.axes import png_bytes
    from adbench.render.plots import report_figures

    if figures is None:
        figures = report_figures(rep)
    meta = rep.res.meta
    title = title or f"adbench report: {rep.name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(meta.get("backend", "?"))} · jax '
        f"{_e(meta.get('jax_version', '?'))} · {_e(meta.get('cpu_model', '?'))} · "
        f"finished {_e(meta.get('finished_at', '?'))}</p>",
        _summary(rep),
    ]
    if len(rep.crossovers):
        parts += [
            "<h2>Where jacfwd and jacrev tie</h2>",
            "<p>Per family and device: the size (or d_in/d_out ratio) at which jacfwd and jacrev "
            "take equal time, with a bootstrap 95% interval over the raw samples, beside the "
            "textbook rule (forward when d_in &lt; d_out).</p>",
            table(views.crossover_view(rep)),
        ]
    # Every per-family table and figure list is grouped once here: looking each family up in
    # the whole tables made the page quadratic in families (benchmarks/report_scale.py).
    cross = {(str(c["family"]), str(c["device"])): c for c in rep.crossovers.to_dict("records")}
    verdicts = views.verdict_views(rep)
    many = views.many_strategies(rep)
    ranking = views.ranking_views(rep) if many else {}
    figs: dict[tuple[str, str], list[NamedFigure]] = {}
    for fig in figures:
        figs.setdefault((fig.family, fig.device), []).append(fig)
    pairs = rep.res.results[["family", "device"]].drop_duplicates().itertuples(index=False)
    for family, device in pairs:
        key = (str(family), str(device))
        parts.append(f'<h2 id="{_e(key[0])}-{_e(key[1])}">{_e(key[0])} on {_e(key[1])}</h2>')
        c = cross.get(key)
        if c is not None:
            parts.append(f'<p class="reason">Crossover: {_e(c.get("reason", ""))}</p>')
        parts += [_img(fig, png_bytes(fig.figure)) for fig in figs.get(key, ())]
        parts.append(_family_table(verdicts.get(key)))
        if many:
            parts.append("<h3>Every strategy, relative to the fastest</h3>")
            parts.append(_family_table(ranking.get(key)))
    parts.append(_failures(rep))
    parts.append("<h2>Environment</h2>")
    parts.append(_fingerprint(meta))
    parts.append(
        f"<footer>Generated by adbench {_e(__version__)} from {_e(rep.res.path)}. "
        f"{_e(views.footnote(rep))} This page is self-contained.</footer>"
    )
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def to_html(rep: views.Report) -> str:
    """One self-contained HTML page: plots, verdicts, ranking, crossovers, environment."""
    return render_html(rep)
