"""A family's sizes: a list of array lengths, or a range to search (``{from: 10, to: 10000,
search: crossover}``), each checked so the error names the sub-key at fault. No JAX here.

The range's search itself (bisection at geometric midpoints) is adbench.config.search.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adbench.config import search as searching


class SizeRange(BaseModel):
    """One dimension given as a range to search, ``{from: 10, to: 10000, search: crossover}``:
    adbench measures the ends and bisects where the verdict changes (adbench.config.search).
    Checked by :func:`_size_range`, which names the key at fault."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )

    low: int = Field(alias="from", ge=1, description="the smallest size, measured first")
    high: int = Field(alias="to", ge=1, description="the largest size, measured first; > from")
    search: Literal["crossover"] = Field(
        description="crossover: bisect (geometric midpoints) where the verdict changes"
    )
    resolution: float = Field(
        default=searching.DEFAULT_RESOLUTION,
        gt=1,
        description="stop when each change is bracketed within this factor (> 1)",
    )
    max_cases: int = Field(
        default=searching.DEFAULT_MAX_CASES,
        ge=searching.MIN_CASES,
        description="at most this many sizes, the two ends included (>= 2)",
    )


class RangeError(ValueError):
    """A fault in a size range; ``key`` is its sub-key at fault (None: the range itself), so
    the message points at that key's line."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key


_RANGE_KEYS = ("from", "to", "search", "resolution", "max_cases")
_RANGE_EXAMPLE = "{from: 10, to: 10000, search: crossover}"


def _size_range(v: Mapping[Any, Any]) -> SizeRange:
    """A size range from its mapping, or RangeError naming the sub-key at fault."""
    for key in v:
        if key not in _RANGE_KEYS:
            close = difflib.get_close_matches(str(key), _RANGE_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RangeError(
                str(key), f"unknown key in a size range{hint} (it takes {', '.join(_RANGE_KEYS)})"
            )
    for key in ("from", "to"):
        if key not in v:
            raise RangeError(None, f"a size range needs `from` and `to`: {_RANGE_EXAMPLE}")
        try:
            _check_size(v[key])
        except ValueError as exc:
            raise RangeError(key, str(exc)) from None
    if "search" not in v:
        raise RangeError(
            None,
            f"a size range needs `search: crossover` ({_RANGE_EXAMPLE}); "
            "for a fixed set of sizes give a list",
        )
    if v["search"] not in searching.SEARCHES:
        raise RangeError(
            "search", f"unknown search {v['search']!r}; valid: {', '.join(searching.SEARCHES)}"
        )
    if v["from"] >= v["to"]:
        raise RangeError(
            "to", f"the range is empty: `to` ({v['to']}) must be greater than `from` ({v['from']})"
        )
    res = v.get("resolution", searching.DEFAULT_RESOLUTION)
    if isinstance(res, bool) or not isinstance(res, int | float) or not math.isfinite(res):
        raise RangeError("resolution", f"must be a number > 1 (got {res!r})")
    if res <= 1:
        raise RangeError(
            "resolution",
            f"must be > 1: the factor within which each change is bracketed (got {res!r})",
        )
    most = v.get("max_cases", searching.DEFAULT_MAX_CASES)
    if isinstance(most, bool) or not isinstance(most, int) or most < searching.MIN_CASES:
        raise RangeError(
            "max_cases", f"must be an integer >= 2, the two ends included (got {most!r})"
        )
    return SizeRange.model_validate(dict(v))


def _listed(sizes: list[int] | SizeRange) -> list[int]:
    """The sizes of a list, or the two ends of a range (what is measured first)."""
    return [sizes.low, sizes.high] if isinstance(sizes, SizeRange) else sizes


# A size is an array length. Past 2**40 (10^12) no array of it fits any machine, and a product
# of two sizes could overflow the int64 columns of the results; the memory guard (--max-memory)
# is the real limit, this cap only keeps absurd numbers out.
MAX_SIZE = 2**40


def _check_size(s: Any) -> None:
    """Raise ValueError unless `s` is a size: an int in [1, MAX_SIZE] (d_in, d_out, batch)."""
    if isinstance(s, bool) or not isinstance(s, int):
        raise ValueError(f"sizes must be positive integers (got {s!r})")
    if s < 1:
        raise ValueError(f"sizes must be positive integers (got {s})")
    if s > MAX_SIZE:
        raise ValueError(
            f"sizes are at most 2**40 = {MAX_SIZE} (got {s}); the memory guard "
            "(--max-memory) refuses cases far smaller than that"
        )
