"""Adaptive crossover search: which sizes of a range to measure next (pure: no I/O, no JAX).

A family may give one dimension as a range instead of a list,
``d_out: {from: 10, to: 10000, search: crossover}``. A full grid spends most of its cases far
from the crossover, where every size says the same thing; the search measures the two ends,
then, wherever two neighbouring measured sizes disagree, the size between them, until every
change is bracketed within a factor ``resolution`` (default 1.5) or ``max_cases`` sizes are
measured. The crossover itself is then estimated from the measured sizes as for any sweep
(adbench.analysis.crossover), so a searched family reads like a grid that happens to be dense
only where it matters.

Why the geometric midpoint: run time grows as a power of the size (one JVP per input, one VJP
per output), so the fwd/rev time ratio is close to a straight line in log size, and a bracket
is narrowed by the same factor whichever end of the range it sits at. Sizes are integers: the
midpoint is rounded to the nearest one, and a bracket with no integer strictly inside is as
tight as it can be.

What a size says (``verdict_of``): its case's ``fwd_rev`` verdict (jacfwd, jacrev, tie, or n/a
when one of the two did not run) when the family measures exactly jacfwd and jacrev, else its
``recommended`` strategy (or tie, or none) — the decision a user of that family makes. A tie is a
verdict of its own, so a tie band around the crossover is bracketed at both of its edges.

Like a grid, the search sees a change only between measured neighbours that disagree: a
change and its return between two sizes that agree (both ends say jacrev, jacfwd wins in
between) are not found.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adbench import fmt

CROSSOVER = "crossover"
SEARCHES = (CROSSOVER,)  # the values `search:` accepts
DEFAULT_RESOLUTION = 1.5
DEFAULT_MAX_CASES = 12
MIN_CASES = 2  # the two ends
NO_VERDICT = "n/a"
CLASSIC = frozenset(("jacfwd", "jacrev"))

Allowed = Callable[[int], bool]
Measure = Callable[[Sequence[int]], Mapping[int, str]]


@dataclass(frozen=True)
class SizeSearch:
    """A searched dimension: ``axis`` ("d_in" or "d_out") from ``low`` to ``high`` (inclusive,
    low < high), the other dimension held at ``fixed``; stop when every change is bracketed
    within a factor ``resolution`` (> 1) or ``max_cases`` (>= 2) sizes are measured."""

    axis: str
    low: int
    high: int
    fixed: int
    resolution: float = DEFAULT_RESOLUTION
    max_cases: int = DEFAULT_MAX_CASES

    def point(self, size: int) -> tuple[int, int]:
        """(d_in, d_out) of the case at ``size`` on the searched axis."""
        return (self.fixed, size) if self.axis == "d_out" else (size, self.fixed)

    def describe(self) -> str:
        """``d_out 10-10000 (d_in = 100)``."""
        other = "d_in" if self.axis == "d_out" else "d_out"
        return (
            f"{self.axis} {fmt.size(self.low)}-{fmt.size(self.high)} "
            f"({other} = {fmt.size(self.fixed)})"
        )


@dataclass(frozen=True)
class Bracket:
    """Two neighbouring measured sizes whose verdicts differ: ``below`` at ``low``, ``above`` at
    ``high``."""

    low: int
    high: int
    below: str
    above: str

    @property
    def factor(self) -> float:
        return self.high / self.low


def midpoint(low: int, high: int, allowed: Allowed | None = None) -> int | None:
    """The integer nearest the geometric midpoint sqrt(low * high), strictly between low and
    high, or None when no integer lies strictly between them.

    Exact for any sizes (integer square root, no float rounding): with r = isqrt(low * high),
    sqrt(low * high) < r + 1/2 exactly when low * high <= r * (r + 1). Where ``allowed`` refuses
    that size (a family needing even sizes), the nearest allowed integer inside is taken,
    looking at most 8 steps either way.
    """
    if high - low < 2:
        return None
    product = low * high
    r = math.isqrt(product)
    m = r if product <= r * (r + 1) else r + 1
    m = min(max(m, low + 1), high - 1)
    if allowed is None:
        return m
    for step in range(9):
        for candidate in (m + step, m - step) if step else (m,):
            if low < candidate < high and allowed(candidate):
                return candidate
    return None


def brackets(verdicts: Mapping[int, str]) -> list[Bracket]:
    """The changes along the measured sizes: each pair of neighbours (in size order) whose
    verdicts differ."""
    sizes = sorted(verdicts)
    return [
        Bracket(a, b, verdicts[a], verdicts[b])
        for a, b in zip(sizes, sizes[1:], strict=False)
        if verdicts[a] != verdicts[b]
    ]


def _open(search: SizeSearch, verdicts: Mapping[int, str], allowed: Allowed | None) -> list[int]:
    """Midpoints of the brackets still wider than the resolution, widest bracket first."""
    wide = [b for b in brackets(verdicts) if b.high > b.low * search.resolution]
    out = []
    for b in sorted(wide, key=lambda b: (-b.factor, b.low)):
        m = midpoint(b.low, b.high, allowed)
        if m is not None:
            out.append(m)
    return out


def next_sizes(
    search: SizeSearch, verdicts: Mapping[int, str], allowed: Allowed | None = None
) -> tuple[int, ...]:
    """The sizes to measure next, given the verdict of every size measured so far; () when the
    search is done. First the two ends, then one midpoint per bracket still wider than the
    resolution (widest first while the budget lasts), ascending. Never a size already measured:
    a midpoint lies strictly between two neighbours."""
    budget = search.max_cases - len(verdicts)
    if budget <= 0:
        return ()
    ends = [s for s in (search.low, search.high) if s not in verdicts]
    if ends:
        return tuple(ends[:budget])
    return tuple(sorted(_open(search, verdicts, allowed)[:budget]))


@dataclass(frozen=True)
class Outcome:
    """What a search measured: ``verdicts`` (size, verdict) ascending; ``order``: the sizes in
    the order they were asked for; ``budget_spent``: it stopped at max_cases with a bracket still
    wider than the resolution."""

    search: SizeSearch
    verdicts: tuple[tuple[int, str], ...]
    order: tuple[int, ...]
    budget_spent: bool

    @property
    def brackets(self) -> list[Bracket]:
        return brackets(dict(self.verdicts))

    def summary(self) -> str:
        """One line: how many sizes, and where the verdict changes."""
        s = self.search
        head = f"searched {s.describe()}: {len(self.order)} sizes"
        found = self.brackets
        if not found:
            said = sorted({v for _, v in self.verdicts})
            return f"{head}; no change between them ({', '.join(said)}), so none is bracketed"
        changes = ", ".join(
            f"{b.below}->{b.above} between {fmt.size(b.low)} and {fmt.size(b.high)}" for b in found
        )
        if self.budget_spent:
            wide = [b for b in found if b.high > b.low * s.resolution]
            widest = max(b.factor for b in wide)
            return (
                f"{head}; {changes}; stopped at max_cases {s.max_cases} with "
                f"{len(wide)} change(s) wider than x{fmt.num(s.resolution)} "
                f"(widest x{fmt.num(widest)})"
            )
        tight = f"each within x{fmt.num(s.resolution)}"
        if any(b.high > b.low * s.resolution for b in found):  # no integer left between them
            tight += " or between adjacent sizes"
        return f"{head}; {changes}; {tight}"


def run(search: SizeSearch, measure: Measure, allowed: Allowed | None = None) -> Outcome:
    """Drive a search to its end. ``measure(sizes)`` measures (or finds stored) the cases at
    those sizes and returns each one's verdict; a size it gives none for counts as ``n/a``.
    ``allowed(size)``: whether the family accepts that size (None: every size)."""
    verdicts: dict[int, str] = {}
    order: list[int] = []
    while sizes := next_sizes(search, verdicts, allowed):
        got = measure(sizes)
        for size in sizes:
            verdicts[size] = got.get(size, NO_VERDICT)
        order.extend(sizes)
    spent = len(verdicts) >= search.max_cases and bool(_open(search, verdicts, allowed))
    return Outcome(search, tuple(sorted(verdicts.items())), tuple(order), spent)


def verdict_of(row: Mapping[str, Any], strategies: Sequence[str]) -> str:
    """What a size says, from its verdict row (schema.VERDICT_COLUMNS): ``fwd_rev`` when the
    family measures exactly jacfwd and jacrev, else ``recommended``; n/a when empty."""
    value = row.get("fwd_rev" if frozenset(strategies) == CLASSIC else "recommended")
    return value if isinstance(value, str) and value else NO_VERDICT
