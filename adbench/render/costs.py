"""One-off cost against run time: how many calls before the recommended strategy pays off.

    compile_vs_run   every strategy's one-off cost (lower + compile + setup) and run time per
                     call against size, and the break-even calls of the recommended strategy
    at_one_size      a family measured at one size: each strategy's run time per call (with its
                     95% CI) and one-off cost as bars, small; there is no size axis to draw

A Figure is returned, never shown or saved (:mod:`adbench.render.axes` for the shared pieces).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from adbench.analysis.axis import AXIS_RATIO
from adbench.render.axes import (
    AXIS_LABELS,
    axis_and_x,
    figure,
    log_x,
    marker,
    seconds_axis,
    select,
    size_axis,
    strategies_in,
)
from adbench.render.views import colour
from adbench.store import schema

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def compile_vs_run(
    results: pd.DataFrame, verdicts: pd.DataFrame, family: str, device: str, *, host: str = ""
) -> Figure:
    """One-off cost against run time per call for every strategy, and the break-even calls.

    Left: lower + compile + setup seconds (dashed, open markers) and run seconds per call
    (solid) against size. Right: calls after which the recommended strategy has repaid a longer
    one-off cost than its runner-up's (verdicts' ``break_even_calls``); 'from the 1st call' when
    its one-off cost is lower too.
    """
    df = select(results, family, device, host)
    df = df[df["status"] == schema.STATUS_OK]
    axis, xs = axis_and_x(df)
    once = df["lower_s"].fillna(0) + df["compile_s"] + df["setup_s"].fillna(0)
    df = df.assign(_x=xs.to_numpy(), _once=once)
    fig = figure(10.0, 4.0)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2], sharex=True)
    log_x(left, df["_x"])
    line = "-" if axis != AXIS_RATIO else "none"
    for name in strategies_in(df):
        m = df[df["strategy"] == name].sort_values("_x")
        style = {"color": colour(name), "marker": marker(name)}
        left.plot(
            m["_x"],
            m["_once"],
            ls="--" if line == "-" else "none",
            mfc="white",
            label=f"{name} one-off",
            **style,
        )
        left.plot(m["_x"], m["median_s"], ls=line, label=f"{name} run (per call)", **style)
    for a in (left, right):
        size_axis(a)
        a.set_xlabel(AXIS_LABELS[axis])
        a.grid(True, which="major", alpha=0.3)
    left.set_yscale("log")
    seconds_axis(left)
    left.set_ylabel("seconds")
    left.set_title(f"{family} on {device}: one-off vs per-call cost", loc="left")
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    _break_even_panel(right, select(verdicts, family, device, host), axis)
    return fig


def _break_even_panel(ax: Axes, v: pd.DataFrame, axis: str) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    _, xs = axis_and_x(v) if not v.empty else (axis, pd.Series(dtype=float))
    v = v.assign(_x=xs.to_numpy())
    ax.set_yscale("log")
    ax.set_title("break-even: calls to repay a longer one-off cost", loc="left", fontsize=10)
    ax.set_ylabel("break-even calls")
    top = 10.0
    never = []
    decided = v[v["break_even_calls"].notna()]
    for name in strategies_in(decided.rename(columns={"recommended": "strategy"})):
        m = decided[decided["recommended"] == name]
        calls = m["break_even_calls"].to_numpy(float).clip(min=1.0)  # 0: from the 1st call
        xs_m = m["_x"].to_numpy(float)
        finite = np.isfinite(calls)
        ax.scatter(
            xs_m[finite],
            calls[finite],
            color=colour(name),
            marker=marker(name),
            zorder=3,
            label=f"{name} recommended",
        )
        if finite.any():
            top = max(top, 3.0 * float(calls[finite].max()))
        never += [(float(x), name) for x in xs_m[~finite]]
    if decided.empty:
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
    for x, name in never:  # never repays its one-off cost: marked on the top edge
        ax.plot([x], [0.97], marker="^", color=colour(name), transform=edge, ls="none")
        ax.annotate(
            "never",
            (x, 0.97),
            xycoords=edge,
            xytext=(5, -4),
            textcoords="offset points",
            fontsize=8,
            color=colour(name),
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


def sizes_measured(results: pd.DataFrame) -> int:
    """How many distinct sizes (d_in, d_out, batch) of `results` have a strategy measured ok."""
    ok = results[results["status"] == schema.STATUS_OK]
    return len(ok[["d_in", "d_out", "batch"]].drop_duplicates())


def at_one_size(results: pd.DataFrame, family: str, device: str, *, host: str = "") -> Figure:
    """A family measured at a single size, where a plot against size would be one dot per
    strategy: each strategy's median seconds per call with its bootstrap 95% CI (left) and its
    one-off seconds, lower + compile + setup (right), as horizontal bars on log axes, fastest
    first; half the size of the other figures."""
    df = select(results, family, device, host)
    df = df[df["status"] == schema.STATUS_OK].sort_values("median_s", kind="stable")
    once = df["lower_s"].fillna(0) + df["compile_s"].fillna(0) + df["setup_s"].fillna(0)
    names = [str(n) for n in df["strategy"]]
    ys = np.arange(len(names))[::-1]
    colours = [colour(n) for n in names]
    fig = figure(7.0, 0.9 + 0.32 * len(names))
    run, one = fig.subplots(1, 2, sharey=True)
    err = np.vstack(
        [
            (df["median_s"] - df["ci_low_s"]).clip(lower=0).fillna(0).to_numpy(float),
            (df["ci_high_s"] - df["median_s"]).clip(lower=0).fillna(0).to_numpy(float),
        ]
    )
    run.barh(ys, df["median_s"].to_numpy(float), xerr=err, color=colours, capsize=2)
    one.barh(ys, once.to_numpy(float), color=colours, alpha=0.6)
    run.set_yticks(ys, names, fontsize=8)
    for ax, title in (
        (run, "run time per call (95% CI)"),
        (one, "one-off: lower + compile + setup"),
    ):
        ax.set_xscale("log")
        ax.set_title(title, loc="left", fontsize=9)
        ax.grid(True, axis="x", which="major", alpha=0.3)
        ax.xaxis.set_major_formatter(_seconds_ticks())
    first = df.iloc[0] if len(df) else None
    size = "" if first is None else f" at {int(first['d_in'])} → {int(first['d_out'])}"
    fig.suptitle(f"{family} on {device}{size}: one size measured", x=0.01, ha="left", fontsize=10)
    return fig


def _seconds_ticks() -> object:
    from matplotlib.ticker import FuncFormatter

    from adbench.render.axes import tick_seconds

    return FuncFormatter(lambda v, _pos: tick_seconds(v))
