"""Tables on narrow terminals (40, 50, 80 columns): no value is ever cut. Read top to bottom, a
column of the rendered table spells exactly the values of that column (wrapped at spaces or
after "_" and "/", never cropped: "1 → 1000" never shows as "1 → 100", "jacfwd_chunked" never as
"jacfwd_chunk"), no line is wider than the terminal, and every column left out is named in the
footer line under its table (except a note column, printed below it). For `adbench report`'s
tables and for `adbench compare`'s findings."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from adbench.cli import app
from adbench.compare import render as compare_render
from adbench.compare.gate import compare
from adbench.render import terminal, views
from adbench.store.results import load_results

DATA = Path(__file__).parents[1] / "data"
V2 = DATA / "v2" / "report"
WIDTHS = (40, 50, 80)
runner = CliRunner()


@pytest.fixture(scope="module")
def rep() -> views.Report:
    return views.build(load_results(V2))


@pytest.fixture(scope="module")
def findings():
    return compare(load_results(DATA / "compare" / "base"), load_results(DATA / "compare" / "cur"))


def render(renderable: object, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(renderable)
    return buf.getvalue()


def joined(parts: list[str]) -> str:
    """Lines of one cell column read as text: a line ending in "_" or "/" continues a name."""
    out = ""
    for p in (p.strip() for p in parts):
        if p:
            out += p if not out or out.endswith(("_", "/")) else " " + p
    return out


def norm(text: str) -> str:
    return " ".join(text.replace(",", " ").split())


def parse(text: str) -> tuple[dict[str, str], str]:
    """(header -> the column's body read top to bottom, the text after the table)."""
    lines = text.splitlines()
    top = next(i for i, ln in enumerate(lines) if ln.startswith("┏"))
    bottom = next(i for i, ln in enumerate(lines) if ln.startswith("└"))
    cut = [i for i, ch in enumerate(lines[top]) if ch in "┏┳┓"]
    rule = next(i for i in range(top, bottom) if lines[i].startswith("┡"))
    head = lines[top + 1 : rule]
    body = [ln for ln in lines[rule:bottom] if ln.startswith("│")]
    cols = {}
    for a, b in zip(cut, cut[1:], strict=False):
        name = joined([ln[a + 1 : b] for ln in head])
        cols[name] = joined([ln[a + 1 : b] for ln in body])
    return cols, "\n".join(lines[bottom + 1 :])


def expected(view: views.View, j: int) -> str:
    """Column j's values as the table shows them: a `once` column only where it changes."""
    c, shown, previous, group_before = view.columns[j], [], None, None
    for row, group in zip(view.rows, view.groups, strict=True):
        if group != group_before:
            previous = None
        group_before = group
        if not (c.once and previous is not None and row[: j + 1] == previous[: j + 1]):
            shown.append(row[j])
        previous = row
    return " ".join(v for v in shown if v)


def check(table: terminal.FitTable, width: int) -> str:
    text = render(table, width)
    assert max(cell_len(ln) for ln in text.splitlines()) <= width, text
    cols, after = parse(text)
    view = table.view
    for j, c in enumerate(view.columns):
        if c.name in cols:
            assert norm(cols[c.name]) == norm(expected(view, j)), (width, c.name, cols[c.name])
    # every column not in the table is named under it (a note column is printed instead)
    missing = [c.name for c in view.columns if c.name not in cols and not c.note]
    assert set(cols) <= set(view.names), cols.keys()
    if missing:
        foot = re.search(rf"not shown at {width} columns: (.*?) \(a wider", " ".join(after.split()))
        assert foot is not None, after
        assert foot.group(1).split(", ") == missing
    else:
        assert "not shown at" not in after
    return text


@pytest.mark.parametrize("width", WIDTHS)
def test_report_tables_never_cut_a_value(rep, width):
    tables = terminal.report(rep)
    assert len(tables) == 3
    for t in tables:
        check(t, width)


def test_at_40_columns_sizes_and_names_are_whole(rep):
    ranking = render(terminal.ranking_table(rep), 40)
    cols, _ = parse(ranking)
    sizes = cols["d_in → d_out"].split(" → ")
    assert "2000" in " ".join(sizes) and "jacfwd_chunked" in cols["strategy"]
    assert "jacfwd_chunk " not in cols["strategy"] + " "
    verdicts = render(terminal.verdict_table(rep), 40)
    assert "chunked" in parse(verdicts)[0]["family"].split()


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_findings_never_fold_a_word(findings, width):
    table = compare_render.findings_table(findings)
    text = check(table, width)
    # the sentences follow the table as paragraphs, word for word, when "why" is left out
    if "why" not in parse(text)[0]:
        flowed = " ".join(parse(text)[1].split())
        for f in findings.findings:
            assert " ".join(f.message.split()) in flowed, f.message


def test_compare_at_50_columns_through_the_cli():
    base, cur = DATA / "compare" / "base", DATA / "compare" / "cur"
    r = runner.invoke(app, ["compare", str(base), str(cur)], env={"COLUMNS": "50"})
    out = r.stdout
    assert max(cell_len(ln) for ln in out.splitlines()) <= 50
    assert "flipper/10x1000" in out and "[cpu:0]" in out  # a value, not swallowed as markup
    assert "regression" in out and "not shown at 50 columns:" in out


def test_wrap_breaks_only_at_spaces_and_after_underscores_and_slashes():
    assert terminal.wrap("jacfwd_chunked", 8) == "jacfwd_\nchunked"
    assert terminal.wrap("200 → 2000", 5) == "200 →\n2000"
    assert terminal.wrap("12345678", 3) == "12345678"  # a number is never cut
    assert terminal.wrap("a b c", 80) == "a b c"
    assert terminal.unbreakable("1.19x [1.17, 1.24]") == 6
    assert terminal.unbreakable("power/100x10") == 6
