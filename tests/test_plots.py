"""Plots from the synthetic results fixture: the right figures, labelled, with the tie marked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from adbench.render import plots
from adbench.store import schema
from adbench.store.results import load_results

FIXTURE = Path(__file__).parent / "data" / "report" / "sweep"


@pytest.fixture(scope="module")
def res():
    return load_results(FIXTURE)


@pytest.fixture(scope="module")
def cross():
    return pd.read_csv(FIXTURE / schema.CROSSOVER_FILE, keep_default_na=False, na_values=[""])


def row(cross: pd.DataFrame, family: str) -> dict:
    return cross[cross["family"] == family].iloc[0].to_dict()


def test_time_vs_size_is_log_log_labelled_and_marks_the_ties(res, cross):
    c = row(cross, "linear")
    fig = plots.time_vs_size(res.results, res.verdicts, "linear", "cpu:0", c)
    top, bottom = fig.axes
    for ax in (top, bottom):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert ax.get_ylabel()
        assert ax.get_legend() is not None
    assert top.get_ylabel() == "run time per Jacobian call"
    assert bottom.get_xlabel() == "d_out (outputs)"
    assert bottom.get_ylabel() == "t(jacfwd) / t(jacrev)"
    verticals = [float(ln.get_xdata()[0]) for ln in bottom.lines if len(set(ln.get_xdata())) == 1]
    assert c["crossover"] in verticals
    assert 100.0 in verticals  # the textbook tie, d_in = d_out = 100
    labels = [t.get_text() for t in bottom.get_legend().get_texts()]
    assert any(t.startswith("measured tie ≈ 68.7 (95% CI") for t in labels)
    assert "textbook tie (d_in = d_out)" in labels
    assert "jacrev median (95% CI band)" in [t.get_text() for t in top.get_legend().get_texts()]
    # time tick labels carry units
    assert any(t.endswith(("µs", "ms")) for t in map(plots.fmt_seconds, top.get_yticks()))


def test_time_vs_size_marks_cases_that_did_not_run(res, cross):
    fig = plots.time_vs_size(res.results, res.verdicts, "scan", "cpu:0", row(cross, "scan"))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "jacrev memory" in texts


def test_time_vs_size_on_a_grid_draws_one_line_per_d_in(res, cross):
    fig = plots.time_vs_size(
        res.results, res.verdicts, "tanh_grid", "cpu:0", row(cross, "tanh_grid")
    )
    top, bottom = fig.axes
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert "jacfwd, d_in = 10" in labels and "jacrev, d_in = 1000" in labels
    assert top.get_xlabel() == "d_out (outputs)"
    assert bottom.get_xlabel() == "d_in / d_out"


def test_heatmap_writes_the_winner_in_every_cell(res):
    assert plots.is_grid(res.verdicts, "tanh_grid", "cpu:0")
    assert not plots.is_grid(res.verdicts, "linear", "cpu:0")
    fig = plots.speedup_heatmap(res.verdicts, "tanh_grid", "cpu:0")
    ax = fig.axes[0]
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 9
    assert cells.count("tie") == 3
    assert sum(c.startswith("fwd\n") for c in cells) == 3
    assert sum(c.startswith("rev\n") for c in cells) == 3
    assert ax.get_xlabel() == "d_out (outputs)" and ax.get_ylabel() == "d_in (inputs)"
    assert fig.axes[1].get_ylabel().startswith("t(jacfwd) / t(jacrev)")  # the colour bar


def test_compile_vs_run_shows_both_costs_and_break_even(res):
    fig = plots.compile_vs_run(res.results, res.verdicts, "linear", "cpu:0")
    left, right = fig.axes
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert labels == [
        "jacfwd trace + compile",
        "jacfwd run (per call)",
        "jacrev trace + compile",
        "jacrev run (per call)",
    ]
    assert left.get_ylabel() == "seconds" and right.get_ylabel() == "break-even calls"
    assert left.get_xlabel() == right.get_xlabel() == "d_out (outputs)"
    # jacrev wins at d_out 10 and 30 but compiles slower: 1162 and 644 calls to repay it
    points = right.collections[1].get_offsets()
    assert sorted(map(float, points[:, 1])) == [644.0, 1162.0]


def test_compile_vs_run_without_a_winner_says_so(res):
    fig = plots.compile_vs_run(res.results, res.verdicts, "scan", "cpu:0")
    assert "no case has a winner" in fig.axes[1].texts[0].get_text()


def test_report_figures_cover_every_family_and_png_is_deterministic(res, cross):
    figs = plots.report_figures(res, cross)
    slugs = [f.slug for f in figs]
    assert slugs[:2] == ["linear-cpu-0-time", "linear-cpu-0-compile"]
    assert "tanh_grid-cpu-0-heatmap" in slugs
    assert sum(s.endswith("-heatmap") for s in slugs) == 1
    assert len(slugs) == 11
    small = figs[1].figure
    a, b = plots.png_bytes(small, dpi=30), plots.png_bytes(small, dpi=30)
    assert a == b and a.startswith(b"\x89PNG\r\n\x1a\n")


def test_slug_is_file_name_safe():
    assert plots.slug("linear", "cpu:0", "time") == "linear-cpu-0-time"
    s = plots.slug("../../etc/passwd", "GPU 0")
    assert "/" not in s and ".." not in s.split("-")[0]
    assert plots.slug("///") == "figure"


def test_importing_plots_does_not_import_matplotlib_and_never_pyplot():
    code = (
        "import sys; import adbench.render.plots, adbench.render.html, adbench.analysis.crossover;"
        "print('matplotlib' in sys.modules);"
        "from adbench.store.results import load_results; from adbench.render import plots;"
        f"r = load_results({str(FIXTURE)!r});"
        "plots.compile_vs_run(r.results, r.verdicts, 'power', 'cpu:0');"
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
