"""An instructions run (``adbench run --measure instructions``) as a Rich table: per case x
strategy, instructions per call with their spread over the repetitions, and XLA's flops beside
them (the count XLA makes before running, which a loop's extra steps do not change).
"""

from __future__ import annotations

from rich.table import Table

from adbench import fmt
from adbench.store.results import Results


def instructions_table(res: Results) -> Table:
    """One row per stored case x strategy x device, in results order."""
    t = Table(title="Instructions per call (valgrind; median over repetitions)")
    for name in ("case", "device", "strategy", "status"):
        t.add_column(name)
    for name in ("instructions", "spread", "reps", "XLA flops"):
        t.add_column(name, justify="right")
    for r in res.results.to_dict("records"):
        reps = fmt.number(r.get("instructions_reps"))
        spread = fmt.number(r.get("instructions_spread"))
        t.add_row(
            str(r["case_id"]),
            str(r["device"]),
            str(r["strategy"]),
            str(r["status"]),
            fmt.count(r.get("instructions")),
            fmt.MISSING if spread is None else f"{spread * 100:.2g}%",
            fmt.MISSING if reps is None else f"{reps:.0f}",
            fmt.count(r.get("flops")),
        )
    return t
