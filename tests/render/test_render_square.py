"""Square families (every case n -> n: softmax, elementwise, broyden) are placed along n.

On the d_in/d_out axis every size of such a family sits at 1, so the crossover said "n/a: needs
at least two sizes" although several were measured, and the plots stacked every point at x = 1.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from builders import C, S, write_run
from typer.testing import CliRunner

from adbench.analysis.axis import AXIS_D_OUT, AXIS_RATIO, AXIS_SQUARE, axis_of, textbook_mode
from adbench.analysis.crossover import SQUARE_NOTE
from adbench.analysis.results import load_results
from adbench.cli import app
from adbench.render import costs, html, markdown, plots, terminal, views
from adbench.store import schema

runner = CliRunner()


def square(family: str, times: dict[int, tuple[float, float]]) -> list[C]:
    """A square family: n -> n for each n, with (t_jacfwd, t_jacrev) seconds."""
    return [C(family, n, n, (S("jacfwd", f), S("jacrev", r))) for n, (f, r) in times.items()]


# softmax-like: a tie at 10, jacrev 1.5x faster at 100, jacfwd 2x faster at 1000
SWAPS = {10: (1e-5, 1e-5), 100: (3e-5, 2e-5), 1000: (2e-4, 4e-4)}


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> views.Report:
    cases = [
        *square("softmax", SWAPS),
        *square("elementwise", {10: (1e-5, 3e-5), 100: (2e-5, 9e-5), 1000: (1e-4, 9e-4)}),
        *square("flat", {10: (1e-5, 1e-5), 100: (2e-5, 2e-5)}),
        *square("single", {50: (1e-5, 3e-5)}),
        C("lin", 10, 100, (S("jacfwd", 1e-5), S("jacrev", 3e-5))),
        C("lin", 10, 1000, (S("jacfwd", 2e-5), S("jacrev", 9e-5))),
    ]
    d = write_run(tmp_path_factory.mktemp("square") / "run", cases)
    return views.build(load_results(d))


def crossover(rep: views.Report, family: str) -> dict:
    return rep.crossovers.set_index("family").loc[family].to_dict()


def test_the_axis_of_square_cases_is_n_and_other_sweeps_keep_theirs():
    assert axis_of([10, 100, 1000], [10, 100, 1000])[0] == AXIS_SQUARE
    assert axis_of([7], [7])[0] == AXIS_SQUARE
    assert axis_of([10, 10], [100, 1000]) == (AXIS_D_OUT, 10.0)
    assert axis_of([10, 100, 100], [10, 100, 10])[0] == AXIS_RATIO  # one off-diagonal case
    assert textbook_mode(AXIS_SQUARE, math.nan, 300.0) == "either"


def test_a_square_family_with_several_sizes_has_a_crossover_along_n(rep):
    c = crossover(rep, "softmax")
    assert (c["axis"], c["n_sizes"], c["axis_min"], c["axis_max"]) == (AXIS_SQUARE, 3, 10, 1000)
    assert c["outcome"] == "crossover"
    assert 100 < c["crossover"] < 1000
    assert 100 <= c["crossover_low"] <= c["crossover"] <= c["crossover_high"] <= 1000
    assert c["crossover_ratio"] == 1.0
    # no textbook tie on n: the rule says "either" everywhere, so never "far from" it
    assert math.isnan(c["textbook"]) and math.isnan(c["factor_from_textbook"])
    assert c["far_from_textbook"] == "n/a"
    assert c["reason"].startswith("tie at n = ")
    assert "between 100 (jacrev 1.52x faster) and 1000 (jacfwd 1.98x faster)" in c["reason"]
    assert c["reason"].endswith(SQUARE_NOTE)
    assert "no d_in/d_out crossover" in SQUARE_NOTE and "either" in SQUARE_NOTE


def test_a_square_family_won_throughout_or_tied_says_so_without_a_textbook_verdict(rep):
    fwd = crossover(rep, "elementwise")
    assert (fwd["outcome"], fwd["n_sizes"], fwd["far_from_textbook"]) == ("jacfwd", 3, "n/a")
    assert (
        "jacfwd faster throughout" in fwd["reason"] and "n 10-1000 (d_in = d_out)" in fwd["reason"]
    )
    assert "as the textbook expects" not in fwd["reason"] and fwd["reason"].endswith(SQUARE_NOTE)
    tie = crossover(rep, "flat")
    assert (tie["outcome"], tie["n_sizes"], tie["far_from_textbook"]) == ("tie", 2, "n/a")
    assert tie["reason"].endswith(SQUARE_NOTE)
    one = crossover(rep, "single")  # one size really is too few
    assert (one["outcome"], one["n_sizes"], one["axis"]) == ("n/a", 1, AXIS_SQUARE)


def test_the_stored_crossover_csv_says_the_same(rep):
    stored = pd.read_csv(
        rep.res.path / schema.CROSSOVER_FILE, keep_default_na=False, na_values=[""]
    ).set_index("family")
    assert stored.loc["softmax", "axis"] == AXIS_SQUARE
    assert stored.loc["softmax", "n_sizes"] == 3
    assert stored.loc["softmax", "outcome"] == "crossover"
    assert stored.loc["lin", "axis"] == AXIS_D_OUT  # a one-axis sweep is unchanged


def test_the_crossover_table_names_n_and_the_textbooks_either(rep):
    rows = {r["family"]: r for r in views.crossover_view(rep).records()}
    assert rows["softmax"]["axis"] == "n (d_in = d_out)"
    assert rows["softmax"]["range"] == "10–1000"
    assert rows["softmax"]["textbook tie"] == "either"
    assert rows["softmax"]["far from textbook"] == "n/a"
    assert rows["lin"]["textbook tie"] == "10"
    md = markdown.to_markdown(rep)
    assert "| softmax | cpu:0 | n (d_in = d_out) | 10–1000 | **crossover** |" in md
    page = html.render_html(rep, figures=[])
    assert "Crossover: tie at n = " in page and "no d_in/d_out crossover" in page


def test_plots_place_square_sizes_along_n_not_at_one(rep):
    res = rep.res
    fig = plots.time_vs_size(
        res.results, rep.ranking, "softmax", "cpu:0", crossover(rep, "softmax")
    )
    top, bottom = fig.axes[:2]
    for ax in (top, bottom):
        xs = sorted({float(x) for line in ax.get_lines() for x in line.get_xdata()})
        assert {10.0, 100.0, 1000.0} <= set(xs), xs
    assert bottom.get_xlabel() == "n (d_in = d_out)"
    ratio = plots.fwd_rev_ratio(rep.verdicts, "softmax", "cpu:0", crossover(rep, "softmax"))
    ax = ratio.axes[0]
    xs = {float(x) for line in ax.get_lines() for x in line.get_xdata()}
    assert {10.0, 100.0, 1000.0} <= xs
    labels = ax.get_legend_handles_labels()[1]
    assert any(label.startswith("measured jacfwd/jacrev tie") for label in labels)
    assert "textbook: either mode (d_in = d_out at every n)" in labels
    assert not any(label.startswith("textbook tie") for label in labels)
    # a diagonal is a line along n, not a d_in x d_out grid: no heatmap
    assert not plots.is_grid(rep.verdicts, "softmax", "cpu:0")
    kinds = {f.slug.rsplit("-", 1)[1] for f in plots.report_figures(rep) if f.family == "softmax"}
    assert kinds == {"time", "rev", "compile"}  # time, fwd-rev, compile


def test_report_on_the_command_line_shows_the_square_crossover(rep):
    r = runner.invoke(app, ["report", str(rep.res.path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    table = r.output.split("where jacfwd and jacrev tie")[1]
    line = next(ln for ln in table.splitlines() if "softmax" in ln)
    assert "n (d_in = d_out)" in line and "crossover" in line and "either" in line
    assert [t.view.title for t in terminal.report(rep)][-1] == "where jacfwd and jacrev tie"


@pytest.mark.parametrize("d_in, d_out", [(2000, 2000), (50, 5), (1, 1)])
def test_a_family_of_one_size_draws_every_figure(tmp_path, d_in, d_out):
    # a report gives a family of one size one small figure (tests/render/test_show_small.py); the
    # figures against size still draw a lone point, whose log axis matplotlib cannot autoscale
    case = C("lone", d_in, d_out, (S("jacfwd", 1e-5), S("jacrev", 3e-5)))
    rep = views.build(load_results(write_run(tmp_path / "run", [case])))
    assert [f.slug for f in plots.report_figures(rep)] == ["lone-cpu-0-time"]
    res, row = rep.res, rep.crossovers.iloc[0].to_dict()
    figs = {
        "time": plots.time_vs_size(res.results, rep.ranking, "lone", "cpu:0", row),
        "fwd-rev": plots.fwd_rev_ratio(rep.verdicts, "lone", "cpu:0", row),
        "compile": costs.compile_vs_run(res.results, rep.verdicts, "lone", "cpu:0"),
    }
    x = d_in if d_in == d_out else d_out  # n on a square family; else d_out, its d_in fixed
    for slug, fig in figs.items():
        assert plots.png_bytes(fig).startswith(b"\x89PNG")
        low, high = fig.axes[0].get_xlim()
        assert low < x < high, (slug, low, high)
