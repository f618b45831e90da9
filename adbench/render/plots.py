"""Stored results -> matplotlib Figures people look at (returned, never shown or saved here).

    time_vs_size     every strategy's run time against size (log-log, 95% CI bands, a colour
                     per strategy) over its time relative to the fastest, with its interval
    fwd_rev_ratio    the classic view: t(jacfwd) / t(jacrev) with its interval, the tie margin,
                     the measured crossover and the textbook's tie
    winner_heatmap   d_in x d_out grid: the recommended strategy in each cell (its colour), with
                     its speedup, or "tie"
    report_figures   every figure for a report, named for files and headings; with them the
                     one-off cost figure of :mod:`adbench.render.costs`

Shared pieces (Agg figures, axes, colours, PNG bytes) are in :mod:`adbench.render.axes`. Over
400 lines on purpose: three figures that share their helpers and the one function that picks
them per family; the cost figures live in :mod:`adbench.render.costs`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from adbench.analysis import decision
from adbench.analysis.axis import AXIS_RATIO, AXIS_SQUARE
from adbench.render.axes import (
    AXIS_LABELS,
    FAILED,
    NamedFigure,
    Row,
    axis_and_x,
    figure,
    fixed_note,
    log_x,
    marker,
    num,
    png_bytes,
    ratio_axis,
    seconds_axis,
    select,
    size_axis,
    slug,
    strategies_in,
    x_on,
)
from adbench.render.costs import at_one_size, compile_vs_run, sizes_measured
from adbench.render.views import Report, colour
from adbench.store import schema

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "NamedFigure",
    "fwd_rev_ratio",
    "is_grid",
    "png_bytes",
    "report_figures",
    "slug",
    "time_vs_size",
    "winner_heatmap",
]


def time_vs_size(
    results: pd.DataFrame,
    ranking: pd.DataFrame,
    family: str,
    device: str,
    crossover: Row | None = None,
    *,
    margin: float = 0.1,
    host: str = "",
) -> Figure:
    """Run time of every strategy against size (top) and its time relative to the fastest
    (bottom).

    Top: median seconds per call, log-log, the bootstrap 95% CI of each median as a band; on a
    d_in x d_out grid, one line per strategy and d_in against d_out. Bottom: t(strategy) /
    t(fastest) from the ranking with its 95% CI, the tie margin shaded above 1. The measured
    jacfwd/jacrev tie and the textbook's tie are marked from ``crossover`` (that family's row of
    the crossover table). Strategies that did not measure cleanly are marked with a red x on
    the lower edge, labelled with why.

    results, ranking: tables with schema.RESULT_COLUMNS and RANKING_COLUMNS.
    """
    df = select(results, family, device, host)
    axis, xs = axis_and_x(df)
    df = df.assign(_x=xs.to_numpy())
    grid = axis == AXIS_RATIO and df["d_in"].nunique() > 1 and df["d_out"].nunique() > 1
    fig = figure(7.5, 6.4)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 2], sharex=not grid)
    log_x(top, df["d_out"] if grid else df["_x"])
    names = strategies_in(df)
    if grid:
        top_x = "d_out"
        d_ins = sorted(df["d_in"].unique())
        for name in names:
            for k, d_in in enumerate(d_ins):
                shade = 1.0 - 0.55 * k / max(1, len(d_ins) - 1)
                sel = df[df["d_in"] == d_in].assign(_x=df["d_out"].astype(float))
                _time_line(top, sel, name, f"{name}, d_in = {d_in}", alpha=shade)
    else:
        top_x = "_x"
        for name in names:
            _time_line(top, df, name, f"{name} median (95% CI band)")
    _mark_failures(top, df.assign(_x=df[top_x].astype(float)) if grid else df)
    top.set_yscale("log")
    seconds_axis(top)
    size_axis(top)
    top.set_ylabel("run time per call")
    top.set_xlabel("d_out (outputs)" if grid else "")
    top.set_title(f"{family} on {device}: run time{fixed_note(axis, df)}", loc="left")
    top.grid(True, which="major", alpha=0.3)
    _relative_panel(bottom, select(ranking, family, device, host), axis, names, margin, own_x=grid)
    if not grid:
        _mark_ties(top, crossover, df["_x"], legend=False)
        _mark_ties(bottom, crossover, df["_x"], legend=True)
    if top.get_legend_handles_labels()[0]:
        top.legend(fontsize=8, loc="best", ncols=2 if grid or len(names) > 3 else 1)
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(fontsize=8, loc="best")
    return fig


def _time_line(ax: Axes, df: pd.DataFrame, name: str, label: str, alpha: float = 1.0) -> None:
    m = df[(df["strategy"] == name) & (df["status"] == schema.STATUS_OK)].sort_values("_x")
    if m.empty:
        return
    x, y = m["_x"].to_numpy(float), m["median_s"].to_numpy(float)
    lo, hi = m["ci_low_s"].to_numpy(float), m["ci_high_s"].to_numpy(float)
    c = colour(name)
    ax.plot(x, y, color=c, marker=marker(name), alpha=alpha, label=label)
    ax.fill_between(x, lo, hi, color=c, alpha=0.2 * alpha, lw=0)


def _mark_failures(ax: Axes, df: pd.DataFrame) -> None:
    from matplotlib.transforms import blended_transform_factory

    bad = df[df["status"] != schema.STATUS_OK].sort_values("_x")
    edge = blended_transform_factory(ax.transData, ax.transAxes)
    for i, (_, r) in enumerate(bad.iterrows()):
        ax.plot(
            [r["_x"]],
            [0.04],
            marker="x",
            color=FAILED,
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
            color=FAILED,
            ha="right",
        )


def _relative_panel(
    ax: Axes, rank: pd.DataFrame, axis: str, names: list[str], margin: float, *, own_x: bool
) -> None:
    rank = rank[rank["rel_time"].notna()]
    rank = rank.assign(_x=x_on(axis, rank).to_numpy(float))
    if own_x:  # a grid's bottom panel does not share the top's x axis
        log_x(ax, rank["_x"])
    if not rank.empty:
        ls = "none" if axis == AXIS_RATIO else "-"
        for name in names:
            m = rank[rank["strategy"] == name].sort_values("_x")
            if m.empty:
                continue
            x, r = m["_x"].to_numpy(float), m["rel_time"].to_numpy(float)
            lo, hi = m["rel_ci_low"].to_numpy(float), m["rel_ci_high"].to_numpy(float)
            yerr = np.vstack([np.clip(r - lo, 0, None), np.clip(hi - r, 0, None)])
            ax.errorbar(
                x,
                r,
                yerr=yerr,
                color=colour(name),
                marker=marker(name),
                ms=4,
                ls=ls,
                lw=1,
                capsize=3,
            )
        ax.axhspan(1.0, 1 + margin, color="0.85", lw=0, label=f"tie margin +{margin:.0%}")
    ax.axhline(1.0, color="0.3", lw=0.8)
    ratio_axis(ax)
    ax.set_ylim(0.9, max(ax.get_ylim()[1], 2.0))
    size_axis(ax)
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel("t / t(fastest), 95% CI")
    ax.grid(True, which="major", alpha=0.3)


def _mark_ties(ax: Axes, crossover: Row | None, xs: pd.Series, *, legend: bool) -> None:
    if crossover is None or xs.empty:
        return
    lo_x, hi_x = float(xs.min()), float(xs.max())
    if legend and str(crossover.get("axis")) == AXIS_SQUARE:  # no textbook tie to draw
        ax.plot([], [], ls="none", label="textbook: either mode (d_in = d_out at every n)")
    book = num(crossover, "textbook")
    if lo_x / 3 <= book <= hi_x * 3:
        ax.axvline(
            book,
            color="0.45",
            ls=":",
            lw=1.5,
            label="textbook tie (d_in = d_out)" if legend else None,
        )
    tie = num(crossover, "crossover")
    if math.isnan(tie):
        return
    low, high = num(crossover, "crossover_low"), num(crossover, "crossover_high")
    label = f"measured jacfwd/jacrev tie ≈ {tie:.3g}"
    if not math.isnan(low):
        conf = num(crossover, "confidence")
        label += f" ({conf if not math.isnan(conf) else 0.95:.0%} CI {low:.3g}–{high:.3g})"
        ax.axvspan(max(low, lo_x / 10), min(high, hi_x * 10), color="#fdb863", alpha=0.4, lw=0)
    ax.axvline(tie, color="#e66101", ls="--", lw=1.5, label=label if legend else None)
    ax.set_xlim(lo_x / 1.5, hi_x * 1.5)


def fwd_rev_ratio(
    verdicts: pd.DataFrame,
    family: str,
    device: str,
    crossover: Row | None = None,
    *,
    host: str = "",
) -> Figure:
    """t(jacfwd) / t(jacrev) against the family's axis with its 95% CI (from the verdicts'
    ``fwd_rev*`` columns), the tie margin shaded, the measured tie and the textbook's marked."""
    v = select(verdicts, family, device, host)
    v = v[v["fwd_rev_ratio"].notna()]
    fig = figure(7.5, 3.6)
    ax = fig.add_subplot()
    axis, xs = axis_and_x(v) if not v.empty else (AXIS_RATIO, pd.Series(dtype=float))
    log_x(ax, xs)
    if not v.empty:
        v = v.assign(_x=xs.to_numpy(float)).sort_values("_x")
        x, r = v["_x"].to_numpy(float), v["fwd_rev_ratio"].to_numpy(float)
        lo, hi = v["fwd_rev_ci_low"].to_numpy(float), v["fwd_rev_ci_high"].to_numpy(float)
        yerr = np.vstack([np.clip(r - lo, 0, None), np.clip(hi - r, 0, None)])
        ax.errorbar(
            x,
            r,
            yerr=yerr,
            color="0.15",
            marker="D",
            ms=4,
            ls="none" if axis == AXIS_RATIO else "-",
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
    ratio_axis(ax)
    size_axis(ax)
    ax.set_xlabel(AXIS_LABELS[axis])
    ax.set_ylabel("t(jacfwd) / t(jacrev)")
    ax.set_title(f"{family} on {device}: jacfwd against jacrev", loc="left")
    for y, name, va in ((0.98, "jacrev", "top"), (0.02, "jacfwd", "bottom")):
        ax.text(
            1.01,
            y,
            f"{name}\nfaster",
            transform=ax.transAxes,
            va=va,
            fontsize=8,
            color=colour(name),
        )
    ax.grid(True, which="major", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    return fig


def is_grid(verdicts: pd.DataFrame, family: str, device: str, host: str = "") -> bool:
    """True when the family's cases on the device vary both d_in and d_out (>= 2 values each)
    and not only along the diagonal (a square family is a line along n, not a grid)."""
    v = select(verdicts, family, device, host)
    both = v["d_in"].nunique() >= 2 and v["d_out"].nunique() >= 2
    return bool(both and (v["d_in"] != v["d_out"]).any())


def winner_heatmap(verdicts: pd.DataFrame, family: str, device: str, *, host: str = "") -> Figure:
    """d_in (rows) x d_out (columns): each cell in the colour of its recommended strategy, with
    the strategy and its speedup written in; a tie is pale and says "tie" and how many strategies
    it holds; a dashed outline marks a jacfwd/jacrev verdict against the textbook.

    verdicts: the verdict table (schema.VERDICT_COLUMNS).
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch, Rectangle

    v = select(verdicts, family, device, host)
    d_ins = sorted(int(d) for d in v["d_in"].unique())
    d_outs = sorted(int(d) for d in v["d_out"].unique())
    image = np.ones((len(d_ins), len(d_outs), 4)) * np.array([0.85, 0.85, 0.85, 1.0])
    fig = figure(1.6 + 1.3 * len(d_outs) + 1.6, 1.4 + 0.75 * len(d_ins) + 0.4)
    ax = fig.add_subplot()
    seen: dict[str, str] = {}
    texts = []
    for _, r in v.iterrows():
        i, j = d_ins.index(int(r["d_in"])), d_outs.index(int(r["d_out"]))
        rec = str(r.get("recommended", "n/a"))
        tied = [s for s in str(r.get("tie_set") or "").split("|") if s and s != "nan"]
        speed = num(r, "speedup")
        one = decision.names_one(rec)
        if rec == decision.TIE:
            image[i, j] = to_rgba(colour(decision.TIE), 0.25)
            text = f"tie\n({len(tied)})" if tied else "tie"
        elif rec == decision.UNDECIDED:  # too few rounds: grey, named, never a strategy's colour
            image[i, j] = to_rgba(colour(decision.UNDECIDED), 0.25)
            text = rec
        elif not one:
            text = rec
        else:
            image[i, j] = to_rgba(colour(rec), 0.85)
            text = rec if math.isnan(speed) else f"{rec}\n{speed:.3g}×"
        keep = rec in (decision.TIE, decision.UNDECIDED) or one
        seen.setdefault(rec if keep else decision.NONE, rec)
        texts.append((i, j, text, one))
        if str(r.get("agrees_with_textbook", "")) == "no":
            ax.add_patch(
                Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, ls="--", lw=1.5, ec="black")
            )
    ax.imshow(image, aspect="auto")
    for i, j, text, strong in texts:
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold" if strong else "normal",
            color="white" if strong else "black",
        )
    ax.set_xticks(range(len(d_outs)), [str(d) for d in d_outs])
    ax.set_yticks(range(len(d_ins)), [str(d) for d in d_ins])
    ax.set_xlabel("d_out (outputs)")
    ax.set_ylabel("d_in (inputs)")
    ax.set_title(f"{family} on {device}: recommended strategy and speedup", loc="left")
    handles = [Patch(color=colour(k), label=k) for k in seen]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


ONE_SIZE = (
    "each strategy's run time and one-off cost at the one size measured (plots against size, "
    "the fwd/rev ratio and break-even need two sizes or more)"
)


def report_figures(rep: Report) -> list[NamedFigure]:
    """Every figure for a report, per family, host and device, in the order run. A family
    measured at one size gets one small figure instead (costs.at_one_size): against size it
    would be one dot per strategy, and the caption says so."""
    res = rep.res
    out: list[NamedFigure] = []
    cross = {(str(r["family"]), str(r["host"]), str(r["device"])): r for r in _records(rep)}
    many = res.results["host"].fillna("").nunique() > 1
    # each table split by (family, host, device) once: the figures of thousands of families
    # never search the whole tables for each one
    results, ranking, verdicts = (_groups(t) for t in (res.results, rep.ranking, rep.verdicts))
    for (family, host, device), rows in results.items():
        if (rows["status"] == schema.STATUS_OK).sum() == 0:
            continue
        key = (family, host, device)
        rank = ranking.get(key, rep.ranking.iloc[:0])
        verdict = verdicts.get(key, rep.verdicts.iloc[:0])
        row = cross.get(key)
        where = (family, host, device) if many and host else (family, device)
        if sizes_measured(rows) == 1:  # against size: one dot per strategy, saying nothing
            figs = [("time", ONE_SIZE, at_one_size(rows, family, device, host=host))]
        else:
            figs = _against_size(rep, rows, rank, verdict, row, family, device, host)
        label = "/".join(where[1:])
        for kind, caption, fig in figs:
            out.append(
                NamedFigure(
                    slug(*where, kind), f"{family} on {label}: {caption}", family, device, fig
                )
            )
    return out


Figs = list[tuple[str, str, "Figure"]]


def _against_size(
    rep: Report,
    rows: pd.DataFrame,
    rank: pd.DataFrame,
    verdict: pd.DataFrame,
    row: Row | None,
    family: str,
    device: str,
    host: str,
) -> Figs:
    """(kind, caption, figure) of a family measured at two sizes or more."""
    figs = [
        (
            "time",
            "run time of every strategy against size, and relative to the fastest",
            time_vs_size(rows, rank, family, device, row, margin=rep.margin, host=host),
        )
    ]
    if row is not None and verdict["fwd_rev_ratio"].notna().any():
        figs.append(
            (
                "fwd-rev",
                "jacfwd against jacrev, the crossover and the textbook's tie",
                fwd_rev_ratio(verdict, family, device, row, host=host),
            )
        )
    if is_grid(verdict, family, device, host):
        figs.append(
            (
                "heatmap",
                "which strategy wins across the d_in × d_out grid",
                winner_heatmap(verdict, family, device, host=host),
            )
        )
    figs.append(
        (
            "compile",
            "one-off cost against run time, and break-even calls",
            compile_vs_run(rows, verdict, family, device, host=host),
        )
    )
    return figs


def _groups(df: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """A table's rows per (family, host, device), host "" when missing, in the order run."""
    keys = [df["family"].astype(str), df["host"].fillna("").astype(str), df["device"].astype(str)]
    return {
        (str(f), str(h), str(d)): group
        for (f, h, d), group in df.groupby(keys, sort=False, dropna=False)
    }


def _records(rep: Report) -> list[dict[str, Any]]:
    cross = rep.crossovers
    return cross.assign(host=cross["host"].fillna("")).to_dict("records")  # type: ignore[return-value]
