"""Split a sweep's cases into N shards (`adbench run CONFIG --shard I/N`).

A shard is what one CI matrix job or one Slurm array task measures into its own results
directory; `adbench merge` joins the directories again. The split must be

* deterministic: every job computes it alone, with no coordinator, and must agree with the
  others on who measures what, so each case lands in exactly one shard;
* stable under reordering of the config: moving families around in the YAML file (or listing
  sizes in another order) must not move cases between shards, so the split depends only on the
  *set* of case ids;
* balanced: shards should take about the same time, or the matrix waits for the slowest job.

How: the cases are sorted by case id, each gets a cost estimate (:func:`cost_s`), and the
longest-processing-time-first greedy rule assigns them, most expensive first (ties broken by
case id), each to the shard with the least estimated work so far (ties: the lowest index). The
greedy rule is within 4/3 of the best possible makespan for a given estimate. A case id hash
would also be stable, and even stable under adding cases, but leaves shards of a small sweep
unbalanced by chance (8 cases on 3 shards: 1 to 5 cases per shard).

The estimate is rough on purpose. Per case and strategy it counts a fixed part (the timing
budget is spent whatever the size; tracing and compiling cost ~0.05-0.6 s) and a part growing
with the Jacobian's d_in x d_out entries (building and checking it). Measured on the 2-core
development machine (configs/ci.yaml, time_budget_s 0.3, jacfwd + jacrev): cases took 0.42-1.2 s
from start to end, the Jacobian's size explained little below 10^6 entries (elementwise 1000 x
1000: 0.56 s) and compile time more (scan, mlp_loss: ~0.6 s of compile, ~1.1 s in all); the
seed config (budget 1 s) took 0.87-2.7 s per case, the slowest at 10^4 entries with ~0.1 s calls.
Reproduce: run a config and read `ended_at - started_at` of results.csv against d_in * d_out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adbench.config.cases import Case

COMPILE_S = 0.15  # per strategy: trace + lower + compile + first call, a typical small case
ENTRY_S = 1e-7  # per strategy and Jacobian entry: building, copying and checking it
METHOD = "greedy by estimated cost (adbench.session.shard), cases sorted by case id"

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`, 1-based as written on the command line (`--shard 2/3`)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`"2/3"` -> Shard(2, 3). ValueError with a one-line reason for anything else."""
    m = _SHARD.fullmatch(text)
    if not m:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 2/3 (shard 2 of 3)")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1:
        raise ValueError(f"--shard {text}: N must be at least 1")
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: I must be between 1 and N ({count})")
    return Shard(index, count)


def cost_s(case: Case, time_budget_s: float) -> float:
    """Estimated seconds to measure `case` with its planned strategies (see module doc)."""
    entries = case.d_in * case.d_out * case.batch
    return time_budget_s + len(case.strategies) * (COMPILE_S + ENTRY_S * entries)


def assign(costs: dict[str, float], count: int) -> dict[str, int]:
    """{case_id: shard index 1..count}: greedy, most expensive first, to the least loaded.

    Depends only on the mapping's contents, never on its order.
    """
    load = [0.0] * count
    out: dict[str, int] = {}
    for cid in sorted(costs, key=lambda c: (-costs[c], c)):
        k = min(range(count), key=lambda i: (load[i], i))
        load[k] += costs[cid]
        out[cid] = k + 1
    return out


def select(cases: Sequence[Case], shard: Shard, *, time_budget_s: float) -> list[Case]:
    """The cases of `shard`, in their config order."""
    costs = {c.case_id: cost_s(c, time_budget_s) for c in cases}
    owner = assign(costs, shard.count)
    return [c for c in cases if owner[c.case_id] == shard.index]


def describe(shard: Shard, chosen: Sequence[Case], total: int) -> dict[str, Any]:
    """What meta.json records about a shard: enough for `merge` to tell a missing one."""
    return {
        "index": shard.index,
        "count": shard.count,
        "cases": len(chosen),
        "of_cases": total,
        "method": METHOD,
    }
