"""The self-contained HTML report: its content, its escaping, and a real browser loading it."""

from __future__ import annotations

import base64
import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from adbench.render import plots, views
from adbench.render.html import render_html
from adbench.store.results import load_results

FIXTURE = Path(__file__).parents[1] / "data" / "report" / "sweep"
V2 = Path(__file__).parents[1] / "data" / "v2" / "report"


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(views.build(load_results(FIXTURE)))


def test_page_holds_every_section_and_needs_nothing_outside_itself(page):
    assert page.startswith("<!DOCTYPE html>")
    for text in (
        "<title>adbench report: report-fixture</title>",
        "Where jacfwd and jacrev tie",
        "linear on cpu:0",
        "tanh_grid on cpu:0",
        "Strategies that did not measure cleanly",
        "estimated 40.0 GiB (XLA temp) exceeds the 8.00 GiB budget",
        "Environment",
        "Synthetic CPU @ 2.0GHz (fixture)",
    ):
        assert text in page, text
    assert re.search(r"68\.7 \[66\.\d, 69\.\d\]", page)  # the linear family's tie, interval
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == page.count("<img") == 16
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)


def test_names_from_the_results_are_escaped():
    res = load_results(FIXTURE)
    evil = "<img src=x onerror=alert(1)>&"

    def rename(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(family=df["family"].replace("power", evil))

    res = dataclasses.replace(
        res,
        results=rename(res.results)[lambda d: d["family"] == evil],
        samples=rename(res.samples)[lambda d: d["family"] == evil],
        verdicts=rename(res.verdicts)[lambda d: d["family"] == evil],
        meta={**res.meta, "cpu_model": "<b>cpu</b>"},
    )
    rep = views.build(res)
    figs = plots.report_figures(rep)
    text = render_html(rep, figs)
    assert evil not in text and "<b>cpu</b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;" in text
    assert text.count("<img") == len(figs) == 3


def test_n_strategies_get_a_ranking_and_a_colour_each():
    text = render_html(views.build(load_results(V2)))
    assert text.count("Every strategy, relative to the fastest") == 5  # one per family
    assert f'style="color:{views.colour("sparse")}">sparse</span>' in text
    assert f'style="color:{views.colour("tie")}">tie: jacrev, jacrev_chunked</span>' in text
    assert "jacfwd failed to compile: TypeError" in text
    assert "sparse: 1" in re.sub(r"<[^>]+>", "", text)  # the summary counts per strategy


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


# A deliberately broken image proves that the check can fail.
SENTINEL = '<img id="sentinel" alt="broken on purpose" src="data:image/png;base64,AAAA">'
CHECK = """<script>
// The load event waits for every image; a broken one has naturalWidth 0.
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter((i) => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0));
  const fetched = performance.getEntriesByType("resource").map((r) => r.name);
  document.title = "CHECK " + imgs.length + " images, " + broken.length + " broken, "
    + fetched.length + " fetched " + fetched.join(" ");
});
</script>"""


@pytest.mark.skipif(
    _browser() is None,
    reason="no chromium on PATH: install Debian's `chromium` package (.ci/run does) to open the "
    "HTML report in a real browser",
)
def test_a_real_browser_loads_every_plot_without_the_network(page, tmp_path):
    report = tmp_path / "report.html"
    report.write_text(page.replace("</body>", SENTINEL + CHECK + "</body>"), encoding="utf-8")
    cmd = [
        _browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # any network request would fail, visibly
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        report.as_uri(),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    title = re.search(r"<title>(CHECK[^<]*)</title>", out.stdout)
    assert title, f"the check did not run; chromium said: {out.stderr[-2000:]}"
    assert title.group(1).strip() == "CHECK 17 images, 1 broken, 0 fetched"  # 1: the sentinel
