"""A report as Markdown: the verdicts, the ranking, the crossovers and, with an output file,
plots as PNG files beside it. Returns text (and the images' bytes); never writes."""

from __future__ import annotations

from collections.abc import Sequence

from adbench.analysis import decision
from adbench.render import views


def table(view: views.View) -> list[str]:
    """A view as Markdown table lines, the winner cells in bold (not an undecided one: it
    names no winner), pipes in cells escaped."""
    out = ["| " + " | ".join(view.names) + " |", "|" + "|".join("---" for _ in view.names) + "|"]
    for row, name in zip(view.rows, view.winners, strict=True):
        bold = name != decision.UNDECIDED
        cells = [
            f"**{cell}**" if c.winner and bold and cell not in ("", "-") else cell
            for c, cell in zip(view.columns, row, strict=True)
        ]
        out.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return out


def link(path: str) -> str:
    """A relative path as a Markdown link destination: percent-encoded, so a space or a
    parenthesis in a file name (``report -o "my report.md"`` puts the plots in ``my
    report_plots/``) cannot end the link early; '/' stays a separator."""
    from urllib.parse import quote

    return quote(path, safe="/")


def _label(text: str) -> str:
    """Text inside ``![...]``: brackets and backslashes escaped."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def to_markdown(rep: views.Report, images: Sequence[tuple[str, str, str, str]] = ()) -> str:
    """The report as one Markdown document.

    images: (family, device, caption, relative path) per plot file, from :func:`with_plots`.
    """
    env = rep.res.meta
    lines = [f"# adbench verdicts: {rep.name}", ""]
    lines.append(
        f"jax {env.get('jax_version', '?')} · {env.get('backend', '?')} · "
        f"{env.get('cpu_model', '?')} · x64 {env.get('x64', '?')} · "
        f"schema {env.get('schema_version')}"
    )
    lines.append("")
    verdicts = views.verdict_view(rep)
    lines += table(verdicts) if verdicts.rows else ["_No cases._"]
    if views.many_strategies(rep):
        lines += ["", "## Every strategy, relative to the fastest", ""]
        lines += table(views.ranking_view(rep))
    if len(rep.crossovers):
        lines += ["", "## Where jacfwd and jacrev tie", ""]
        lines += table(views.crossover_view(rep))
    if images:
        lines += ["", "## Plots"]
        shown = set()
        for family, device, caption, path in images:
            if (family, device) not in shown:
                shown.add((family, device))
                lines += ["", f"### {family} on {device}"]
            lines += ["", f"![{_label(caption)}]({link(path)})"]
    fails = views.failures(rep.res)
    if fails:
        lines += ["", "## Strategies that did not measure cleanly", ""]
        lines += [f"- {f}" for f in fails]
    lines += ["", views.footnote(rep)]
    return "\n".join(lines) + "\n"


def with_plots(rep: views.Report, folder: str) -> tuple[str, dict[str, bytes]]:
    """Markdown whose plots are PNG files in ``folder`` (relative to the Markdown file).

    Returns the text and {relative path: PNG bytes} for the caller to write beside it.
    """
    from adbench.render.plots import png_bytes, report_figures

    files: dict[str, bytes] = {}
    images = []
    for fig in report_figures(rep):
        rel = f"{folder}/{fig.slug}.png"
        files[rel] = png_bytes(fig.figure)
        images.append((fig.family, fig.device, fig.caption, rel))
    return to_markdown(rep, images), files
