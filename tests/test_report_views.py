"""`adbench report` in every format shows the crossover; md writes plots; table stays plain."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from adbench.cli import app
from adbench.render import report as rp
from adbench.store import schema
from adbench.store.results import load_results

FIXTURE = Path(__file__).parent / "data" / "report" / "sweep"
runner = CliRunner()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """The fixture cut down to two families (fewer plots to draw), crossover.csv included."""
    out = tmp_path / "small"
    out.mkdir()
    for name in (schema.RESULTS_FILE, schema.SAMPLES_FILE, schema.VERDICTS_FILE):
        df = pd.read_csv(FIXTURE / name, keep_default_na=False, na_values=[""])
        df[df["family"].isin(["power", "scan"])].to_csv(out / name, index=False)
    shutil.copy(FIXTURE / schema.META_FILE, out / schema.META_FILE)
    cross = pd.read_csv(FIXTURE / schema.CROSSOVER_FILE)
    cross[cross["family"].isin(["power", "scan"])].to_csv(out / schema.CROSSOVER_FILE, index=False)
    return out


def test_table_is_grouped_by_family_with_the_crossover_below():
    r = runner.invoke(app, ["report", str(FIXTURE)], env={"COLUMNS": "220"})
    assert r.exit_code == 0, r.output
    assert "\x1b[" not in r.output  # not a terminal: plain text
    verdicts, crossovers = r.output.split("where the modes tie")
    lines = verdicts.splitlines()
    families = [ln.split("│")[1].strip() for ln in lines if ln.startswith("│")]
    # each family named once, on its first row, with a rule between families
    assert [f for f in families if f] == ["linear", "power", "mean_sq", "tanh_grid", "scan"]
    assert len(families) == 27
    assert sum(ln.startswith("├") for ln in lines) == 4
    assert "where the modes tie" in r.output
    assert "68.7 [66.6, 69.4]" in crossovers
    assert "scan/10x10000 jacrev on cpu:0: memory" in r.output


def test_table_colours_the_winner_on_a_terminal_and_not_under_no_color(monkeypatch):
    res = load_results(FIXTURE)

    def render(**kw) -> str:
        buf = io.StringIO()
        Console(file=buf, force_terminal=True, width=200, **kw).print(rp.verdict_table(res))
        return buf.getvalue()

    assert "\x1b[1;32m" in render(color_system="standard")  # bold green: jacfwd
    monkeypatch.setenv("NO_COLOR", "1")
    plain = render(color_system="standard")
    assert "\x1b[32m" not in plain and "\x1b[1;32m" not in plain and "\x1b[36m" not in plain
    assert "jacfwd" in plain


def test_md_with_output_writes_the_plots_beside_it(small, tmp_path):
    out = tmp_path / "doc" / "report.md"
    out.parent.mkdir()
    r = runner.invoke(app, ["report", str(small), "--format", "md", "--output", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert "## Where the modes tie" in text
    assert "| power | cpu:0 | d_out (1 fixed) | 10–10000 | **jacfwd** |" in text
    links = [ln[ln.index("](") + 2 : -1] for ln in text.splitlines() if ln.startswith("![")]
    assert links == [
        "report_plots/power-cpu-0-time.png",
        "report_plots/power-cpu-0-compile.png",
        "report_plots/scan-cpu-0-time.png",
        "report_plots/scan-cpu-0-compile.png",
    ]
    for link in links:
        assert (out.parent / link).read_bytes().startswith(b"\x89PNG")


def test_md_to_stdout_has_the_crossover_but_no_image_links(small):
    r = runner.invoke(app, ["report", str(small), "--format", "md"])
    assert r.exit_code == 0
    assert "## Where the modes tie" in r.output and "![" not in r.output


def test_html_csv_json_carry_the_crossover(small, tmp_path):
    page = tmp_path / "r.html"
    r = runner.invoke(app, ["report", str(small), "--format", "html", "-o", str(page)])
    assert r.exit_code == 0, r.output
    text = page.read_text(encoding="utf-8")
    assert text.count("<img") == 4 and "Where the modes tie" in text

    r = runner.invoke(app, ["report", str(small), "--format", "csv"])
    df = pd.read_csv(io.StringIO(r.output))
    assert list(df.columns) == [*schema.VERDICT_COLUMNS, *rp.CSV_CROSSOVER_COLUMNS]
    assert set(df.loc[df["family"] == "power", "crossover_outcome"]) == {"jacfwd"}
    assert set(df.loc[df["family"] == "scan", "crossover_far_from_textbook"]) == {"yes"}

    r = runner.invoke(app, ["report", str(small), "--format", "json"])
    doc = json.loads(r.output)
    assert [c["outcome"] for c in doc["crossovers"]] == ["jacfwd", "tie"]


def test_crossovers_are_recomputed_when_absent_or_stale(small):
    stored = rp.crossovers_of(load_results(small))
    (small / schema.CROSSOVER_FILE).unlink()
    fresh = rp.crossovers_of(load_results(small))
    pd.testing.assert_frame_equal(stored.reset_index(drop=True), fresh, check_dtype=False)

    # a stored file older than results.csv is not trusted
    pd.DataFrame([{**fresh.iloc[0].to_dict(), "outcome": "bogus"}]).to_csv(
        small / schema.CROSSOVER_FILE, index=False
    )
    old = (small / schema.RESULTS_FILE).stat().st_mtime - 60
    os.utime(small / schema.CROSSOVER_FILE, (old, old))
    assert "bogus" not in set(rp.crossovers_of(load_results(small))["outcome"])
