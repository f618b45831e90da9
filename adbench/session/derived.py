"""The derived tables (verdicts, ranking, crossovers), written when a run ends and when a merge
ends.

Both recompute them from what is stored — the results and samples read back from the files, not
what is in memory — with the same functions, so a merged directory holds exactly the verdicts a
run of the joined rows would have written. One function, so the two cannot drift. It sits in
run/ (not store/) because it calls the analysis; the store's merge receives it as an argument.
"""

from __future__ import annotations

from adbench.store.results import ResultsWriter, load_results


def write_derived(writer: ResultsWriter, margin: float) -> None:
    """Recompute and write verdicts.csv, ranking.csv and crossover.csv of `writer`'s directory."""
    from adbench.analysis.crossover import crossovers_for
    from adbench.analysis.verdict import judge

    stored = load_results(writer.directory, with_verdicts=False)
    judged = judge(stored.results, stored.samples, margin=margin)
    writer.write_verdicts(judged.verdicts)
    writer.write_ranking(judged.ranking)
    writer.write_crossovers(crossovers_for(stored.results, stored.samples, margin=margin))
