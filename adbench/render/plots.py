"""Stored results -> matplotlib Figures people look at (returned, never shown or saved here).

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas, never with pyplot, so no
GUI backend is touched and nothing global accumulates. matplotlib is imported on first use, so
importing this module (and ``adbench --help``) stays light.

    time_vs_size     run time of both modes against size, log-log, 95% CI band, tie marked
    speedup_heatmap  d_in x d_out grid coloured by t(jacfwd) / t(jacrev), winner written in
    compile_vs_run   one-off cost (trace + compile) against run time, and the break-even calls
    report_figures   every figure for a results directory, named for files and headings
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from adbench.analysis.crossover import AXIS_D_IN, AXIS_D_OUT, AXIS_RATIO
from adbench.store import schema

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from adbench.store.results import Results

Row = Mapping[str, Any] | pd.Series  # one row of a table: a dict or a DataFrame row

COLOURS = {"jacfwd": "#1b7837", "jacrev": "#2166ac"}  # green / blue, as in the terminal table
MARKERS = {"jacfwd": "o", "jacrev": "s"}
AXIS_LABELS = {
    AXIS_D_OUT: "d_out (outputs)",
    AXIS_D_IN: "d_in (inputs)",
    AXIS_RATIO: "d_in / d_out",
}


def _figure(width: float = 7.0, height: float = 4.2) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def fmt_seconds(v: float) -> str:
    """1 s, 20 ms, 5 µs: tick labels for time axes."""
    if not (v > 0) or math.isinf(v):
        return ""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if v >= scale * 0.999 or unit == "ns":
            return f"{v / scale:.3g} {unit}"
    return ""


def _seconds_axis(ax: Axes) -> None:
    """Log y axis labelled in s / ms / µs; minor ticks labelled too when it spans < 1.5 decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10.0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: fmt_seconds(v)))
    low, high = ax.get_ylim()
    if low > 0 and math.log10(high / low) < 1.5:
        ax.yaxis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: fmt_seconds(v)))
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def _size_axis(ax: Axes) -> None:
    from matplotlib.ticker import FuncFormatter

    def label(v: float, _pos: object) -> str:
        if v >= 1 and v == round(v):
            return f"{int(v):,}".replace(",", "\u2009")  # thin space groups digits
        return f"{v:g}"

    ax.xaxis.set_major_formatter(FuncFormatter(label))


def _axis_and_x(df: pd.DataFrame) -> tuple[str, pd.Series]:
    """The axis a family's sweep varies along (as in adbench.crossover) and x per row."""
    n_in, n_out = df["d_in"].nunique(), df["d_out"].nunique()
    if n_in == 1 and n_out > 1:
        return AXIS_D_OUT, df["d_out"].astype(float)
    if n_out == 1 and n_in > 1:
        return AXIS_D_IN, df["d_in"].astype(float)
    return AXIS_RATIO, df["d_in"].astype(float) / df["d_out"].astype(float)


def _select(df: pd.DataFrame, family: str, device: str) -> pd.DataFrame:
    return df[(df["family"] == family) & (df["device"] == device)]


def _fixed_note(axis: str, df: pd.DataFrame) -> str:
    if axis == AXIS_D_OUT:
        return f", d_in = {int(df['d_in'].iloc[0])}"
    if axis == AXIS_D_IN:
        return f", d_out = {int(df['d_out'].iloc[0])}"
    return ""


def _num(row: Row | None, key: str) -> float:
    if row is None:
        return math.nan
    try:
        return float(row.get(key, math.nan))
    except (TypeError, ValueError):
        return math.nan


