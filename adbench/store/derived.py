"""The derived tables (verdicts, crossovers), written when a run ends and when a merge ends.

Both recompute them from what is stored — the results and samples read back from the files, not
what is in memory — with the same functions, so a merged directory holds exactly the verdicts a
run of the joined rows would have written. One function, so the two cannot drift.
"""

from __future__ import annotations

from adbench.store.results import ResultsWriter, load_results


def write_derived(writer: ResultsWriter, margin: float) -> None:
    """Recompute and write verdicts.csv and crossover.csv of `writer`'s directory."""
    from adbench.analysis.crossover import crossovers_for
    from adbench.analysis.verdict import verdicts_for

    stored = load_results(writer.directory, with_verdicts=False)
    writer.write_verdicts(verdicts_for(stored.results, stored.samples, margin=margin))
    writer.write_crossovers(crossovers_for(stored.results, stored.samples, margin=margin))
