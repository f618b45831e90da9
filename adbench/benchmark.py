"""``adbench.bench(f, *args)`` (this module is ``benchmark`` so that ``adbench.bench`` stays the
function): measure every strategy on exactly this call, now.

No factory, no YAML: the function and its arguments as the user's code calls them. The
measurement is ``adbench run``'s for one case (adbench.measure.case.measure_case: compile,
check against the reference, interleaved timing, stopping once settled), judged by
adbench.analysis.verdict, and displayed by the report's own renderers (adbench.render: a Rich
table in a terminal, an HTML table in a notebook). ``.save(dir)`` writes it as a results
directory that every ``adbench`` command reads.

The arguments are checked before anything is compiled (adbench.strategies.trees): a fault of
theirs is a ValueError naming the argument and the leaf path; an exception raised inside ``f``
propagates unchanged, with its own traceback.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["BenchResult", "bench"]


@dataclass(frozen=True)
class BenchResult:
    """One measured call: ``results`` / ``samples`` / ``verdicts`` / ``ranking`` are the tables
    a results directory holds (adbench.store.schema columns), ``meta`` its meta.json.

    ``recommended``: the fastest strategy beyond the tie margin, ``"tie"`` or ``"none"``;
    ``reason``: the evidence in one line; ``times``: strategy -> median seconds per call of
    those that ran. Displays as a table (``str()``, a notebook's ``_repr_html_``).
    """

    results: pd.DataFrame
    samples: pd.DataFrame
    verdicts: pd.DataFrame
    ranking: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> dict[str, Any]:
        """The verdict row (schema.VERDICT_COLUMNS)."""
        return dict(self.verdicts.iloc[0]) if len(self.verdicts) else {}

    @property
    def recommended(self) -> str:
        return str(self.verdict.get("recommended", "none"))

    @property
    def reason(self) -> str:
        v = self.verdict.get("reason", "")
        return "" if isinstance(v, float) and math.isnan(v) else str(v)

    @property
    def times(self) -> dict[str, float]:
        ok = self.results[self.results["status"] == "ok"]
        return {str(r["strategy"]): float(r["median_s"]) for _, r in ok.iterrows()}

    def _report(self) -> Any:
        from adbench.render import views
        from adbench.store.reader import Results

        res = Results(
            path=Path("adbench.bench"),
            results=self.results,
            samples=self.samples,
            verdicts=self.verdicts,
            meta=self.meta,
        )
        return views.build(res)

    def __str__(self) -> str:
        from rich.console import Console

        from adbench.render import terminal, views

        buf = io.StringIO()
        console = Console(file=buf, width=120, force_terminal=False, color_system=None)
        rep = self._report()
        console.print(terminal.verdict_table(rep))
        if views.many_strategies(rep):  # the crossover table needs sizes: not for one call
            console.print(terminal.ranking_table(rep))
        return buf.getvalue().rstrip("\n")

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from adbench.render import html, views

        rep = self._report()
        parts = [html.table(views.verdict_view(rep))]
        if views.many_strategies(rep):
            parts.append(html.table(views.ranking_view(rep)))
        return "\n".join(parts)

    def save(self, directory: str | Path, *, force: bool = False) -> Path:
        """Write a results directory (results.csv, samples.csv, verdicts.csv, ranking.csv,
        meta.json) that ``adbench report`` / ``show`` / ``compare`` read; refuses a non-empty
        directory unless ``force``. Returns its path."""
        from adbench.store import schema
        from adbench.store.writer import ResultsWriter, locked

        d = Path(directory)
        writer = ResultsWriter(d)
        writer.create(force=force)
        with locked(d):
            writer.write_meta(self.meta)
            cols = list(schema.RESULT_COLUMNS)
            results: list[dict[str, Any]] = self.results.reindex(columns=cols).to_dict("records")  # type: ignore[assignment]
            samples: list[dict[str, Any]] = self.samples.reindex(
                columns=list(schema.SAMPLE_COLUMNS)
            ).to_dict("records")  # type: ignore[assignment]
            writer.append_case(results, samples)
            writer.write_verdicts(self.verdicts)
            writer.write_ranking(self.ranking)
            writer.write_meta(self.meta)
        return d


def _label(f: Callable[..., Any]) -> str:
    name = getattr(f, "__name__", type(f).__name__)
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(name)).strip("_") or "f"
    return name if name[0].isalpha() else f"f_{name}"


def bench(
    f: Callable[..., Any],
    *args: Any,
    task: str = "jacobian",
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    per_example: int | None = None,
    strategies: Sequence[str] | None = None,
    time_budget_s: float = 2.0,
    device: str | None = None,
    tie_margin: float = 0.1,
    max_memory: int | None | str = "default",
    name: str | None = None,
) -> BenchResult:
    """Measure every strategy of ``task`` on ``f(*args)`` and return the verdict.

    ``args``: pytrees (arrays of any shape, dicts, tuples, Equinox modules); ``argnums``: the
    differentiated ones (an index or several); ``has_aux``: f returns (output, aux), aux is
    dropped; ``per_example``: the argument whose leading axis enumerates independent points
    (adds strategy ``per_example``; left out, the structure is looked for and offered when
    found, unless ``strategies`` are given). ``strategies``: names of the task's strategies
    (default: every one that needs no structure). ``time_budget_s``: timing seconds;
    ``device``: as ``adbench run --device`` (default: the first device); ``max_memory``: bytes
    for the memory guard, None for none, "default" for half the available memory. The
    floating leaves of every argument are taken in the differentiated leaves' dtype (float32
    or float64). On a CPU the calls are timed inline (``cpu_dispatch`` of a run file) when JAX
    has not made its CPU client yet; in a session that has already computed something they go
    through JAX's async dispatch, as that client was made; ``meta["cpu_dispatch"]`` says which.

    Raises ValueError for a fault of the arguments (naming the argument and the leaf path), the
    task or a strategy; what ``f`` itself raises propagates unchanged.
    """
    from adbench.analysis import decision
    from adbench.config.cases import Case
    from adbench.config.model import ConfigError, LoadedConfig, validate_mapping
    from adbench.measure import memory
    from adbench.measure.case import measure_case, stop_meta
    from adbench.measure.devices import select_devices, use_cpu_dispatch
    from adbench.session import sweep
    from adbench.store import schema
    from adbench.strategies import registry, trees
    from adbench.strategies.base import SCALAR_TASKS

    if task not in schema.TASKS:
        raise ValueError(f"unknown task {task!r}; choose from: {', '.join(schema.TASKS)}")
    if not callable(f):
        raise ValueError(f"f must be a function, got a {type(f).__name__}")
    for s in strategies or ():
        registry.get(task, s)  # ValueError naming the task's strategies
    st = trees.flatten(
        f, args, argnums, per_example=per_example, has_aux=has_aux, scalar=task in SCALAR_TASKS
    )
    dtype = str(st.x.dtype)
    if dtype not in ("float32", "float64"):
        raise ValueError(
            f"the differentiated arguments are {dtype}; adbench measures float32 or float64"
        )
    fn = (lambda *a: f(*a)[0]) if has_aux else f
    label = _label(f)
    family = name or label
    data: dict[str, Any] = {
        "name": family,
        "task": task,
        "dtype": dtype,
        "time_budget_s": time_budget_s,
        "tie_margin": tie_margin,
        # at least the rounds a verdict needs (fewer is "undecided" whatever the budget)
        "min_rounds": max(decision.MIN_ROUNDS, 5),
        "max_rounds": max(decision.MIN_ROUNDS, 50),
        "families": [
            {
                "name": family,
                "callable": f"adbench.benchmark:{label}",
                "points": [[st.d_in, st.d_out]],
                "argnums": list(st.argnums),
                **({"per_example": st.per_example.argnum} if st.per_example else {}),
                **({"strategies": list(strategies)} if strategies else {}),
            }
        ],
    }
    try:
        config = validate_mapping(data, Path("adbench.bench()"))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    loaded = LoadedConfig(config=config, path=Path.cwd() / "adbench.bench()", text_hash="")
    plan = loaded.plan(family)
    case = Case(
        family=family,
        d_in=st.d_in,
        d_out=st.d_out,
        source=f"bench:{getattr(f, '__qualname__', label)}",
        factory=lambda d_in, d_out: (fn, tuple(args)),
        task=task,
        strategies=plan.strategies,
        argnums=st.argnums,
        per_example=st.per_example.argnum if st.per_example else None,
        offer_detected=strategies is None,
    )
    budget = memory.default_budget() if max_memory == "default" else max_memory
    if budget is not None and not isinstance(budget, int):
        raise ValueError(f"max_memory must be bytes, None or 'default', got {max_memory!r}")
    settings = sweep.settings_from(loaded, max_memory_bytes=budget)
    # inline CPU dispatch if JAX has not started yet (a script); a session that has already
    # computed keeps JAX's async dispatch, and meta["cpu_dispatch"] says which was used
    use_cpu_dispatch(config.cpu_dispatch)
    devices = select_devices(device)  # ValueError naming the devices there are
    if not devices:
        raise ValueError(f"no device for {device!r}")
    dev = devices[0]
    meta = sweep.fingerprint(loaded, [dev])
    result = measure_case(case, dev, settings)
    from adbench.analysis.verdict import judge

    results = pd.DataFrame(result.result_rows()).reindex(columns=list(schema.RESULT_COLUMNS))
    samples = pd.DataFrame(result.sample_rows()).reindex(columns=list(schema.SAMPLE_COLUMNS))
    judged = judge(results, samples, margin=tie_margin)
    meta.update(
        command="adbench.bench()",
        measure="time",
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        settings={
            "tie_margin": tie_margin,
            "max_memory_bytes": settings.max_memory_bytes,
            **stop_meta(settings),
        },
    )
    return BenchResult(results, samples, judged.verdicts, judged.ranking, meta)