def time_vs_size(
    results: pd.DataFrame,
    verdicts: pd.DataFrame,
    family: str,
    device: str,
    crossover: Row | None = None,
) -> Figure:
    """Run time of both modes against size (top) and their ratio with its interval (bottom).

    Top: median seconds per call, log-log, the bootstrap 95% CI of each median as a band; on a
    d_in x d_out grid, one line per d_in against d_out. Bottom: t(jacfwd) / t(jacrev) from the
    verdicts with its 95% CI, the tie margin shaded, against the crossover's axis. The measured
    tie (with its interval) and the textbook's tie are marked from ``crossover``, that family's
    row of the crossover table (schema.CROSSOVER_COLUMNS). Cases that did not measure cleanly
    are marked with a red x on the lower edge, labelled with why.

    results, verdicts: tables with schema.RESULT_COLUMNS and VERDICT_COLUMNS.
    """
    df = _select(results, family, device)
    axis, xs = _axis_and_x(df)
    df = df.assign(_x=xs.to_numpy())
    grid = axis == AXIS_RATIO and df["d_in"].nunique() > 1 and df["d_out"].nunique() > 1
    fig = _figure(7.5, 6.4)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 2], sharex=not grid)
    if grid:
        top_x = "d_out"
        d_ins = sorted(df["d_in"].unique())
        for mode in schema.MODES:
            for k, d_in in enumerate(d_ins):
                shade = 1.0 - 0.55 * k / max(1, len(d_ins) - 1)
                sel = df[df["d_in"] == d_in].assign(_x=df["d_out"].astype(float))
                _time_line(top, sel, mode, f"{mode}, d_in = {d_in}", alpha=shade)
    else:
        top_x = "_x"
        for mode in schema.MODES:
            _time_line(top, df, mode, f"{mode} median (95% CI band)")
    _mark_failures(top, df.assign(_x=df[top_x].astype(float)) if grid else df)
    top.set_xscale("log")
    top.set_yscale("log")
    _seconds_axis(top)
    _size_axis(top)
    top.set_ylabel("run time per Jacobian call")
    top.set_xlabel("d_out (outputs)" if grid else "")
    top.set_title(f"{family} on {device}: run time{_fixed_note(axis, df)}", loc="left")
    top.grid(True, which="major", alpha=0.3)
    _ratio_panel(bottom, _select(verdicts, family, device), axis, crossover)
    if not grid:
        _mark_ties(top, crossover, df["_x"], legend=False)
    top.legend(fontsize=8, loc="best", ncols=2 if grid else 1)
    return fig


def _time_line(ax: Axes, df: pd.DataFrame, mode: str, label: str, alpha: float = 1.0) -> None:
    m = df[(df["strategy"] == mode) & (df["status"] == schema.STATUS_OK)].sort_values("_x")
    if m.empty:
        return
    x, y = m["_x"].to_numpy(float), m["median_s"].to_numpy(float)
    lo, hi = m["ci_low_s"].to_numpy(float), m["ci_high_s"].to_numpy(float)
    ls = "-" if mode == "jacfwd" else "--"
    ax.plot(x, y, color=COLOURS[mode], marker=MARKERS[mode], ls=ls, alpha=alpha, label=label)
    ax.fill_between(x, lo, hi, color=COLOURS[mode], alpha=0.2 * alpha, lw=0)


def _mark_failures(ax: Axes, df: pd.DataFrame) -> None:
    from matplotlib.transforms import blended_transform_factory

    bad = df[df["status"] != schema.STATUS_OK].sort_values("_x")
    edge = blended_transform_factory(ax.transData, ax.transAxes)
    for i, (_, r) in enumerate(bad.iterrows()):
        ax.plot(
            [r["_x"]],
            [0.04],
            marker="x",
            color="#b2182b",
            ms=9,
            mew=2,
            transform=edge,
            ls="none",
            label="not measured" if i == 0 else None,
        )
        ax.annotate(
            f"{r['strategy']} {r['status']}",
            (r["_x"], 0.04),
            xycoords=edge,
            xytext=(-6, 7),
            textcoords="offset points",
            fontsize=8,
            color="#b2182b",
            ha="right",
        )


