"""Narrow and plain terminals: at 80 columns no strategy name is cut and no reason wraps a
character per line; NO_COLOR and piped output carry no ANSI codes and no padding to a guessed
width; COLUMNS is honoured when piped. Through `adbench report` (typer's CliRunner, not a TTY)
and through a Rich console of a given width."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from adbench.cli import app
from adbench.render import terminal, views
from adbench.store.results import load_results

V1 = Path(__file__).parents[1] / "data" / "report" / "sweep"
V2 = Path(__file__).parents[1] / "data" / "v2" / "report"
runner = CliRunner()
BOX = re.compile(r"^[┏┡├└]")  # a table's border lines: its full width


@pytest.fixture(scope="module")
def v2() -> views.Report:
    return views.build(load_results(V2))


@pytest.fixture(scope="module")
def v1() -> views.Report:
    return views.build(load_results(V1))


def report(path: Path, **env: str | None) -> str:
    base: dict[str, str | None] = {"COLUMNS": None, "NO_COLOR": None, "FORCE_COLOR": None}
    r = runner.invoke(app, ["report", str(path)], env={**base, **env})
    assert r.exit_code == 0, r.output
    return r.stdout


def render(renderable: object, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None).print(renderable)
    return buf.getvalue()


def words(text: str) -> list[str]:
    return [w for w in text.split() if len(w) >= 4]


def test_at_80_columns_every_strategy_name_is_whole_and_reasons_follow_the_table(v2):
    out = report(V2, COLUMNS="80")
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    assert "…" not in out
    verdicts = out.split("ranking:")[0]
    cells = [ln.split("│")[3].strip() for ln in verdicts.splitlines() if ln.startswith("│")]
    names = {c.removeprefix("tie:").strip() for c in cells} - {""}
    # jacfwd and jacrev told apart, the long names in full, one whole name per cell line
    assert {"jacfwd", "jacrev", "jacrev_chunked", "fwd_over_rev", "rev_over_rev"} <= names
    assert names <= {
        *v2.verdicts["recommended"],
        *"|".join(v2.verdicts["tie_set"].dropna()).split("|"),
    }
    # the crossover's reason does not fit beside the table: each follows it as one paragraph
    crossovers = out.split("where jacfwd and jacrev tie")[1]
    flowed = " ".join(crossovers.split())
    for family, reason in zip(v2.crossovers["family"], v2.crossovers["reason"], strict=True):
        assert f"{family}: {' '.join(reason.split())}" in flowed


@pytest.mark.parametrize("width", range(40, 221, 12))
def test_no_reason_is_ever_cut_inside_a_word(v1, width):
    text = render(terminal.crossover_table(v1), width)
    for reason in v1.crossovers["reason"]:
        for word in words(reason):
            assert word in text, (width, word)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert max(cell_len(ln) for ln in lines) <= max(width, 60)


def test_a_narrow_table_has_a_compact_layout_and_a_wide_one_everything(v1):
    narrow, _ = terminal.crossover_table(v1).layout(80)
    assert "reason" not in narrow and {"family", "outcome", "tie [95% CI]"} <= set(narrow)
    at_80 = render(terminal.crossover_table(v1), 80)
    assert at_80.count("\nlinear: tie at d_out = 68.7") == 1  # below the table
    wide = render(terminal.crossover_table(v1), 220)
    assert "\nlinear:" not in wide and "│ tie at d_out = 68.7" in wide  # in the table
    header = next(ln for ln in wide.splitlines() if "reason" in ln)
    assert all(c in header for c in ("axis", "range", "far from textbook"))


def test_piped_output_takes_the_natural_width_not_a_guess(v2):
    out = report(V2)
    lines = out.splitlines()
    header = next(ln for ln in lines if "recommended" in ln)
    for column in ("runner-up", "fastest unfit", "fwd/rev flops", "textbook"):
        assert column in header  # nothing dropped to fit 160 columns
    # no line runs past its table: nothing padded to a console width
    width = max(cell_len(ln) for ln in lines if BOX.match(ln))
    assert width > 160
    assert all(cell_len(ln) <= width for ln in lines)
    small = report(V1).split("where jacfwd and jacrev tie")[1].splitlines()
    table = max(cell_len(ln) for ln in small if BOX.match(ln))
    assert all(cell_len(ln) <= table for ln in small)
    assert table < 200  # the reasons wrap at terminal.PROSE_MAX, not at the page's edge


def test_columns_is_honoured_when_piped():
    for columns in (80, 100, 132):
        out = report(V2, COLUMNS=str(columns))
        assert max(cell_len(ln) for ln in out.splitlines()) <= columns


def test_no_color_means_no_ansi_code_at_all_even_on_a_terminal():
    # a terminal, as Rich sees it; truecolor because Rich caches a style's codes in the shared
    # (parsed once) Style object whatever the colour system: an 8-colour render here would leak
    # into other tests' truecolor consoles
    term = {"FORCE_COLOR": "1", "COLORTERM": "truecolor", "COLUMNS": "200"}
    styled = report(V1, **term)
    assert "\x1b[1m" in styled and "\x1b[1;38;2;" in styled  # bold names, coloured winners
    plain = report(V1, **term, NO_COLOR="1")
    assert "\x1b[" not in plain
    assert "\x1b[" not in report(V1)  # piped
    assert re.sub(r"\x1b\[[0-9;]*m", "", styled) == plain


def test_a_tie_never_shows_a_speedup_at_any_width(v2):
    for columns in ("80", "200"):
        out = report(V2, COLUMNS=columns)
        verdicts = out.split("ranking:")[0]
        header = next(ln for ln in verdicts.splitlines() if "recommended" in ln).split("┃")
        rec = next(i for i, h in enumerate(header) if h.strip() == "recommended")
        rows = [ln.split("│") for ln in verdicts.splitlines() if ln.startswith("│")]
        ties = [r for r in rows if r[rec].strip().startswith("tie:")]
        assert len(ties) == 2
        for r in ties:
            assert r[rec + 1].strip() == "-", r  # not "1.02x" beside a tie
            assert not re.search(r"\d+x\b", "│".join(r)), r
