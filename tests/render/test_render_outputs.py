"""What report files carry: `n/a` survives pandas with the README's recipe in every derived
file; Markdown image links resolve whatever the output file is called; the HTML page groups its
per-family tables once (linear in families)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from builders import C, S, write_run
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from adbench.cli import app
from adbench.render import html, markdown, views
from adbench.store import schema
from adbench.store.results import load_results

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPE = {"keep_default_na": False, "na_values": [""]}  # README, "Derived files"
runner = CliRunner()

CASES = [
    C("lin", 10, 100, (S("jacfwd", 1e-5), S("jacrev", 3e-5))),
    C("lin", 10, 1000, (S("jacfwd", 2e-5), S("jacrev", 9e-5))),
    C("one", 5, 50, (S("jacfwd", 1e-5), S("jacrev", 3e-5))),  # one size: crossover n/a
    C("hess", 10, 1, (S("fwd_over_rev", 1e-5), S("rev_over_rev", 2e-5)), task="hessian"),
    C("broken", 3, 3, (S("jacfwd", status="error", reason="boom"), S("jacrev", status="error"))),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("outputs") / "run", CASES)


def raw_cells(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def check_na_round_trip(path: Path) -> int:
    """Every cell read with the README's recipe is its text: 'n/a' stays 'n/a', an empty cell is
    NaN. Returns how many 'n/a' cells the file has."""
    raw = raw_cells(path)
    df = pd.read_csv(path, **RECIPE)
    assert len(df) == len(raw)
    n = 0
    for i, row in enumerate(raw):
        for col, text in row.items():
            value = df.at[i, col]
            if text == "n/a":
                n += 1
                assert value == "n/a", (path.name, i, col, value)
            elif text == "":
                assert isinstance(value, float) and math.isnan(value), (path.name, col, value)
            else:
                assert not (isinstance(value, float) and math.isnan(value)), (path.name, col)
    return n


def test_the_readme_gives_the_recipe():
    assert 'keep_default_na=False, na_values=[""]' in README.read_text(encoding="utf-8")


def test_n_a_survives_the_recipe_in_every_derived_file_and_the_csv_export(run_dir, tmp_path):
    found = {
        name: check_na_round_trip(run_dir / name)
        for name in (schema.VERDICTS_FILE, schema.RANKING_FILE, schema.CROSSOVER_FILE)
    }
    # the token is really there (so the check means something) ...
    assert found[schema.VERDICTS_FILE] > 0 and found[schema.CROSSOVER_FILE] > 0
    # ... and plain pandas would lose it: why the README gives the recipe
    plain = pd.read_csv(run_dir / schema.CROSSOVER_FILE)
    assert plain["outcome"].isna().any()
    out = tmp_path / "verdicts.csv"
    r = runner.invoke(app, ["report", str(run_dir), "-f", "csv", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert check_na_round_trip(out) > 0
    assert (pd.read_csv(out, **RECIPE).set_index("family").loc["one", "crossover_outcome"]) == "n/a"


# --------------------------------------------------------------------------- Markdown links


def images(md: str) -> list[tuple[str, str]]:
    """(alt text, destination) of every image a CommonMark parser finds."""
    out = []
    for token in MarkdownIt("commonmark").parse(md):
        for child in token.children or ():
            if child.type == "image":
                out.append((child.content, str(child.attrs["src"])))
    return out


@pytest.mark.parametrize("name", ["my report.md", "draft (v2) [final].md", "plain.md"])
def test_markdown_image_links_resolve_whatever_the_file_is_called(run_dir, tmp_path, name):
    out = tmp_path / "out dir" / name
    out.parent.mkdir()
    r = runner.invoke(app, ["report", str(run_dir), "-f", "md", "-o", str(out)])
    assert r.exit_code == 0, r.output
    md = out.read_text(encoding="utf-8")
    found = images(md)
    written = sorted(p for p in out.parent.rglob("*.png"))
    assert len(found) == len(written) == md.count("![")  # every link parsed as an image
    for alt, src in found:
        assert (out.parent / unquote(src)).is_file(), src
        assert alt.startswith(("lin on cpu:0", "one on cpu:0", "hess on cpu:0"))
    assert {out.parent / unquote(src) for _, src in found} == set(written)


def test_link_encodes_what_would_end_a_markdown_destination():
    assert markdown.link("my report_plots/a-cpu-0-time.png") == "my%20report_plots/a-cpu-0-time.png"
    assert markdown.link("a (b)/c.png") == "a%20%28b%29/c.png"
    assert markdown.link("plain_plots/x.png") == "plain_plots/x.png"


# --------------------------------------------------------------------------- HTML at scale


def test_the_html_page_reads_the_tables_once_whatever_the_number_of_families(tmp_path, monkeypatch):
    """A plausible quadratic page (each family filtering every verdict and ranking row again)
    turns the rows into records once per family; the linear one a fixed number of times."""
    calls: list[int] = []
    real = views._rows_of

    def counting(df: pd.DataFrame) -> list[dict]:
        calls.append(len(df))
        return real(df)

    monkeypatch.setattr(views, "_rows_of", counting)
    counts = []
    for families in (3, 12):
        cases = [
            C(f"f{i}", 10, 100, (S("jacfwd", 1e-5), S("jacrev", 3e-5), S("linearize", 2e-5)))
            for i in range(families)
        ]
        rep = views.build(load_results(write_run(tmp_path / f"r{families}", cases)))
        calls.clear()
        page = html.render_html(rep, figures=[])
        counts.append(len(calls))
        # each family's section holds its own rows and no other family's
        for i in range(families):
            section = page.split(f'<h2 id="f{i}-cpu:0">')[1].split("<h2")[0]
            assert section.count("<td>10 → 100</td>") == 1 + 3  # its verdict, its 3 rankings
    assert counts[0] == counts[1] <= 4
