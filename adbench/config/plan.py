"""What each family of a run file measures: its task, strategies, batch, chunk size and sizes.

A family's own keys win over the run's, which win over the defaults (task ``jacobian``, every
strategy of the task, batch 1, the largest chunk that fits memory). Resolving them needs the
whole validated config, so it happens after pydantic's checks: ``config.parse_config`` turns a
:class:`PlanError` into a ConfigError naming the file and the line of the key at fault
(``PlanError.loc``, e.g. ``("families", 2, "strategies", 1)``). No JAX here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adbench.config import families, operators
from adbench.config.search import SizeSearch
from adbench.store import schema
from adbench.strategies import registry as strategies
from adbench.strategies.base import SCALAR_TASKS  # one list, the operator tasks' included

if TYPE_CHECKING:
    from adbench.config.model import RunConfig

NO_SIZES = (
    "no sizes: give `d_in` and `d_out` lists, or `points` "
    f"(d_out may be left out for the scalar tasks {', '.join(sorted(SCALAR_TASKS))})"
)


@dataclass(frozen=True)
class FamilyPlan:
    """What one family measures, its own keys and the run's defaults resolved.

    ``strategies``: names of ``schema.STRATEGIES[task]``, in the order given (or the task's).
    ``chunk_size``: for the chunked strategies; None = the largest that fits the memory budget.
    ``sizes``: (d_in, d_out) pairs, d_out = 1 where a scalar task's family left it out.
    ``search``: the searched dimension when one is a size range (``sizes`` then holds its two
    ends; the sweep chooses the sizes in between, adbench.config.search), else None.
    ``named``: a family of named factory sizes: each case's ((name, value), ...) in order
    (``sizes`` is then empty: d_in and d_out are measured). ``argnums``: the differentiated
    arguments of a factory's (fn, args); ``per_example``: the declared points argument.
    ``explicit``: the strategies were listed (by the family or the run), so a detected
    per-example structure is reported but not added.
    """

    task: str
    strategies: tuple[str, ...]
    batch: int
    chunk_size: int | None
    sizes: tuple[tuple[int, int], ...]
    search: SizeSearch | None = None
    named: tuple[tuple[tuple[str, int], ...], ...] = ()
    argnums: tuple[int, ...] = (0,)
    per_example: int | None = None
    explicit: bool = False
    task_params: Any = None  # adbench.strategies.params.TaskParams of the operator tasks


class PlanError(Exception):
    """A family's plan is invalid: where (a config path such as ("families", 0, "strategies"))
    and the one-line message."""

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def plan(config: RunConfig, index: int) -> FamilyPlan:
    """The FamilyPlan of ``config.families[index]``; PlanError at the key at fault."""
    spec = config.families[index]
    here: tuple[Any, ...] = ("families", index)
    who = f"family {spec.name!r}"
    _check_run(config)
    task = spec.task or config.task
    if spec.strategies is not None:
        names, where, note = spec.strategies, (*here, "strategies"), ""
    elif config.run_strategies is not None:
        # the run's list, already checked against the run's task; only a family that changed
        # the task can make it wrong
        names, where = config.run_strategies, (*here, "task")
        note = " inherits the run's strategies, so give it its own `strategies:`"
    else:
        names, where, note = list(schema.DEFAULT_STRATEGIES[task]), here, ""
    names = list(names)
    # declaring per_example adds its strategy beside the whole-function ones, unless the family
    # lists its own strategies (then it is measured only where listed)
    declared = spec.per_example is not None and "per_example" in schema.STRATEGIES[task]
    if declared and spec.strategies is None and "per_example" not in names:
        names.append("per_example")
    explicit = spec.strategies is not None or config.run_strategies is not None
    if (
        spec.per_example is not None
        and "per_example" not in schema.STRATEGIES[task]
        and task != "ntk"  # the NTK's strategies all take the points per example
    ):
        raise PlanError(
            (*here, "per_example"),
            f"{who}: per_example applies to the tasks "
            f"{', '.join(t for t in schema.TASKS if 'per_example' in schema.STRATEGIES[t])}, "
            f"not {task}",
        )
    for i, name in enumerate(names):
        try:
            strategies.get(task, name)
        except ValueError as exc:
            at = (*where, i) if where[-1] == "strategies" else where
            raise PlanError(at, f"{who} (task {task}){note}: {exc}") from None
    chunk = spec.chunk_size if spec.chunk_size is not None else config.chunk_size
    if spec.chunk_size is not None and not any(strategies.get(task, n).chunked for n in names):
        chunked = [n for n in schema.STRATEGIES[task] if strategies.get(task, n).chunked]
        choices = f"add one of {', '.join(chunked)}" if chunked else f"task {task} has none"
        raise PlanError(
            (*here, "chunk_size"),
            f"{who}: chunk_size applies to chunked strategies and none is listed ({choices})",
        )
    if (
        spec.named_sizes is None
        and spec.points is None
        and spec.d_out is None
        and task not in SCALAR_TASKS
    ):
        raise PlanError(here, NO_SIZES)
    searched = _search(spec.d_in, spec.d_out, here, who)
    sizes = tuple(spec.sizes())
    size_key = (*here, "points") if spec.points is not None else (*here, "d_out")
    for _, d_out in sizes:
        if task in SCALAR_TASKS and d_out != 1:
            raise PlanError(
                size_key,
                f"{who}: task {task!r} needs a scalar function (d_out = 1), got d_out = {d_out}; "
                "declare d_in sizes only, or choose task: jacobian",
            )
    if spec.builtin is not None:
        rule = families.BUILTINS[spec.builtin]
        for d_in, d_out in sizes:
            problem = rule.check_sizes(d_in, d_out, spec.params)
            if problem:
                raise PlanError(here, problem)
    batch = spec.batch if spec.batch is not None else config.batch
    try:
        ops = operators.resolve(spec, task, names, [d for d, _ in sizes], explicit)
    except operators.OperatorError as exc:
        raise PlanError((*here, exc.key), f"{who}: {exc}") from None
    return FamilyPlan(
        task,
        ops[0],
        batch,
        chunk,
        sizes,
        searched,
        named=tuple(spec.named_grid()),
        argnums=spec.arg_indices,
        per_example=spec.per_example,
        explicit=explicit,
        task_params=ops[1],
    )


def _search(d_in: Any, d_out: Any, here: tuple[Any, ...], who: str) -> SizeSearch | None:
    """The searched dimension of a family (config.SizeRange on d_in or d_out), or None.

    One dimension at a time, the other held at one size, so the search follows one axis and
    the crossover is read along it (a range on each would need a 2-D search; a list of fixed
    values, one search per value: give each its own family). A square family (d_in = d_out)
    cannot be searched: its size rule refuses the ends.
    """
    ranges = [(axis, r) for axis, r in (("d_in", d_in), ("d_out", d_out)) if hasattr(r, "search")]
    if not ranges:
        return None
    if len(ranges) == 2:
        raise PlanError(
            (*here, "d_out"),
            f"{who}: search one dimension at a time: d_in and d_out are both ranges; "
            "give one of them a single size",
        )
    axis, rng = ranges[0]
    other = "d_out" if axis == "d_in" else "d_in"
    values = d_out if axis == "d_in" else d_in
    if values is not None and len(values) != 1:
        raise PlanError(
            (*here, other),
            f"{who}: {axis} is a search range, so {other} must be one size (got {len(values)}); "
            "search each one in a family of its own",
        )
    fixed = 1 if values is None else int(values[0])  # d_out left out: a scalar task
    return SizeSearch(axis, rng.low, rng.high, fixed, rng.resolution, rng.max_cases)


def _check_run(config: RunConfig) -> None:
    """The run-level strategies against the run's task."""
    if config.strategies is not None and config.modes is not None:
        raise PlanError(("modes",), "give `strategies` or its old name `modes`, not both")
    key = "strategies" if config.strategies is not None else "modes"
    for i, name in enumerate(config.run_strategies or ()):
        try:
            strategies.get(config.task, name)
        except ValueError as exc:
            raise PlanError((key, i), str(exc)) from None


def family_plan(config: RunConfig, name: str) -> FamilyPlan:
    """The plan of the family called ``name`` (ValueError if it is invalid; parse_config has
    already refused such a config with the line at fault)."""
    index = [f.name for f in config.families].index(name)
    try:
        return plan(config, index)
    except PlanError as exc:
        raise ValueError(f"{'.'.join(map(str, exc.loc))}: {exc}") from None
