"""What counts as a decision, once for the whole package: the words a verdict uses, the least
evidence a decision may rest on, whether a stored verdict is decisive, and the axis names.

Every module that judges (verdict, crossover, the sequential stopping rule), compares (the
compare gate) or shows (render) a verdict asks here, so "decisive" cannot mean one thing in the
gate and another in the report (it did: five copies of the test drifted in what they excluded).

**The least evidence: ``MIN_ROUNDS`` = 6 paired rounds.** A verdict rests on the percentile
bootstrap interval of the median per-round ratio (:func:`adbench.analysis.stats.paired_bootstrap`).
Whatever the resampling does, that interval lies inside [min, max] of the n ratios, and [min, max]
misses the true median exactly when all n ratios fall on one side of it: probability
``2 * 0.5**n`` (each side ``0.5**n``) for any continuous distribution. A 95% interval (2.5% on
each side: the verdict's error of calling the wrong strategy faster) is therefore attainable only
when ``0.5**n <= 0.025``, i.e. ``n >= log2(40) = 5.32``: from n = 6 (1.6% on each side at best);
at n = 5 even [min, max] misses 6.25% of the time, at n = 3 25%, at n = 2 50% — the
"95% CI" [0.899, 0.906] of issue 17 came from 2 rounds. Below ``MIN_ROUNDS`` the verdict is
``undecided`` ("3 rounds: too few to decide"), distinct from a ``tie``: a tie is evidence that
the strategies are close; undecided is the absence of evidence.

What the bootstrap really covers near the minimum (benchmarks/sequential.py ``--coverage``:
log-normal ratios at a true median of 1, 1000 trials per n, 2000 resamples; the interval's ends
are order statistics, so the figure holds for any continuous distribution): missed 49% at n = 2,
25% at 3, 11% at 4, 5.9% at 5, 5.5% at 6, then 5.5-6.3% at n = 8-12 — except at n = 7, 13.5%:
at an odd count the median's resamples rarely reach the extreme ratios, so the interval shrinks
to about the 2nd-6th ratio. The minimum is the attainable one, not a guarantee of exact
coverage; the sequential looks (:mod:`adbench.analysis.sequential`) start at 10 rounds for that
reason, and a case stopped by its budget usually has far more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# the classic two modes (schema.MODES): the fwd-vs-rev view, the crossover, the textbook rule
FWD, REV = "jacfwd", "jacrev"

# what a verdict's ``recommended`` (and ``fwd_rev``) holds besides a strategy's name
TIE = "tie"  # the evidence cannot separate the fastest from the strategies in ``tie_set``
NONE = "none"  # no strategy ran
UNDECIDED = "undecided"  # too few paired rounds to decide anything (see MIN_ROUNDS)
NA = "n/a"  # not applicable (e.g. fwd_rev of a Hessian, or one of the two modes did not run)
NOT_DECISIVE = frozenset((TIE, NONE, UNDECIDED, NA, ""))

# the axis a family's sweep varies along (adbench.analysis.axis.axis_of), as stored
AXIS_D_OUT, AXIS_D_IN, AXIS_RATIO = "d_out", "d_in", "d_in/d_out"
AXIS_SQUARE = "d_in=d_out"  # every case n -> n: the axis is n
AXES = (AXIS_D_OUT, AXIS_D_IN, AXIS_SQUARE, AXIS_RATIO)

MIN_ROUNDS = 6  # paired rounds a decision (or a tie) needs; see the module docstring


def enough_rounds(n: int) -> bool:
    """Whether ``n`` paired rounds are enough evidence to decide (``n >= MIN_ROUNDS``)."""
    return n >= MIN_ROUNDS


def too_few(n: int) -> str:
    """The reason an undecided verdict gives: '3 rounds: too few to decide (...)'."""
    if n <= 0:
        return "no paired rounds stored: too few to decide"
    word = "round" if n == 1 else "rounds"
    return f"{n} {word}: too few to decide (a verdict needs {MIN_ROUNDS} paired rounds)"


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).strip()


def is_decisive(verdict: Mapping[str, Any]) -> bool:
    """Whether a verdict row (schema.VERDICT_COLUMNS) names one strategy on the evidence of at
    least two that ran: not a tie, none, undecided or n/a, and not "the only strategy that ran"
    (which is a fact, not a decision). A row without ``n_ran`` (an older table) is judged on
    ``recommended`` alone."""
    if _text(verdict.get("recommended")) in NOT_DECISIVE:
        return False
    try:
        n_ran = float(verdict.get("n_ran", math.nan))
    except (TypeError, ValueError):
        n_ran = math.nan
    return not n_ran < 2


def names_one(recommended: Any) -> bool:
    """Whether a ``recommended`` (or ``fwd_rev``, ``predicted``) value names one strategy."""
    return _text(recommended) not in NOT_DECISIVE