def _ratio_panel(ax: Axes, v: pd.DataFrame, axis: str, crossover: Row | None) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    v = v[v["fwd_rev_ratio"].notna()]
    if not v.empty:
        _, xs = _axis_and_x(v) if axis != AXIS_RATIO else (axis, v["d_in"] / v["d_out"])
        v = v.assign(_x=xs.to_numpy(float)).sort_values("_x")
        x, r = v["_x"].to_numpy(float), v["fwd_rev_ratio"].to_numpy(float)
        lo, hi = v["fwd_rev_ci_low"].to_numpy(float), v["fwd_rev_ci_high"].to_numpy(float)
        ls = "none" if axis == AXIS_RATIO else "-"
        yerr = np.vstack([np.clip(r - lo, 0, None), np.clip(hi - r, 0, None)])
        ax.errorbar(
            x,
            r,
            yerr=yerr,
            color="0.15",
            marker="D",
            ms=4,
            ls=ls,
            lw=1,
            capsize=3,
            label="t(jacfwd) / t(jacrev), 95% CI",
        )
        margin = float(v["margin"].dropna().iloc[0]) if v["margin"].notna().any() else 0.1
        ax.axhspan(
            1 / (1 + margin), 1 + margin, color="0.85", lw=0, label=f"tie margin ±{margin:.0%}"
        )
        _mark_ties(ax, crossover, v["_x"], legend=True)
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, 0.5), max(high, 2.0))  # a tie should look like one
    _size_axis(ax)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _p: f"{y:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel("t(jacfwd) / t(jacrev)")
    ax.text(
        1.01,
        0.98,
        "jacrev\nfaster",
        transform=ax.transAxes,
        va="top",
        fontsize=8,
        color=COLOURS["jacrev"],
    )
    ax.text(
        1.01,
        0.02,
        "jacfwd\nfaster",
        transform=ax.transAxes,
        va="bottom",
        fontsize=8,
        color=COLOURS["jacfwd"],
    )
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")


def _mark_ties(ax: Axes, crossover: Row | None, xs: pd.Series, *, legend: bool) -> None:
    if crossover is None or xs.empty:
        return
    lo_x, hi_x = float(xs.min()), float(xs.max())
    book = _num(crossover, "textbook")
    if lo_x / 3 <= book <= hi_x * 3:
        ax.axvline(
            book,
            color="0.45",
            ls=":",
            lw=1.5,
            label="textbook tie (d_in = d_out)" if legend else None,
        )
    tie = _num(crossover, "crossover")
    if math.isnan(tie):
        return
    low, high = _num(crossover, "crossover_low"), _num(crossover, "crossover_high")
    label = f"measured tie ≈ {tie:.3g}"
    if not math.isnan(low):
        conf = _num(crossover, "confidence")
        label += f" ({conf if not math.isnan(conf) else 0.95:.0%} CI {low:.3g}–{high:.3g})"
        ax.axvspan(max(low, lo_x / 10), min(high, hi_x * 10), color="#fdb863", alpha=0.4, lw=0)
    ax.axvline(tie, color="#e66101", ls="--", lw=1.5, label=label if legend else None)
    ax.set_xlim(lo_x / 1.5, hi_x * 1.5)


def is_grid(verdicts: pd.DataFrame, family: str, device: str) -> bool:
    """True when the family's cases on the device vary both d_in and d_out (>= 2 values each)."""
    v = _select(verdicts, family, device)
    return bool(v["d_in"].nunique() >= 2 and v["d_out"].nunique() >= 2)


