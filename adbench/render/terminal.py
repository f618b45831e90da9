"""Views -> Rich tables for the terminal, fitted to its width.

A :class:`FitTable` decides its columns when Rich renders it, from the width it is given. Cells
never wrap inside a value (a strategy name, an interval, a size): only prose columns (reasons)
wrap, at word boundaries and at most PROSE_MAX cells wide, and headers break at spaces. When the
whole table does not fit, headers break, a tie's strategies are listed one per line, then the
lowest-priority columns (:class:`adbench.render.views.Column`) are dropped, until it fits; so an
80-column terminal still shows every recommended strategy in full, and a wide one shows
everything. A dropped column marked ``note`` (the crossover's reason) is printed below the table
as one paragraph per row, so a narrow terminal loses no sentence and never wraps one a character
per line. Colours come from the strategy's colour; the CLI's console drops every style under
NO_COLOR and on a non-terminal, and the words alone say it all.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from adbench.render import views

PROSE_MIN = 24  # a reason column narrower than this reads one word per line
PROSE_MAX = 72  # ... and one wider than this is hard to read on a wide terminal or in a log


def _width(text: str) -> int:
    return max((cell_len(line) for line in text.split("\n")), default=0)


class FitTable:
    """A view as a Rich table with the columns that fit the width it is rendered at."""

    def __init__(self, view: views.View) -> None:
        self.view = view

    def _cell(self, j: int, text: str, compact: int) -> str:
        if compact >= 2 and self.view.columns[j].winner:  # one name per line: a name is never cut
            return text.replace("tie: ", "tie:\n").replace(", ", "\n")
        return text

    def _widths(self, keep: list[int], compact: int) -> dict[int, tuple[int, str]]:
        """Per kept column: (width, header). compact 0: headers on one line; 1: headers broken
        at spaces to the width of the data; 2: also a tie's strategies one per line."""
        out = {}
        for j in keep:
            c = self.view.columns[j]
            data = max((_width(self._cell(j, r[j], compact)) for r in self.view.rows), default=0)
            if c.prose:
                data = min(data, PROSE_MIN)
            header = c.name
            if compact:
                longest_word = max(cell_len(w) for w in c.name.split())
                header = "\n".join(textwrap.wrap(c.name, max(data, longest_word)))
            out[j] = (max(data, _width(header)), header)
        return out

    def _fits(self, keep: list[int], compact: int, max_width: int) -> bool:
        widths = self._widths(keep, compact)
        return sum(w for w, _ in widths.values()) + 3 * len(keep) + 1 <= max_width

    def _table(self, keep: list[int], compact: int = 0) -> Table:
        v = self.view
        headers = self._widths(keep, compact)
        table = Table(title=v.title, title_justify="left")
        for j in keep:
            c = v.columns[j]
            table.add_column(
                headers[j][1],
                justify="left" if c.text else "right",
                no_wrap=not c.prose,
                overflow="fold",
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
            for j in keep:
                c, text = v.columns[j], self._cell(j, row[j], compact)
                if c.once and previous is not None and row[: j + 1] == previous[: j + 1]:
                    cells.append("")  # as in the row above
                elif c.once and j == 0:
                    cells.append(Text(text, style="bold"))
                elif c.winner:
                    style = f"bold {views.colour(winner)}" if winner else ""
                    cells.append(Text(text, style=style))
                elif c.name == "far from textbook" and text == "yes":
                    cells.append(Text(text, style="bold magenta"))
                else:
                    cells.append(text)
            table.add_row(*cells)
            previous = row
        return table

    def _candidates(self) -> Iterable[list[int]]:
        cols = self.view.columns
        levels = sorted({c.priority for c in cols}, reverse=True)
        keep = list(range(len(cols)))
        yield keep
        for level in levels[:-1]:  # priority 0 always stays
            keep = [j for j in keep if cols[j].priority < level]
            yield keep

    def layout(self, max_width: int) -> tuple[list[str], int]:
        """(column names kept, compactness 0-2; see _widths) at ``max_width`` cells."""
        keep, compact = self._choose(max_width)
        return [self.view.columns[j].name for j in keep], compact

    def _choose(self, max_width: int) -> tuple[list[int], int]:
        last: tuple[list[int], int] = ([], 2)
        for keep in self._candidates():
            for compact in (0, 1, 2):
                last = (keep, compact)
                if self._fits(keep, compact, max_width):
                    return last
        return last

    def notes(self, keep: list[int], width: int) -> list[Text]:
        """The ``note`` columns left out of the table, one paragraph per row that has one,
        wrapped at spaces to ``width`` with later lines indented: "family: text" ("family on
        device: text" when a family has rows on several devices)."""
        v = self.view
        dropped = [j for j, c in enumerate(v.columns) if c.note and j not in keep]
        device = v.names.index("device") if "device" in v.names else None
        labels = [row[0] for row in v.rows]
        if device is not None and len(set(labels)) < len(labels):
            labels = [f"{row[0]} on {row[device]}" for row in v.rows]
        out = []
        for j in dropped:
            for label, row in zip(labels, v.rows, strict=True):
                if row[j] in ("", "-"):
                    continue
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
        keep, compact = self._choose(options.max_width)
        yield self._table(keep, compact)
        yield from self.notes(keep, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self._table(*self._choose(options.max_width)))


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
