"""How long does `adbench report` take on a run with thousands of families?

    .venv/bin/python benchmarks/report_scale.py                    # 2,000 families, < 1 min
    .venv/bin/python benchmarks/report_scale.py --families 500 --figures 5

A synthetic results directory is written through the real writer (``ResultsWriter`` rows from
tests/builders.py, then ``adbench.session.derived.write_derived`` as a run ends): per family one
case, 10 -> 100, jacfwd and jacrev with 9 paired rounds. Then each step of `adbench report -f
html` is timed on its own: loading, ``views.build`` (the ranking and crossovers recomputed),
the page without its figures (the part that grew with families x families while every family
re-read every verdict and ranking row), the Markdown and terminal tables, and, with
``--figures K``, the figures of K families (matplotlib; their cost is per family, so the
printed extrapolation is the figures' share of a full report).

Measured on the project's 2-core machine, shared (load average 3-4), 2,000 families: the page
without figures took 103 s while every family filtered every verdict and ranking row (quadratic:
0.2 s at 100 families, 6.2 s at 400) and 0.2 s once they are grouped (html.render_html,
views.verdict_views); the whole script ~41 s of CPU (writing the run 20-43 s, loading 6-13 s,
views.build 12-31 s wall: the verdicts' and crossovers' per-case pandas work, linear). Figures
cost ~1 s per family (3 PNGs), so an HTML report of 2,000 families with its plots takes ~35 min.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from builders import META, C, S, rows  # noqa: E402

from adbench.render import html, markdown, terminal, views  # noqa: E402
from adbench.session.derived import write_derived  # noqa: E402
from adbench.store.results import ResultsWriter, load_results  # noqa: E402


def write(directory: Path, families: int) -> None:
    """``families`` one-case families through the real writer, derived tables included."""
    writer = ResultsWriter(directory)
    writer.create()
    writer.write_meta({**META, "config": {"name": f"scale-{families}"}})
    for i in range(families):
        case = C(f"f{i:05d}", 10, 100, (S("jacfwd", 1e-5 * (1 + i % 7)), S("jacrev", 2e-5)))
        writer.append_case(*rows(case))
    write_derived(writer, margin=0.1)


def timed(label: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    print(f"  {label:<34} {time.perf_counter() - t0:8.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=2000)
    parser.add_argument("--figures", type=int, default=0, help="families whose figures to time")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="adbench-scale-"))
    try:
        d = tmp / "run"
        print(f"{args.families} families, one case each, in {d}")
        timed("write (writer + derived tables)", lambda: write(d, args.families))
        res = timed("load_results", lambda: load_results(d))
        rep = timed("views.build (ranking, crossovers)", lambda: views.build(res))
        page = timed("HTML page without figures", lambda: html.render_html(rep, figures=[]))
        timed("Markdown tables", lambda: markdown.to_markdown(rep))
        timed("terminal views", lambda: [t.view for t in terminal.report(rep)])
        print(f"  page: {len(page) / 1e6:.1f} MB")
        if args.figures:
            from adbench.render.plots import png_bytes, report_figures

            keep = {f"f{i:05d}" for i in range(args.figures)}
            sub = res.results[res.results["family"].isin(keep)]
            small = views.Report(
                dataclasses.replace(res, results=sub),
                rep.verdicts[rep.verdicts["family"].isin(keep)],
                rep.ranking[rep.ranking["family"].isin(keep)],
                rep.crossovers[rep.crossovers["family"].isin(keep)],
                rep.margin,
            )
            t0 = time.perf_counter()
            figs = report_figures(small)
            for f in figs:
                png_bytes(f.figure)
            per = (time.perf_counter() - t0) / args.figures
            print(
                f"  figures: {len(figs)} for {args.figures} families, {per:.2f} s per family "
                f"(~{per * args.families / 60:.0f} min for all {args.families})"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