def speedup_heatmap(verdicts: pd.DataFrame, family: str, device: str) -> Figure:
    """d_in (rows) x d_out (columns), coloured by log t(jacfwd)/t(jacrev), winner in each cell.

    verdicts: the verdict table (schema.VERDICT_COLUMNS). Green cells: jacfwd faster; blue:
    jacrev faster; the text says the recommendation and its speedup ("tie" inside the margin).
    A dashed outline marks a verdict against the textbook; grey cells have no verdict.
    """
    from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm
    from matplotlib.patches import Rectangle

    v = _select(verdicts, family, device)
    d_ins = sorted(int(d) for d in v["d_in"].unique())
    d_outs = sorted(int(d) for d in v["d_out"].unique())
    logr = np.full((len(d_ins), len(d_outs)), np.nan)
    fig = _figure(1.6 + 1.15 * len(d_outs) + 1.2, 1.4 + 0.75 * len(d_ins) + 0.4)
    ax = fig.add_subplot()
    cells = []
    for _, r in v.iterrows():
        i, j = d_ins.index(int(r["d_in"])), d_outs.index(int(r["d_out"]))
        ratio = _num(r, "fwd_rev_ratio")
        if ratio > 0:
            logr[i, j] = math.log10(ratio)
        cells.append((i, j, r))
    finite = logr[np.isfinite(logr)]
    lim = max(0.1, float(np.abs(finite).max())) if finite.size else 1.0
    cmap = LinearSegmentedColormap.from_list(
        "fwd_rev", [COLOURS["jacfwd"], "#f7f7f7", COLOURS["jacrev"]]
    ).with_extremes(bad="#d9d9d9")
    image = ax.imshow(
        np.ma.masked_invalid(logr), cmap=cmap, norm=TwoSlopeNorm(0.0, -lim, lim), aspect="auto"
    )
    for i, j, r in cells:
        rec = str(r.get("recommended", "n/a"))
        speed = _num(r, "speedup")
        text = {"jacfwd": "fwd", "jacrev": "rev"}.get(rec, rec)
        if rec in ("jacfwd", "jacrev") and not math.isnan(speed):
            text += f"\n{speed:.3g}×"
        strong = abs(logr[i, j]) > 0.6 * lim if np.isfinite(logr[i, j]) else False
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold" if rec in ("jacfwd", "jacrev") else "normal",
            color="white" if strong else "black",
        )
        if str(r.get("agrees_with_textbook", "")) == "no":
            ax.add_patch(
                Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, ls="--", lw=1.5, ec="black")
            )
    ax.set_xticks(range(len(d_outs)), [str(d) for d in d_outs])
    ax.set_yticks(range(len(d_ins)), [str(d) for d in d_ins])
    ax.set_xlabel("d_out (outputs)")
    ax.set_ylabel("d_in (inputs)")
    ax.set_title(f"{family} on {device}: recommended mode and speedup", loc="left")
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    nice = (0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1000.0)
    ticks = [math.log10(t) for t in nice if abs(math.log10(t)) <= lim]
    bar.set_ticks(ticks, labels=[f"{10**t:g}" for t in ticks])
    bar.set_label("t(jacfwd) / t(jacrev)  (<1: jacfwd faster)")
    return fig


def compile_vs_run(
    results: pd.DataFrame, verdicts: pd.DataFrame, family: str, device: str
) -> Figure:
    """One-off cost against run time per call for both modes, and the break-even number of calls.

    Left: trace + compile seconds (dashed) and run seconds per call (solid) against size. Right:
    calls after which the faster mode has repaid a longer compile (from verdicts'
    ``break_even_calls``); 'from the 1st call' when it also compiles faster.
    """
    df = _select(results, family, device)
    df = df[df["status"] == schema.STATUS_OK]
    axis, xs = _axis_and_x(df)
    df = df.assign(_x=xs.to_numpy(), _once=df["lower_s"].fillna(0) + df["compile_s"])
    fig = _figure(10.0, 4.0)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2], sharex=True)
    line = "-" if axis != AXIS_RATIO else "none"
    for mode in schema.MODES:
        m = df[df["strategy"] == mode].sort_values("_x")
        if m.empty:
            continue
        style = {"color": COLOURS[mode], "marker": MARKERS[mode]}
        left.plot(
            m["_x"],
            m["_once"],
            ls="--" if line == "-" else "none",
            mfc="white",
            label=f"{mode} trace + compile",
            **style,
        )
        left.plot(m["_x"], m["median_s"], ls=line, label=f"{mode} run (per call)", **style)
    for a in (left, right):
        a.set_xscale("log")
        _size_axis(a)
        a.set_xlabel(AXIS_LABELS[axis])
        a.grid(True, which="major", alpha=0.3)
    left.set_yscale("log")
    _seconds_axis(left)
    left.set_ylabel("seconds")
    left.set_title(f"{family} on {device}: one-off vs per-call cost", loc="left")
    left.legend(fontsize=8)
    _break_even_panel(right, _select(verdicts, family, device), axis)
    return fig


