"""Plots from the results fixtures: the right figures, a colour per strategy, times relative to the
fastest, the tie marked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.colors import to_hex

from adbench.render import costs, plots, views
from adbench.render.axes import tick_seconds
from adbench.store.results import load_results

FIXTURE = Path(__file__).parents[1] / "data" / "report" / "sweep"
V2 = Path(__file__).parents[1] / "data" / "v2" / "report"


@pytest.fixture(scope="module")
def rep() -> views.Report:
    return views.build(load_results(FIXTURE))


@pytest.fixture(scope="module")
def v2() -> views.Report:
    return views.build(load_results(V2))


def row(rep: views.Report, family: str) -> dict:
    return rep.crossovers[rep.crossovers["family"] == family].iloc[0].to_dict()


def test_time_vs_size_draws_every_strategy_in_its_colour_and_relative_to_the_fastest(v2):
    fig = plots.time_vs_size(v2.res.results, v2.ranking, "chunked", "cpu:0", row(v2, "chunked"))
    top, bottom = fig.axes
    for ax in (top, bottom):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert top.get_ylabel() == "run time per call"
    assert bottom.get_ylabel() == "t / t(fastest), 95% CI"
    assert bottom.get_xlabel() == "d_out (outputs)"
    lines = {ln.get_label(): to_hex(ln.get_color()) for ln in top.get_lines()}
    names = ("jacfwd", "jacrev", "jacfwd_chunked", "jacrev_chunked", "linearize")
    for name in names:
        assert lines[f"{name} median (95% CI band)"] == views.colour(name)
    assert len({views.colour(n) for n in names}) == len(names)  # distinct within the task
    # bottom: one errorbar series per strategy, the fastest at exactly 1
    series = [c for c in bottom.containers]
    assert len(series) == len(names)
    ys = {to_hex(c.lines[0].get_color()): list(c.lines[0].get_ydata()) for c in series}
    assert ys[views.colour("jacfwd")][1:] == [1.0, 1.0]  # fastest at 200 and 2000
    labels = [t.get_text() for t in bottom.get_legend().get_texts()]
    assert any(t.startswith("measured jacfwd/jacrev tie ≈ 106 (95% CI") for t in labels)
    assert "tie margin +10%" in labels
    assert any(t.endswith(("µs", "ms")) for t in map(tick_seconds, top.get_yticks()))


def test_time_vs_size_marks_strategies_that_did_not_run(v2, rep):
    fig = plots.time_vs_size(v2.res.results, v2.ranking, "odeint", "cpu:0")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("jacfwd error") == 2 and texts.count("linearize error") == 2
    fig = plots.time_vs_size(rep.res.results, rep.ranking, "scan", "cpu:0", row(rep, "scan"))
    assert "jacrev memory" in [t.get_text() for t in fig.axes[0].texts]


def test_fwd_rev_ratio_marks_the_crossover_and_the_textbook(rep):
    c = row(rep, "linear")
    fig = plots.fwd_rev_ratio(rep.verdicts, "linear", "cpu:0", c)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "t(jacfwd) / t(jacrev)" and ax.get_xlabel() == "d_out (outputs)"
    verticals = [float(ln.get_xdata()[0]) for ln in ax.lines if len(set(ln.get_xdata())) == 1]
    assert c["crossover"] in verticals
    assert 100.0 in verticals  # the textbook tie, d_in = d_out = 100
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "textbook tie (d_in = d_out)" in labels and "tie margin ±10%" in labels


def test_time_vs_size_on_a_grid_draws_one_line_per_d_in(rep):
    fig = plots.time_vs_size(rep.res.results, rep.ranking, "tanh_grid", "cpu:0")
    top, bottom = fig.axes
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert "jacfwd, d_in = 10" in labels and "jacrev, d_in = 1000" in labels
    assert top.get_xlabel() == "d_out (outputs)"
    assert bottom.get_xlabel() == "d_in / d_out"


def test_heatmap_writes_the_recommended_strategy_in_every_cell(rep):
    assert plots.is_grid(rep.verdicts, "tanh_grid", "cpu:0")
    assert not plots.is_grid(rep.verdicts, "linear", "cpu:0")
    fig = plots.winner_heatmap(rep.verdicts, "tanh_grid", "cpu:0")
    ax = fig.axes[0]
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 9
    assert cells.count("tie\n(2)") == 3
    assert sum(c.startswith("jacfwd\n") for c in cells) == 3
    assert sum(c.startswith("jacrev\n") for c in cells) == 3
    assert ax.get_xlabel() == "d_out (outputs)" and ax.get_ylabel() == "d_in (inputs)"
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend == {"tie", "jacfwd", "jacrev"}


def test_compile_vs_run_shows_every_strategy_and_break_even(rep, v2):
    fig = costs.compile_vs_run(rep.res.results, rep.verdicts, "linear", "cpu:0")
    left, right = fig.axes
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels == [
        "jacfwd one-off",
        "jacfwd run (per call)",
        "jacrev one-off",
        "jacrev run (per call)",
    ]
    assert left.get_ylabel() == "seconds" and right.get_ylabel() == "break-even calls"
    # jacrev wins at d_out 10 and 30 but compiles slower: 1162 and 644 calls to repay it
    jacrev = [c for c in right.collections if c.get_label() == "jacrev recommended"]
    assert sorted(map(float, jacrev[0].get_offsets()[:, 1])) == [644.0, 1162.0]
    fig = costs.compile_vs_run(v2.res.results, v2.verdicts, "hess", "cpu:0")
    points = [c for c in fig.axes[1].collections if c.get_label() == "sparse recommended"]
    assert list(points[0].get_offsets()[:, 1]) == [1200.0]  # 0.5 s of setup repaid


def test_compile_vs_run_without_a_winner_says_so(rep):
    fig = costs.compile_vs_run(rep.res.results, rep.verdicts, "scan", "cpu:0")
    assert "no case has a winner" in fig.axes[1].texts[0].get_text()


def test_report_figures_cover_every_family_and_png_is_deterministic(rep, v2):
    figs = plots.report_figures(rep)
    slugs = [f.slug for f in figs]
    assert slugs[:3] == ["linear-cpu-0-time", "linear-cpu-0-fwd-rev", "linear-cpu-0-compile"]
    assert sum(s.endswith("-heatmap") for s in slugs) == 1
    assert len(slugs) == 16
    small = figs[2].figure
    a, b = plots.png_bytes(small, dpi=30), plots.png_bytes(small, dpi=30)
    assert a == b and a.startswith(b"\x89PNG\r\n\x1a\n")
    # a hessian family has no fwd/rev view; a family where nothing ran has no figure
    v2_slugs = [f.slug for f in plots.report_figures(v2)]
    assert "hess-cpu-0-time" in v2_slugs and "hess-cpu-0-fwd-rev" not in v2_slugs
    assert not [s for s in v2_slugs if s.startswith("broken")]


def test_slug_is_file_name_safe():
    assert plots.slug("linear", "cpu:0", "time") == "linear-cpu-0-time"
    s = plots.slug("../../etc/passwd", "GPU 0")
    assert "/" not in s and ".." not in s.split("-")[0]
    assert plots.slug("///") == "figure"


def test_importing_plots_does_not_import_matplotlib_and_never_pyplot():
    code = (
        "import sys; import adbench.render.plots, adbench.render.html, adbench.analysis.crossover;"
        "from adbench.render import costs;"
        "print('matplotlib' in sys.modules);"
        "from adbench.store.results import load_results; from adbench.render import plots;"
        f"r = load_results({str(FIXTURE)!r});"
        "costs.compile_vs_run(r.results, r.verdicts, 'power', 'cpu:0');"
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.split() == ["False", "False"]
