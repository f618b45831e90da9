"""Views -> Rich tables for the terminal, fitted to its width.

A :class:`FitTable` decides its columns when Rich renders it, from the width it is given. No value
is ever cut: a number, an interval, a size or a strategy name is shown whole or not at all. Only
prose columns (reasons) wrap freely, at word boundaries and at most PROSE_MAX cells wide, and
headers break at spaces. When the whole table does not fit, it gets more compact step by step
until it does: headers break, a tie's strategies are listed one per line, the lowest-priority
columns (:class:`adbench.render.views.Column`) are dropped, then the values that remain wrap at
their own break points (spaces, and after ``_`` and ``/`` in names: "jacfwd_" / "chunked",
"200 →" / "2000"), and last of all further columns go, right to left, the winner column last.
A footer line names every column left out, so a narrow terminal never hides one silently. A
dropped column marked ``note`` (the crossover's reason) is printed below the table instead, as
one paragraph per row, so a narrow terminal loses no sentence and never wraps one a character
per line. Colours come from the strategy's colour (or the caller's styles); the CLI's console
drops every style under NO_COLOR and on a non-terminal, and the words alone say it all.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from adbench.render import views

PROSE_MIN = 24  # a reason column narrower than this reads one word per line
PROSE_MAX = 72  # ... and one wider than this is hard to read on a wide terminal or in a log
WRAPPED = 3  # the compactness at which values wrap at their break points (see FitTable)

# A word's unbreakable pieces: a name may break after "_" or "/", a number has neither.
_PIECE = re.compile(r"[^_/]*[_/]+|[^_/]+")


def _width(text: str) -> int:
    return max((cell_len(line) for line in text.split("\n")), default=0)


def _pieces(word: str) -> list[str]:
    return _PIECE.findall(word) or [""]


def unbreakable(text: str) -> int:
    """The widest piece of `text` that wrap() never splits (a number, a name's part)."""
    return max((cell_len(p) for w in text.split() for p in _pieces(w)), default=0)


def wrap(text: str, width: int) -> str:
    """Each line of `text` wrapped to `width` cells at spaces, then after ``_`` or ``/`` inside
    a word; a piece wider than `width` stays whole on its own line (never cut)."""
    out: list[str] = []
    for line in text.split("\n"):
        cur = ""
        for word in line.split(" "):
            for k, piece in enumerate(_pieces(word)):
                glue = " " if k == 0 and cur else ""
                if cur and cell_len(cur + glue + piece) > width:
                    out.append(cur)
                    cur, glue = "", ""
                cur += glue + piece
        out.append(cur)
    return "\n".join(out)


@dataclass(frozen=True)
class Layout:
    """What a FitTable shows at one width: the kept column indices, the compactness (0: headers
    on one line; 1: headers broken at spaces; 2: also a tie's strategies one per line; 3
    (WRAPPED): also values wrapped at their break points to ``widths``), the width each kept
    column gets at compactness 3, and whether it all fits."""

    keep: tuple[int, ...]
    compact: int
    widths: tuple[int, ...] = ()
    fits: bool = True


class FitTable:
    """A view as a Rich table with the columns that fit the width it is rendered at.

    ``styles``: winner name -> Rich style of the winner cell (default: bold in the strategy's
    colour); ``label``: a row -> the label of its paragraph below the table when a ``note``
    column is left out (default: its first cell, with the device when a family has several).
    """

    def __init__(
        self,
        view: views.View,
        *,
        styles: Mapping[str, str] | None = None,
        label: Callable[[tuple[str, ...]], str] | None = None,
    ) -> None:
        self.view = view
        self.styles = styles
        self.label = label

    def _cell(self, j: int, text: str, compact: int) -> str:
        if compact >= 2 and self.view.columns[j].winner:  # one name per line: a name is never cut
            return text.replace("tie: ", "tie:\n").replace(", ", "\n")
        return text

    def _header(self, j: int, width: int) -> str:
        name = self.view.columns[j].name
        return "\n".join(textwrap.wrap(name, width, break_long_words=False)) or name

    def _widths(self, keep: Iterable[int], compact: int) -> dict[int, tuple[int, str]]:
        """Per kept column at compactness 0-2: (width, header), from the data's own widths."""
        out = {}
        for j in keep:
            c = self.view.columns[j]
            data = max((_width(self._cell(j, r[j], compact)) for r in self.view.rows), default=0)
            if c.prose:
                data = min(data, PROSE_MIN)
            header = c.name
            if compact:
                longest_word = max(cell_len(w) for w in c.name.split())
                header = self._header(j, max(data, longest_word))
            out[j] = (max(data, _width(header)), header)
        return out

    def _wrapped(self, keep: tuple[int, ...], max_width: int) -> Layout:
        """Compactness 3: every kept column at least as wide as its widest unbreakable piece
        (and the longest word of its header), then the room left given to the columns left to
        right, each up to its natural width."""
        cols, rows = self.view.columns, self.view.rows
        low, high = [], []
        for j in keep:
            c = cols[j]
            cells = [self._cell(j, r[j], WRAPPED) for r in rows]
            natural = max((_width(t) for t in cells), default=0)
            piece = max((unbreakable(t) for t in cells), default=0)
            if c.prose:
                natural = min(natural, PROSE_MAX)
                piece = max(piece, min(natural, PROSE_MIN))
            head = max(cell_len(w) for w in c.name.split())
            low.append(max(piece, head))
            high.append(max(natural, head, low[-1]))
        room = max_width - (sum(low) + 3 * len(keep) + 1)
        widths = list(low)
        for i in range(len(keep)):
            grow = max(0, min(high[i] - widths[i], room))
            widths[i] += grow
            room -= grow
        return Layout(keep, WRAPPED, tuple(widths), room >= 0)

    def _fits(self, keep: Iterable[int], compact: int, max_width: int) -> bool:
        keep = list(keep)
        widths = self._widths(keep, compact)
        return sum(w for w, _ in widths.values()) + 3 * len(keep) + 1 <= max_width

    def _table(self, lay: Layout) -> Table:
        v = self.view
        wrapped = lay.compact >= WRAPPED
        if wrapped:
            fixed = dict(zip(lay.keep, lay.widths, strict=True))
            headers = {j: (w, self._header(j, w)) for j, w in fixed.items()}
        else:
            headers = self._widths(lay.keep, lay.compact)
        table = Table(title=Text(v.title), title_justify="left")
        for j in lay.keep:
            c = v.columns[j]
            table.add_column(
                Text(headers[j][1]),
                justify="left" if c.text else "right",
                no_wrap=not c.prose,
                overflow="fold",  # only when nothing else fits: every character kept
                width=headers[j][0] if wrapped else None,
                max_width=PROSE_MAX if c.prose else None,
            )
        previous: tuple[str, ...] | None = None
        group_before = None
        for row, group, winner in zip(v.rows, v.groups, v.winners, strict=True):
            if group_before is not None and group != group_before:
                table.add_section()
                previous = None
            group_before = group
            cells: list[Any] = []
            for j in lay.keep:
                c, text = v.columns[j], self._cell(j, row[j], lay.compact)
                if wrapped and not c.prose:
                    text = wrap(text, headers[j][0])
                if c.once and previous is not None and row[: j + 1] == previous[: j + 1]:
                    cells.append(Text(""))  # as in the row above
                elif c.once and j == 0:
                    cells.append(Text(text, style="bold"))
                elif c.winner:
                    cells.append(Text(text, style=self._style(winner)))
                elif c.name == "far from textbook" and text == "yes":
                    cells.append(Text(text, style="bold magenta"))
                else:
                    cells.append(Text(text))  # a Text: "[cpu:0]" is a value, not Rich markup
            table.add_row(*cells)
            previous = row
        return table

    def _style(self, winner: str) -> str:
        if self.styles is not None:
            return self.styles.get(winner, "")
        return f"bold {views.colour(winner)}" if winner else ""

    def _candidates(self) -> Iterable[tuple[int, ...]]:
        cols = self.view.columns
        levels = sorted({c.priority for c in cols}, reverse=True)
        keep = tuple(range(len(cols)))
        yield keep
        for level in levels[:-1]:  # priority 0 stays until values have wrapped
            keep = tuple(j for j in keep if cols[j].priority < level)
            yield keep

    def _last_resort(self, keep: tuple[int, ...]) -> Iterable[tuple[int, ...]]:
        """`keep` less one more column at a time: right to left, the first column next to
        last and the winner column last of all."""
        cols = self.view.columns
        order = [j for j in reversed(keep) if j != keep[0] and not cols[j].winner]
        order += [j for j in keep if j == keep[0] and not cols[j].winner]
        order += [j for j in keep if cols[j].winner]
        left = list(keep)
        for j in order[:-1]:
            left.remove(j)
            yield tuple(left)

    def choose(self, max_width: int) -> Layout:
        """The least compact layout that fits ``max_width`` cells (see the module docstring);
        when none fits, the narrowest (one column), which Rich folds rather than crops."""
        keep: tuple[int, ...] = ()
        for keep in self._candidates():
            for compact in (0, 1, 2):
                if self._fits(keep, compact, max_width):
                    return Layout(keep, compact)
        lay = self._wrapped(keep, max_width)
        if lay.fits:
            return lay
        for fewer in self._last_resort(keep):
            lay = self._wrapped(fewer, max_width)
            if lay.fits:
                return lay
        return lay

    def layout(self, max_width: int) -> tuple[list[str], int]:
        """(column names kept, compactness 0-3; see Layout) at ``max_width`` cells."""
        lay = self.choose(max_width)
        return [self.view.columns[j].name for j in lay.keep], lay.compact

    def left_out(self, keep: Iterable[int]) -> list[str]:
        """The columns not shown, other than the notes printed below the table."""
        kept = set(keep)
        return [c.name for j, c in enumerate(self.view.columns) if j not in kept and not c.note]

    def footer(self, keep: Iterable[int], max_width: int) -> Text | None:
        """One line naming the columns left out to fit ``max_width``; None when none was."""
        gone = self.left_out(keep)
        if not gone:
            return None
        return Text(
            f"not shown at {max_width} columns: {', '.join(gone)} (a wider terminal shows them)",
            style="dim",
        )

    def notes(self, keep: Iterable[int], width: int) -> list[Text]:
        """The ``note`` columns left out of the table, one paragraph per row that has one,
        wrapped at spaces to ``width`` with later lines indented: "family: text" ("family on
        device: text" when a family has rows on several devices)."""
        v = self.view
        kept = set(keep)
        dropped = [j for j, c in enumerate(v.columns) if c.note and j not in kept]
        device = v.names.index("device") if "device" in v.names else None
        labels = [row[0] for row in v.rows]
        if device is not None and len(set(labels)) < len(labels):
            labels = [f"{row[0]} on {row[device]}" for row in v.rows]
        out = []
        for j in dropped:
            for i, row in enumerate(v.rows):
                if row[j] in ("", "-"):
                    continue
                label = self.label(row) if self.label is not None else labels[i]
                wrapped = textwrap.fill(
                    f"{label}: {row[j]}",
                    max(width, PROSE_MIN),
                    subsequent_indent="  ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
                text = Text(wrapped)
                text.stylize("bold", 0, len(label))
                out.append(text)
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lay = self.choose(options.max_width)
        yield self._table(lay)
        foot = self.footer(lay.keep, options.max_width)
        if foot is not None:
            yield foot
        yield from self.notes(lay.keep, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self._table(self.choose(options.max_width)))


def verdict_table(rep: views.Report) -> FitTable:
    """The verdicts, grouped by family (a rule between families)."""
    return FitTable(views.verdict_view(rep))


def ranking_table(rep: views.Report) -> FitTable:
    """Every strategy of every case: time relative to the fastest, rank, and why."""
    return FitTable(views.ranking_view(rep))


def crossover_table(rep: views.Report) -> FitTable:
    """Where jacfwd and jacrev tie, per family; far-from-textbook flags stand out."""
    return FitTable(views.crossover_view(rep))


def report(rep: views.Report) -> list[FitTable]:
    """Everything `adbench report` prints: verdicts, the ranking when some case ran more than
    two strategies, and the crossovers when there are any."""
    out = [verdict_table(rep)]
    if views.many_strategies(rep):
        out.append(ranking_table(rep))
    if len(rep.crossovers):
        out.append(crossover_table(rep))
    return out