def _break_even_panel(ax: Axes, v: pd.DataFrame, axis: str) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    _, xs = _axis_and_x(v) if not v.empty else (axis, pd.Series(dtype=float))
    v = v.assign(_x=xs.to_numpy())
    ax.set_yscale("log")
    ax.set_title("break-even: calls to repay a longer compile", loc="left", fontsize=10)
    ax.set_ylabel("break-even calls")
    top = 10.0
    never = []
    for mode in schema.MODES:
        m = v[(v["recommended"] == mode) & v["break_even_calls"].notna()]
        if m.empty:
            continue
        calls = m["break_even_calls"].to_numpy(float).clip(min=1.0)  # 0: from the 1st call
        xs_m = m["_x"].to_numpy(float)
        finite = np.isfinite(calls)
        ax.scatter(
            xs_m[finite],
            calls[finite],
            color=COLOURS[mode],
            marker=MARKERS[mode],
            zorder=3,
            label=f"{mode} recommended",
        )
        if finite.any():
            top = max(top, 3.0 * float(calls[finite].max()))
        never += [(float(x), mode) for x in xs_m[~finite]]
    if not len(ax.collections):
        ax.text(
            0.5,
            0.5,
            "no case has a winner\n(ties or failures only)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.4",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.minorticks_off()
        return
    edge = blended_transform_factory(ax.transData, ax.transAxes)
    for x, mode in never:  # the faster mode never repays its compile: marked on the top edge
        ax.plot([x], [0.97], marker="^", color=COLOURS[mode], transform=edge, ls="none")
        ax.annotate(
            "never",
            (x, 0.97),
            xycoords=edge,
            xytext=(5, -4),
            textcoords="offset points",
            fontsize=8,
            color=COLOURS[mode],
        )
    ax.axhline(1.0, color="0.6", lw=1, ls=":")
    ax.annotate(
        "1 = from the first call",
        (0.01, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(2, 3),
        textcoords="offset points",
        fontsize=8,
        color="0.4",
    )
    ax.set_ylim(0.5, top)
    ax.yaxis.set_major_locator(LogLocator(base=10.0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _p: f"{y:,.0f}" if y >= 1 else ""))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, loc="best")


def png_bytes(fig: Figure, *, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (deterministic metadata: no software/date stamp)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


@dataclass(frozen=True)
class NamedFigure:
    """A figure with a file-safe name (``slug``) and a caption."""

    slug: str
    caption: str
    family: str
    device: str
    figure: Figure


def slug(*parts: str) -> str:
    """A file-name-safe, lower-case name: ``slug("linear", "cpu:0") == "linear-cpu-0"``."""
    text = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9._]+", "-", text).strip("-.") or "figure"


def report_figures(res: Results, crossovers: pd.DataFrame | None = None) -> list[NamedFigure]:
    """Every figure for a results directory, per family and device, in the order run."""
    out: list[NamedFigure] = []
    cross = {}
    if crossovers is not None and len(crossovers):
        cross = {(str(r["family"]), str(r["device"])): r for _, r in crossovers.iterrows()}
    pairs = res.results[["family", "device"]].drop_duplicates().itertuples(index=False)
    for family, device in pairs:
        family, device = str(family), str(device)
        ok = _select(res.results, family, device)
        if (ok["status"] == schema.STATUS_OK).sum() == 0:
            continue
        row = cross.get((family, device))
        out.append(
            NamedFigure(
                slug(family, device, "time"),
                f"{family} on {device}: run time of both modes against size",
                family,
                device,
                time_vs_size(res.results, res.verdicts, family, device, row),
            )
        )
        if is_grid(res.verdicts, family, device):
            out.append(
                NamedFigure(
                    slug(family, device, "heatmap"),
                    f"{family} on {device}: which mode wins across the d_in × d_out grid",
                    family,
                    device,
                    speedup_heatmap(res.verdicts, family, device),
                )
            )
        out.append(
            NamedFigure(
                slug(family, device, "compile"),
                f"{family} on {device}: compile time against run time, and break-even calls",
                family,
                device,
                compile_vs_run(res.results, res.verdicts, family, device),
            )
        )
    return out
