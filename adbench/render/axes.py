"""What every adbench figure shares: an Agg figure, log axes labelled in seconds and sizes, a
colour and marker per strategy, PNG bytes, file-safe names.

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas, never with pyplot, so no
GUI backend is touched and nothing global accumulates. matplotlib is imported on first use, so
importing this module (and ``adbench --help``) stays light.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from adbench import fmt
from adbench.analysis.axis import AXIS_D_IN, AXIS_D_OUT, AXIS_RATIO, AXIS_SQUARE, axis_of, position
from adbench.store import schema

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Row = Mapping[str, Any] | pd.Series  # one row of a table: a dict or a DataFrame row

_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")
MARKERS = {name: _MARKERS[i % len(_MARKERS)] for i, name in enumerate(schema.ALL_STRATEGIES)}
AXIS_LABELS = {
    AXIS_D_OUT: "d_out (outputs)",
    AXIS_D_IN: "d_in (inputs)",
    AXIS_RATIO: "d_in / d_out",
    AXIS_SQUARE: "n (d_in = d_out)",
}
FAILED = "#b2182b"


def marker(strategy: str) -> str:
    return MARKERS.get(strategy, "o")


def figure(width: float = 7.0, height: float = 4.2) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def tick_seconds(v: float) -> str:
    """A time axis tick: 1 s, 20 ms, 5 µs; nothing where a log axis has no value."""
    return fmt.seconds(v, missing="") if v > 0 else ""


def seconds_axis(ax: Axes) -> None:
    """Log y axis labelled in s / ms / µs; minor ticks labelled too when it spans < 1.5 decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10.0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: tick_seconds(v)))
    low, high = ax.get_ylim()
    if low > 0 and math.log10(high / low) < 1.5:
        ax.yaxis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0)))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: tick_seconds(v)))
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def log_x(ax: Axes, xs: Any) -> None:
    """A log x axis, set before anything is drawn. With one distinct size (one case, or every
    case at one x) the limits are that size / 2 to x 2: matplotlib cannot autoscale a lone
    point on a log axis (a zero-width view, then a division by zero when a line spanning the
    axes is added). xs: the x values to be drawn, any shape."""
    import numpy as np

    ax.set_xscale("log")
    values = np.unique(np.asarray(xs, dtype=float))
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 1:
        ax.set_xlim(values[0] / 2, values[0] * 2)


def size_axis(ax: Axes) -> None:
    from matplotlib.ticker import FuncFormatter

    def label(v: float, _pos: object) -> str:
        if v >= 1 and v == round(v):
            return f"{int(v):,}".replace(",", "\u2009")  # thin space groups digits
        return f"{v:g}"

    ax.xaxis.set_major_formatter(FuncFormatter(label))


def ratio_axis(ax: Axes) -> None:
    """Log y axis of plain ratios (0.5, 1, 2), never narrower than 0.5-2: a tie looks like one."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, 0.5), max(high, 2.0))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _p: f"{y:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def axis_and_x(df: pd.DataFrame) -> tuple[str, pd.Series]:
    """The axis a family's sweep varies along (adbench.analysis.axis.axis_of, as the crossover
    places it) and x per row: n on a square family, never d_in / d_out = 1 for every size."""
    axis, _ = axis_of(df["d_in"].tolist(), df["d_out"].tolist())
    return axis, x_on(axis, df)


def x_on(axis: str, df: pd.DataFrame) -> pd.Series:
    """x per row of a table with d_in and d_out columns, on a given axis."""
    return position(axis, df["d_in"].astype(float), df["d_out"].astype(float))


def select(df: pd.DataFrame, family: str, device: str, host: str = "") -> pd.DataFrame:
    """The rows of one family on one device (of one host, when the table has several)."""
    sel = (df["family"] == family) & (df["device"] == device)
    if "host" in df and df["host"].fillna("").nunique() > 1:
        sel &= df["host"].fillna("") == host
    return df[sel]


def fixed_note(axis: str, df: pd.DataFrame) -> str:
    if axis == AXIS_D_OUT:
        return f", d_in = {int(df['d_in'].iloc[0])}"
    if axis == AXIS_D_IN:
        return f", d_out = {int(df['d_out'].iloc[0])}"
    if axis == AXIS_SQUARE:
        return ", d_in = d_out = n"
    return ""


def num(row: Row | None, key: str) -> float:
    if row is None:
        return math.nan
    v = fmt.number(row.get(key, math.nan))
    return math.nan if v is None else v


def strategies_in(df: pd.DataFrame) -> list[str]:
    """The strategies of a table, in the schema's order (so colours and legends are stable)."""
    present = set(df["strategy"].dropna())
    order = [s for s in schema.ALL_STRATEGIES if s in present]
    return order + sorted(present - set(order))


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
