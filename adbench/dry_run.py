"""What `adbench run --dry-run` shows: value types made by adbench.api.plan_run and rendered by
adbench.render.show. They live below both, so neither has to import the other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlannedCase:
    """One case of a dry run: its sizes, the least memory any mode of it needs, where stored."""

    case_id: str
    family: str
    d_in: int
    d_out: int
    memory_bytes: int  # the Jacobian on the device + its host copies (adbench.measure.memory)
    over_budget: bool  # refused by the memory guard before its factory runs
    stored_on: tuple[str, ...]  # devices it is already stored on (--resume)


@dataclass(frozen=True)
class RunPlan:
    """What `adbench run --dry-run` shows: the cases and what they will cost."""

    cases: tuple[PlannedCase, ...]
    time_budget_s: float  # timing seconds per case, all strategies together
    budget_bytes: int | None  # the memory guard's budget (None: off)

    @property
    def to_run(self) -> int:
        return sum(1 for c in self.cases if not c.stored_on and not c.over_budget)

    @property
    def timing_s(self) -> float:
        """Timing seconds per device: each case to run spends its time budget (a case with
        very slow calls may spend up to three budgets; compiling comes on top)."""
        return self.to_run * self.time_budget_s
