"""`adbench show` and the report's figures on small things: counts read as integers (chunk_size
100, not 100.0), cases listed by size rather than in the order a size search measured them, and a
family measured at one size gets one small figure that says why, not full-size plots of one dot."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from builders import C, S, write_run

from adbench.render import plots, show, views
from adbench.store.results import load_results


def test_a_strategys_choices_and_counts_are_whole_numbers():
    r = {
        "strategy": "sparse",
        "status": "ok",
        "median_s": 1e-4,
        "ci_low_s": 9e-5,
        "ci_high_s": 1.1e-4,
        "iqr_s": 1e-5,
        "min_s": 9e-5,
        "max_s": 2e-4,
        "n_samples": 9.0,
        "n_inner": 12345.0,
        "outliers": 0.0,
        "chunk_size": 100.0,
        "colors": 3.0,
        "sparse_mode": "fwd",
        "nnz": 1000.0,
    }
    text = "\n".join(show._strategy(r, pd.DataFrame(), "c", "cpu:0"))
    assert "chose      chunk_size 100, colors 3, sparse_mode fwd, nnz 1000" in text
    assert "9 samples x 12345 calls, 0 outliers" in text
    assert ".0" not in text.split("chose")[1]


def test_show_lists_a_searched_family_by_size(tmp_path: Path):
    both = (S("jacfwd", 1e-3), S("jacrev", 2e-3))
    measured = [C("lin", 10, d, both) for d in (10, 10000, 316, 56, 1778)]  # a search's order
    d = write_run(tmp_path / "d", measured + [C("other", 3, 3, both), C("lin", 5, 5, both)])
    lines = show.overview(load_results(d))
    ids = [ln.split(" on ")[0] for ln in lines]
    assert ids == [
        "lin/5x5",
        "lin/10x10",
        "lin/10x56",
        "lin/10x316",
        "lin/10x1778",
        "lin/10x10000",
        "other/3x3",
    ]


@pytest.fixture(scope="module")
def one_size(tmp_path_factory) -> views.Report:
    d = tmp_path_factory.mktemp("one")
    cases = [
        C("single", 50, 5, (S("jacfwd", 2e-3), S("jacrev", 1e-3), S("linearize", 3e-3))),
        C("swept", 4, 4, (S("jacfwd", 1e-3), S("jacrev", 2e-3))),
        C("swept", 4, 40, (S("jacfwd", 1e-3), S("jacrev", 2e-3))),
    ]
    return views.build(load_results(write_run(d / "r", cases)))


def test_a_family_at_one_size_gets_one_small_figure_that_says_why(one_size):
    figs = plots.report_figures(one_size)
    single = [f for f in figs if f.family == "single"]
    assert [f.slug for f in single] == ["single-cpu-0-time"]
    assert "at the one size measured" in single[0].caption
    assert "need two sizes or more" in single[0].caption
    fig = single[0].figure
    width, height = fig.get_size_inches()
    assert height < 4.2 / 2 + 0.5 and width <= 7.0  # smaller than a plot against size
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert names == ["jacrev", "jacfwd", "linearize"]  # fastest first, each once
    assert "50 → 5" in fig._suptitle.get_text()
    # a swept family keeps its plots against size
    swept = [f.slug for f in figs if f.family == "swept"]
    assert swept[0] == "swept-cpu-0-time" and "swept-cpu-0-compile" in swept
    assert plots.png_bytes(fig, dpi=30).startswith(b"\x89PNG")


def test_the_heatmap_names_an_undecided_cell_and_never_colours_it_as_a_strategy():
    from matplotlib.colors import to_hex

    cells = [(2, 2, "jacfwd", 1.5), (2, 4, "undecided", float("nan")), (4, 2, "tie", 1.0)]
    v = pd.DataFrame(
        [
            {"family": "g", "host": "h", "device": "cpu:0", "d_in": a, "d_out": b,
             "recommended": rec, "tie_set": "jacfwd|jacrev" if rec == "tie" else "",
             "speedup": sp, "agrees_with_textbook": "yes"}
            for a, b, rec, sp in cells
        ]
    )  # fmt: skip
    fig = plots.winner_heatmap(v, "g", "cpu:0")
    ax = fig.axes[0]
    texts = {t.get_text(): t for t in ax.texts}
    assert "undecided" in texts and texts["undecided"].get_fontweight() == "normal"
    assert texts["jacfwd\n1.5×"].get_fontweight() == "bold"
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend == {"jacfwd", "undecided", "tie"}
    image = ax.images[0].get_array()
    assert to_hex(image[0, 1][:3]) == to_hex(views.colour("undecided"))  # d_in 2, d_out 4
    assert to_hex(image[0, 0][:3]) == to_hex(views.colour("jacfwd"))
