"""Numbers -> text for people: one formatter per unit, shared by every table, plot and message.

Seconds, bytes, sizes, ratios and call counts are written the same way in the terminal table,
Markdown, HTML, plot ticks, compare findings and the ``reason`` sentences stored with verdicts and
crossovers. It sits below every package (analysis writes reasons, and analysis never imports
render), imports nothing from adbench, and every function accepts anything (NaN, None, text) and
returns ``missing`` for what cannot be shown as a number.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "-"


def number(x: Any) -> float | None:
    """A float, or None for what cannot be shown as one (None, NaN, text)."""
    if isinstance(x, bool):
        return float(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def num(x: Any, digits: int = 3, *, missing: str = MISSING) -> str:
    """A plain number to ``digits`` significant digits: 0.25, 68.7, 5630, 1.5e+07; inf as ∞.

    Numbers from 1000 to 10 million are written out, rounded to a whole number (5630 rather
    than 5.63e+03): speedups and sizes read better that way.
    """
    v = number(x)
    if v is None:
        return missing
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if 1e3 <= abs(v) < 1e7:
        return f"{float(f'{v:.{digits}g}'):.0f}"
    return f"{v:.{digits}g}"


def seconds(x: Any, *, missing: str = MISSING) -> str:
    """1.23 ms, 45.6 µs, 2.1 s, 800 ns. Values a hair under a unit (0.9995 s) take that unit."""
    v = number(x)
    if v is None or math.isinf(v):
        return missing
    if v == 0:
        return "0 s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(v) >= scale * 0.9995:
            return f"{v / scale:.3g} {unit}"
    return f"{v / 1e-9:.3g} ns"


def nbytes(x: Any, *, missing: str = MISSING) -> str:
    """512 B, 12 KiB, 1.50 GiB, 149 GiB, 1 TiB (powers of 1024; two decimals below 100, as the
    memory guard's refusals have always read)."""
    v = number(x)
    if v is None or math.isinf(v):
        return missing
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(v) >= scale:
            w = v / scale
            return f"{w:.3g} {unit}" if abs(w) >= 100 else f"{w:.2f} {unit}".replace(".00 ", " ")
    return f"{int(v)} B"


def count(x: Any, *, missing: str = MISSING) -> str:
    """A large count, such as instructions per call: 950, 12.3 k, 3.78 M, 1.2 G (powers of 1000)."""
    v = number(x)
    if v is None or math.isinf(v):
        return missing
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale * 0.9995:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g}"


def size(x: Any, *, missing: str = MISSING) -> str:
    """A size or a size ratio: whole numbers written out (10000), others to 3 digits (68.7)."""
    v = number(x)
    if v is None:
        return missing
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == round(v) and 1 <= abs(v) < 1e9:
        return str(int(v))
    return f"{v:.3g}"


def whole(x: Any, *, missing: str = MISSING) -> str:
    """A count stored as a float (CSV columns with empty cells are read as floats): 100, not
    100.0; a value that is not whole is written as :func:`num` writes it."""
    v = number(x)
    if v is None:
        return missing
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return str(int(v)) if v == round(v) else num(v)


def factor(x: Any, *, missing: str = MISSING) -> str:
    """A speed factor: 2.51x."""
    v = number(x)
    return missing if v is None else f"{num(v)}x"


def interval(x: Any, low: Any, high: Any, *, missing: str = MISSING) -> str:
    """A value with its interval, '0.25 [0.24, 0.26]'; the value alone without one."""
    if number(x) is None:
        return missing
    if number(low) is None or number(high) is None:
        return num(x)
    return f"{num(x)} [{num(low)}, {num(high)}]"


def calls(x: Any, *, missing: str = MISSING) -> str:
    """A break-even count: 'from 1st call', '1 call', '12 calls', 'never'."""
    v = number(x)
    if v is None:
        return missing
    if math.isinf(v):
        return "never"
    if v == 0:
        return "from 1st call"
    return "1 call" if v == 1 else f"{v:.0f} calls"
