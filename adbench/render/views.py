"""Stored results -> the rows people read, once for every format (terminal, Markdown, HTML).

A :class:`View` is a table of display strings with what each column is (its priority when the
terminal is narrow, whether it is text) and, per row, the family it belongs to and the name that
colours its winner cell. The terminal, Markdown and HTML renderers only lay views out; what a
cell says is decided here, so the formats cannot drift apart.

Everything shown is stored data or computed from it: the verdicts, the ranking and the
crossovers recomputed from the stored results and samples
(:func:`adbench.analysis.verdict.judge`, :func:`adbench.analysis.crossover.crossovers_for`: pure
and deterministic, so they equal the ``verdicts.csv``, ``ranking.csv`` and ``crossover.csv`` the
run wrote, and a directory written before verdicts needed their evidence
(adbench.analysis.decision.MIN_ROUNDS) is shown by today's rule, ``undecided`` included); a
version-1 directory keeps its own verdicts, as migrated.

Longer than ~400 lines for now: every output format reads the same labelled rows, built here
beside the labels they use; the row builders (``_verdict_rows``, ``_ranking_rows``,
``_assemble``) are the piece that would move out first, into ``render/rows.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from adbench import fmt
from adbench.analysis import decision
from adbench.analysis.decision import AXIS_SQUARE
from adbench.render.show import by_size
from adbench.store import schema
from adbench.store.results import Results

# One colour per strategy, the same in the terminal, HTML and plots; distinct within a task.
COLOURS = {
    "jacfwd": "#1b7837",
    "jacrev": "#2166ac",
    "jacfwd_chunked": "#5aae61",
    "jacrev_chunked": "#4393c3",
    "linearize": "#762a83",
    "sparse": "#e08214",
    "fwd_over_rev": "#1b7837",
    "rev_over_fwd": "#d6604d",
    "rev_over_rev": "#2166ac",
    "fwd_over_fwd": "#5aae61",
    "hessian_trace": "#762a83",
    "fwd_fwd": "#1b7837",
    "taylor": "#8c510a",
    "hvp": "#2166ac",
    "tie": "#8c6d00",
    "undecided": "#7f7f7f",
    "none": "#b2182b",
    "n/a": "#b2182b",
}
OTHER_COLOUR = "#555555"


def colour(name: str) -> str:
    """The colour of a strategy, of 'tie', 'undecided' or of 'none' / 'n/a' (hex)."""
    return COLOURS.get(name, OTHER_COLOUR)


@dataclass(frozen=True)
class Column:
    """name: the header; text: left-aligned words (else right-aligned numbers); priority: 0
    always shown, higher dropped first from a narrow terminal; winner: the cell coloured by the
    row's winner; prose: sentences that may wrap (every other cell keeps its lines whole); once:
    the terminal shows the value only where it changes from the row above (family, case); note:
    a terminal too narrow for the column prints it below the table instead, one paragraph per
    row, rather than leaving it out."""

    name: str
    text: bool = False
    priority: int = 0
    winner: bool = False
    prose: bool = False
    once: bool = False
    note: bool = False


@dataclass(frozen=True)
class View:
    """A table of display strings. rows[i][j] is column j of row i; groups[i] the family row i
    belongs to (a rule between families in the terminal); winners[i] the name whose colour the
    winner cell of row i takes."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    groups: tuple[str, ...]
    winners: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.names, r, strict=True)) for r in self.rows]


@dataclass(frozen=True, eq=False)
class Report:
    """What every format shows about one results directory (tables: schema columns)."""

    res: Results
    verdicts: pd.DataFrame
    ranking: pd.DataFrame
    crossovers: pd.DataFrame
    margin: float

    @property
    def name(self) -> str:
        return str((self.res.meta.get("config") or {}).get("name") or self.res.path.name)


def margin_of(res: Results) -> float:
    """The tie margin the verdicts were judged with (0.1 when none is stored)."""
    v = res.verdicts
    m = v["margin"].dropna() if "margin" in v else pd.Series([], dtype=float)
    if len(m):
        return float(m.iloc[0])
    return float((res.meta.get("settings") or {}).get("tie_margin", 0.1))


def build(res: Results) -> Report:
    """The report of a loaded results directory: its verdicts, ranking and crossovers."""
    from adbench.analysis.crossover import crossovers_for
    from adbench.analysis.verdict import judge

    margin = margin_of(res)
    judged = judge(res.results, res.samples, margin=margin)
    cross = crossovers_for(res.results, res.samples, margin=margin)
    v1 = res.meta.get("schema_version") == 1
    return Report(res, res.verdicts if v1 else judged.verdicts, judged.ranking, cross, margin)


