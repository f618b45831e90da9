"""A results directory with its verdicts: the stored ones when fresh, recomputed otherwise.

The store reads files and never computes a verdict (:mod:`adbench.store.reader` does not import
the analysis); this is the one place that loads a directory *and* fills in the verdicts the store
could not trust (none stored, or stored before the data changed: ``Results.verdicts_stored``).
Every reader that shows or compares verdicts loads through here (``adbench.load_results``, the
commands); code that recomputes all derived tables itself (the end of a run, a merge) loads with
the store's ``load_results(..., with_verdicts=False)``. Ranking and crossovers are recomputed by
:func:`adbench.render.views.build` for every report, stored or not.
"""

from __future__ import annotations

import os
from dataclasses import replace

from adbench.store import reader
from adbench.store.reader import Results


def margin_of(res: Results) -> float:
    """The tie margin the run judged with (meta.json's settings; 0.1 when none is stored)."""
    return float((res.meta.get("settings") or {}).get("tie_margin", 0.1))


def with_verdicts(res: Results) -> Results:
    """`res` with verdicts: unchanged when they are the stored ones, else recomputed from its
    results and samples with the run's margin (``verdicts_stored`` stays False then)."""
    if res.verdicts_stored:
        return res
    from adbench.analysis.verdict import verdicts_for

    return replace(res, verdicts=verdicts_for(res.results, res.samples, margin=margin_of(res)))


def load_results(directory: str | os.PathLike[str]) -> Results:
    """Load a results directory (:func:`adbench.store.reader.load_results`) with its verdicts
    (:func:`with_verdicts`). Raises :class:`adbench.store.reader.ResultsError` as the store does."""
    return with_verdicts(reader.load_results(directory))