# --------------------------------------------------------------------------- helpers


def _text(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _by_size(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by family (as first measured), then d_in, d_out, batch, as ``adbench show`` orders
    them (adbench.render.show.by_size): a size search measures 10, 10000, 316, ... and a table in
    that order hides the trend. A frame without the size columns keeps its order."""
    if not {"family", "d_in", "d_out", "batch"} <= set(df.columns):
        return df
    return by_size(df)


def _rows_of(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict("records")  # type: ignore[return-value]


def _int(v: Any) -> int:
    return int(float(v))


def size_label(row: Mapping[str, Any]) -> str:
    """'100 → 30', with the batch when there is one: '8 → 1 ×256'."""
    label = f"{_int(row['d_in'])} → {_int(row['d_out'])}"
    batch = fmt.number(row.get("batch"))
    return label if batch is None or batch == 1 else f"{label} ×{int(batch)}"


def _hosts(df: pd.DataFrame) -> int:
    return df["host"].fillna("").nunique() if "host" in df and len(df) else 0


def where_label(row: Mapping[str, Any], many_hosts: bool) -> str:
    """The device, prefixed by its host when the run spans several machines."""
    host = _text(row.get("host"))
    return f"{host}/{row['device']}" if many_hosts and host else str(row["device"])


def recommended_label(v: Mapping[str, Any]) -> str:
    """The recommendation as shown: a strategy, 'none', 'undecided' (too few paired rounds:
    the reason says how many) or 'tie: a, b' (every tied name)."""
    rec = _text(v.get("recommended")) or decision.NA
    tied = [s for s in _text(v.get("tie_set")).split("|") if s]
    return f"tie: {', '.join(tied)}" if rec == decision.TIE and tied else rec


def speedup_label(v: Mapping[str, Any]) -> str:
    """The recommended strategy's speed over the runner-up with its interval; nothing for a tie
    (a tie is not a win, whatever its point estimate says) or when only one strategy ran."""
    rec = _text(v.get("recommended"))
    ratio = fmt.number(v.get("ratio"))
    if not decision.names_one(rec) or ratio is None or ratio <= 0:
        only = fmt.number(v.get("n_ran")) == 1 and decision.names_one(rec)
        return "only one ran" if only else "-"
    low, high = fmt.number(v.get("ratio_ci_low")), fmt.number(v.get("ratio_ci_high"))
    if low is None or high is None or low <= 0 or high <= 0:
        return fmt.factor(1 / ratio)
    return f"{fmt.factor(1 / ratio)} [{fmt.num(1 / high)}, {fmt.num(1 / low)}]"


def _any(rows: Sequence[Sequence[str]], j: int, empty: tuple[str, ...] = ("-", "")) -> bool:
    return any(r[j] not in empty for r in rows)


def _view(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    groups: Sequence[str],
    winners: Sequence[str],
    optional: Sequence[str] = (),
) -> View:
    """A View without the ``optional`` columns that are empty in every row."""
    keep = [j for j, c in enumerate(columns) if c.name not in optional or _any(rows, j)]
    return View(
        title,
        tuple(columns[j] for j in keep),
        tuple(tuple(r[j] for j in keep) for r in rows),
        tuple(groups),
        tuple(winners),
    )


# --------------------------------------------------------------------------- views

VERDICT_COLUMNS = (
    Column("family", text=True, once=True),
    Column("d_in → d_out"),
    Column("device", text=True, priority=7),
    Column("recommended", text=True, winner=True),
    Column("speedup [95% CI]", priority=1),
    Column("runner-up", text=True, priority=3),
    Column("best time", priority=2),
    Column("break-even", priority=4),
    Column("fastest unfit", text=True, priority=4),
    Column("fwd/rev", text=True, priority=5),
    Column("fwd/rev time [95% CI]", priority=5),
    Column("fwd/rev flops", priority=8),
    Column("textbook", text=True, priority=6),
)


Key = tuple[str, str]  # (family, device)


@dataclass(frozen=True)
class _Row:
    """One table row with the (family, device) it belongs to, the colour of its winner cell."""

    key: Key
    cells: tuple[str, ...]
    winner: str


def _assemble(
    title: str, columns: Sequence[Column], rows: Sequence[_Row], optional: Sequence[str] = ()
) -> View:
    return _view(
        title,
        columns,
        [r.cells for r in rows],
        [r.key[0] for r in rows],
        [r.winner for r in rows],
        optional,
    )


def _pick(rows: Sequence[_Row], family: str | None, device: str | None) -> list[_Row]:
    return [
        r
        for r in rows
        if (family is None or r.key[0] == family) and (device is None or r.key[1] == device)
    ]


def _by_key(rows: Sequence[_Row]) -> dict[Key, list[_Row]]:
    """Rows grouped by (family, device) in one pass, in the order they come."""
    out: dict[Key, list[_Row]] = {}
    for r in rows:
        out.setdefault(r.key, []).append(r)
    return out


def _key(rec: Mapping[str, Any]) -> Key:
    return (str(rec["family"]), str(rec["device"]))


VERDICT_OPTIONAL = ("fastest unfit", "fwd/rev", "fwd/rev time [95% CI]", "fwd/rev flops")


def verdict_view(rep: Report, *, family: str | None = None, device: str | None = None) -> View:
    """One row per case x host x device; a family (and device) alone when given."""
    rows = _pick(_verdict_rows(rep), family, device)
    return _assemble(f"adbench verdicts: {rep.name}", VERDICT_COLUMNS, rows, VERDICT_OPTIONAL)


def verdict_views(rep: Report) -> dict[Key, View]:
    """verdict_view of every (family, device), from one pass over the verdicts: a report of
    thousands of families stays linear in their number."""
    title = f"adbench verdicts: {rep.name}"
    return {
        k: _assemble(title, VERDICT_COLUMNS, rows, VERDICT_OPTIONAL)
        for k, rows in _by_key(_verdict_rows(rep)).items()
    }


def _verdict_rows(rep: Report) -> list[_Row]:
    v = rep.verdicts
    many = _hosts(v) > 1
    out = []
    for rec in _rows_of(_by_size(v)):
        fwd_rev = _text(rec.get("fwd_rev"))
        cells = (
            str(rec["family"]),
            size_label(rec),
            where_label(rec, many),
            recommended_label(rec),
            speedup_label(rec),
            _text(rec.get("runner_up")) or "-",
            fmt.seconds(rec.get("best_s")),
            fmt.calls(rec.get("break_even_calls")),
            _text(rec.get("fastest_unfit")) or "-",
            fwd_rev if fwd_rev and fwd_rev != _text(rec.get("recommended")) else "-",
            fmt.interval(
                rec.get("fwd_rev_ratio"), rec.get("fwd_rev_ci_low"), rec.get("fwd_rev_ci_high")
            ),
            fmt.num(rec.get("flop_ratio")),
            _text(rec.get("textbook")) or "-",
        )
        out.append(_Row(_key(rec), cells, _text(rec.get("recommended")) or "n/a"))
    return out


RANKING_COLUMNS = (
    Column("family", text=True, once=True),
    Column("d_in → d_out", once=True),
    Column("device", text=True, priority=5, once=True),
    Column("strategy", text=True, winner=True),
    Column("rank"),
    Column("× fastest [95% CI]", priority=1),
    Column("median", priority=2),
    Column("one-off", priority=3),
    Column("why", text=True, priority=4, prose=True),
)


def _relative(rec: Mapping[str, Any]) -> str:
    """'1' for the fastest itself, else 't / t(fastest) [low, high]'."""
    vals = [fmt.number(rec.get(k)) for k in ("rel_time", "rel_ci_low", "rel_ci_high")]
    if vals == [1.0, 1.0, 1.0]:
        return "1"
    return fmt.interval(*vals)


def ranking_view(rep: Report, *, family: str | None = None, device: str | None = None) -> View:
    """One row per case x strategy x host x device: time relative to the fastest, rank, why."""
    rows = _pick(_ranking_rows(rep), family, device)
    return _assemble(f"ranking: {rep.name}", RANKING_COLUMNS, rows)


def ranking_views(rep: Report) -> dict[Key, View]:
    """ranking_view of every (family, device), from one pass over the ranking."""
    title = f"ranking: {rep.name}"
    return {
        k: _assemble(title, RANKING_COLUMNS, rows)
        for k, rows in _by_key(_ranking_rows(rep)).items()
    }


def _ranking_rows(rep: Report) -> list[_Row]:
    r = rep.ranking
    many = _hosts(r) > 1
    out = []
    for rec in _rows_of(_by_size(r)):
        ok = rec.get("status") == schema.STATUS_OK
        rank = fmt.number(rec.get("rank"))
        cells = (
            str(rec["family"]),
            size_label(rec),
            where_label(rec, many),
            str(rec["strategy"]),
            "-" if rank is None else str(int(rank)),
            _relative(rec) if ok else "-",
            fmt.seconds(rec.get("median_s")),
            fmt.seconds(rec.get("once_s")),
            _text(rec.get("reason")),
        )
        out.append(_Row(_key(rec), cells, str(rec["strategy"]) if rank == 1 else ""))
    return out


CROSSOVER_COLUMNS = (
    Column("family", text=True, once=True),
    Column("device", text=True, priority=5),
    Column("axis", text=True, priority=3),
    Column("range", priority=4),
    Column("outcome", text=True, winner=True),
    Column("tie [95% CI]"),
    Column("textbook tie", priority=2),
    Column("far from textbook", text=True, priority=1),
    Column("reason", text=True, priority=6, prose=True, note=True),
)


def _tie(c: Mapping[str, Any]) -> str:
    if fmt.number(c.get("crossover")) is None:
        return "-"
    tie = fmt.size(c["crossover"])
    if fmt.number(c.get("crossover_low")) is None:
        return tie
    return f"{tie} [{fmt.size(c['crossover_low'])}, {fmt.size(c['crossover_high'])}]"


def crossover_view(rep: Report, crossovers: pd.DataFrame | None = None) -> View:
    """One row per Jacobian family x host x device: where jacfwd and jacrev tie."""
    cross = rep.crossovers if crossovers is None else crossovers
    many = _hosts(cross) > 1
    rows, groups, winners = [], [], []
    for c in _rows_of(cross):
        fixed = "" if fmt.number(c.get("fixed")) is None else f" ({fmt.size(c['fixed'])} fixed)"
        measured = fmt.number(c.get("axis_min")) is not None
        square = c["axis"] == AXIS_SQUARE  # along n; the textbook says "either" everywhere
        rows.append(
            (
                str(c["family"]),
                where_label(c, many),
                "n (d_in = d_out)" if square else f"{c['axis']}{fixed}",
                f"{fmt.size(c['axis_min'])}–{fmt.size(c['axis_max'])}" if measured else "-",
                str(c["outcome"]),
                _tie(c),
                "-" if not measured else "either" if square else fmt.size(c.get("textbook")),
                _text(c.get("far_from_textbook")) or "n/a",
                _text(c.get("reason")),
            )
        )
        groups.append(str(c["family"]))
        winners.append(str(c["outcome"]))
    return _view("where jacfwd and jacrev tie", CROSSOVER_COLUMNS, rows, groups, winners)


def failures(res: Results) -> list[str]:
    """One line per strategy that did not measure cleanly: 'case strategy on device: status:
    reason'. A strategy skipped on purpose (a chunked twin whose chunk holds the whole basis)
    is no failure."""
    bad = res.results[~res.results["status"].isin((schema.STATUS_OK, schema.STATUS_SKIPPED))]
    return [
        f"{r['case_id']} {r['strategy']} on {r['device']}: {r['status']}: {_text(r['reason'])}"
        for _, r in bad.iterrows()
    ]


def many_strategies(rep: Report) -> bool:
    """True when some case ran more than two strategies: then the ranking says more than the
    verdict and the classic two-mode view do."""
    counts = rep.ranking.groupby(list(schema.CASE_GROUP), dropna=False)["strategy"].count()
    return bool(len(counts) and counts.max() > 2)


def summary_counts(rep: Report) -> dict[str, int]:
    """How many cases recommend each strategy, a tie, or nothing, in order of first appearance."""
    out: dict[str, int] = {}
    for rec in rep.verdicts["recommended"].fillna("n/a"):
        out[str(rec)] = out.get(str(rec), 0) + 1
    return out


def footnote(rep: Report) -> str:
    return (
        "The recommended strategy is the fastest when its paired per-round time ratio to every "
        f"other strategy that ran has a 95% interval beyond the ±{rep.margin:.0%} margin; "
        "otherwise a tie, naming the strategies the evidence cannot separate; undecided when "
        f"fewer than {decision.MIN_ROUNDS} paired rounds were timed (too few to decide either). "
        "fwd/rev = time(jacfwd) / time(jacrev) over paired rounds."
    )
