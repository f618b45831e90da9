"""What notebooks and user code import: :func:`run` a quick sweep, :func:`load_results` a stored
one. Nothing here imports JAX at module level.

``adbench.run(factory, sizes=[(1, 100), (100, 1)])`` measures through exactly the path
``adbench run`` takes (validated config, the sweep, the writer, a locked results directory) and
returns the same :class:`~adbench.store.reader.Results` that :func:`load_results` gives.

:func:`execute` is that shared path (the CLI calls it too): every path made absolute first, so
a factory that changes directory cannot move the results; the results directory locked for the
whole run.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from adbench.config.model import ConfigError, LoadedConfig
from adbench.dry_run import PlannedCase, RunPlan
from adbench.store.reader import Results, load_results

if TYPE_CHECKING:
    from adbench.config.cases import Case
    from adbench.measure.case import CaseResult, Settings
    from adbench.session.sweep import Engine, Planned


__all__ = ["Results", "execute", "load_results", "plan_run", "run", "select_families"]

_DEFAULT = "default"


def absolute(loaded: LoadedConfig) -> LoadedConfig:
    """`loaded` with its path absolute: callables and the worker resolve against it later, when
    the working directory may have changed."""
    return loaded.model_copy(update={"path": loaded.path.absolute()})


def select_families(loaded: LoadedConfig, cases: Sequence[Case], only: Sequence[str]) -> list[Case]:
    """The cases of the families named in `only` (all when empty); an unknown name is a
    ConfigError with the closest family name."""
    if not only:
        return list(cases)
    names = [f.name for f in loaded.config.families]
    problems = []
    for name in only:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"--only {name}: no such family in {loaded.path}{hint} (families: "
                f"{', '.join(names)})"
            )
    if problems:
        raise ConfigError(*problems)
    return [c for c in cases if c.family in set(only)]


# --------------------------------------------------------------------------- dry run


def plan_run(
    loaded: LoadedConfig,
    cases: Sequence[Case],
    *,
    budget_bytes: int | None,
    done: Collection[tuple[str, str]] = (),
) -> RunPlan:
    """The dry run of `cases`: nothing imported but the config, nothing measured."""
    from adbench.measure import memory

    itemsize = 8 if loaded.config.dtype == "float64" else 4
    rows = []
    for c in cases:
        need = memory.case_bytes(c.d_in, c.d_out, itemsize)
        rows.append(
            PlannedCase(
                case_id=c.case_id,
                family=c.family,
                d_in=c.d_in,
                d_out=c.d_out,
                memory_bytes=need,
                over_budget=budget_bytes is not None and need > budget_bytes,
                stored_on=tuple(sorted(d for cid, d in done if cid == c.case_id)),
            )
        )
    return RunPlan(tuple(rows), loaded.config.time_budget_s, budget_bytes)


# --------------------------------------------------------------------------- the run


def execute(
    loaded: LoadedConfig,
    cases: Sequence[Case],
    out_dir: Path,
    *,
    devices: Sequence[Any],
    max_memory_bytes: int | None = None,
    settings: Settings | None = None,
    resume: bool = False,
    force: bool = False,
    case_timeout_s: float | None = None,
    on_start: Callable[[Planned, int, int], None] | None = None,
    on_done: Callable[[Planned, CaseResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    engine: Engine | None = None,
    meta_extra: Mapping[str, Any] | None = None,
    measure: str = "time",
) -> Path:
    """Measure `cases` into `out_dir` (absolute), holding the directory's lock throughout.

    `settings` (built from the run file and `max_memory_bytes` when not given) and `engine`
    (adbench.session.engine_ray; default: this machine) go to run_sweep; `meta_extra` (the shard,
    the engine, device memory) is merged into meta.json. `measure`: "time", or "instructions"
    (CPU devices only, no engine: adbench.count.engine counts each strategy under valgrind instead
    of timing it; raises InstructionsUnavailable without valgrind). Raises ResultsError
    (LockedError: another run holds the directory; WriteError: a file could not be written) and
    KeyboardInterrupt; a case's own faults never raise.
    """
    from adbench.session.sweep import run_sweep, settings_from
    from adbench.store.writer import locked

    if measure not in ("time", "instructions"):
        raise ValueError(f"measure {measure!r}: expected time or instructions")
    out_dir = out_dir.absolute()
    loaded = absolute(loaded)
    settings = settings or settings_from(loaded, max_memory_bytes=max_memory_bytes)
    extra: dict[str, Any] = {**(meta_extra or {}), "measure": measure}
    with locked(out_dir):
        _check_resume_measure(out_dir, measure, resume)
        if measure == "instructions":
            engine = _counting_engine(
                loaded, settings, devices, out_dir, extra, engine, resume, case_timeout_s, on_note
            )
        return run_sweep(
            loaded,
            cases,
            devices,
            out_dir,
            settings=settings,
            resume=resume,
            force=force,
            case_timeout_s=case_timeout_s,
            on_start=on_start,
            on_done=on_done,
            on_note=on_note,
            engine=engine,
            meta_extra=extra,
        )


def _check_resume_measure(out_dir: Path, measure: str, resume: bool) -> None:
    """A resumed run measures as the stored one did: ResultsError otherwise."""
    from adbench.count.engine import resume_conflict
    from adbench.store import schema
    from adbench.store.reader import ResultsError, read_meta

    if resume and (out_dir / schema.META_FILE).is_file():
        why = resume_conflict(read_meta(out_dir), measure)
        if why:
            raise ResultsError(f"{out_dir}: cannot resume: {why}")


def _counting_engine(
    loaded: LoadedConfig,
    settings: Settings,
    devices: Sequence[Any],
    out_dir: Path,
    meta: dict[str, Any],
    engine: Engine | None,
    resume: bool,
    case_timeout_s: float | None,
    on_note: Callable[[str], None] | None,
) -> Engine:
    """measure="instructions": the engine of adbench.count.engine, after checking what it needs
    (valgrind, CPU devices, no other engine); a resumed run keeps the counts' record."""
    from adbench.count import engine as count
    from adbench.count.instructions import require_valgrind
    from adbench.store import schema
    from adbench.store.reader import read_meta

    if engine is not None:
        raise ValueError("measure='instructions' counts on this machine: no engine")
    if any(getattr(d, "platform", "cpu") != "cpu" for d in devices):
        raise ValueError("measure='instructions' counts CPU instructions: CPU devices only")
    require_valgrind()
    if resume and (out_dir / schema.META_FILE).is_file():
        previous = read_meta(out_dir)
        for key in (count.META_FINGERPRINT, count.META_RUN):
            if key in previous:
                meta[key] = previous[key]
    return count.CountingEngine(
        loaded, settings, meta, case_timeout_s=case_timeout_s, on_note=on_note
    )


def _identifier(text: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "factory"
    return ident if not ident[0].isdigit() else f"f_{ident}"


def _importable(factory: Callable[..., Any]) -> str | None:
    """``module:name`` when `factory` can be imported again by that name (a child process can
    then load it: --case-timeout), else None (a lambda, a closure, a notebook's function)."""
    module, qual = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if not module or module == "__main__" or not qual.isidentifier():
        return None
    try:
        found = getattr(importlib.import_module(module), qual, None)
    except Exception:
        return None
    return f"{module}:{qual}" if found is factory else None


def _points(sizes: Any) -> list[list[int]]:
    """sizes: [(d_in, d_out), ...] or {"d_in": [...], "d_out": [...]} (a grid)."""
    if isinstance(sizes, Mapping):
        unknown = set(sizes) - {"d_in", "d_out"}
        if unknown or not {"d_in", "d_out"} <= set(sizes):
            raise ConfigError("adbench.run(): sizes: a grid is {'d_in': [...], 'd_out': [...]}")
        d_in, d_out = sizes["d_in"], sizes["d_out"]
        d_in = [d_in] if isinstance(d_in, int) else list(d_in)
        d_out = [d_out] if isinstance(d_out, int) else list(d_out)
        return [[a, b] for a in d_in for b in d_out]
    if sizes is None:
        raise ConfigError("adbench.run(): sizes: give [(d_in, d_out), ...] for a factory")
    return [list(p) if isinstance(p, list | tuple) else p for p in sizes]


def _from_factory(
    factory: Callable[..., Any],
    sizes: Any,
    params: Mapping[str, Any] | None,
    name: str | None,
    settings: Mapping[str, Any],
) -> tuple[LoadedConfig, list[Case], bool]:
    """(config, cases, importable) for a factory given as a Python object."""
    from adbench.config.cases import Case, expand
    from adbench.config.model import NAME_PATTERN, factory_call_problem, validate_mapping

    label = getattr(factory, "__name__", "factory")
    run_name = name or re.sub(r"[^A-Za-z0-9_.-]", "_", label).strip("_.-")[:64] or "run"
    if not re.fullmatch(NAME_PATTERN, run_name):
        run_name = "run"
    spec = _importable(factory)
    module = getattr(factory, "__module__", None) or "python"
    given = dict(params or {})
    family = {
        "name": run_name,
        "callable": spec or f"{module}:{_identifier(label)}",
        "points": _points(sizes),
        "params": given,
    }
    data = {"name": run_name, **settings, "families": [family]}
    where = Path("adbench.run()")
    config = validate_mapping(data, where)
    why = factory_call_problem(factory, given, label)
    if why:
        raise ConfigError(f"{where}: params: {why}")
    text = json.dumps(data, sort_keys=True, default=str)
    loaded = LoadedConfig(
        config=config,
        path=Path.cwd() / "adbench.run()",
        text_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
    )
    if spec is not None:
        return loaded, expand(loaded), True
    fam = config.families[0]
    cases = [
        Case(
            family=fam.name,
            d_in=d_in,
            d_out=d_out,
            source=fam.source,
            factory=factory,
            params=MappingProxyType(dict(fam.params)),
        )
        for d_in, d_out in dict.fromkeys(fam.sizes())
    ]
    return loaded, cases, False


def run(
    target: Callable[..., Any] | str | os.PathLike[str] | Mapping[str, Any],
    *,
    sizes: Sequence[tuple[int, int]] | Mapping[str, Sequence[int]] | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    out: str | os.PathLike[str] | None = None,
    device: str | None = None,
    resume: bool = False,
    force: bool = False,
    max_memory: int | str | None = _DEFAULT,
    case_timeout: float | None = None,
    only: Sequence[str] = (),
    **settings: Any,
) -> Results:
    """Measure and return the results, as ``adbench run`` would store them.

    target: a factory ``factory(d_in, d_out, **params) -> fn | (fn, x0)`` with `sizes`
    (``[(d_in, d_out), ...]`` or ``{"d_in": [...], "d_out": [...]}``) and `params`; or a run
    file's path; or a run file's content as a dict. `settings` are run-file keys (``modes``,
    ``dtype``, ``time_budget_s``, ...) for a factory. `out`: the results directory (default: a
    new temporary one, kept: ``results.path``). `max_memory`: bytes, ``None`` for no guard, or
    the default (half the available memory). `case_timeout` needs a run file, or a factory
    importable by ``module:name`` (the child process that enforces it must load the factory).

    Raises ConfigError (every problem listed) and ResultsError; a failing case is recorded in
    its rows (``status``, ``reason``), as on the command line.
    """
    from adbench.config.cases import expand
    from adbench.config.model import load_config, validate_mapping
    from adbench.measure import memory
    from adbench.measure.case import select_devices

    if callable(target):
        loaded, cases, importable = _from_factory(target, sizes, params, name, settings)
        if case_timeout is not None and not importable:
            raise ValueError(
                "case_timeout runs cases in a child process, which must import the factory: "
                "define it at the top level of a module (not __main__, not a lambda)"
            )
    else:
        if sizes is not None or params is not None or settings:
            raise TypeError("sizes, params and run-file keys go with a factory, not a run file")
        if isinstance(target, Mapping):
            where = Path("adbench.run()")
            text = json.dumps(dict(target), sort_keys=True, default=str)
            loaded = LoadedConfig(
                config=validate_mapping(dict(target), where),
                path=Path.cwd() / "adbench.run()",
                text_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
            )
        else:
            loaded = load_config(Path(target))
        cases = expand(loaded)
    cases = select_families(loaded, cases, only)
    loaded = absolute(loaded)
    if out is None:
        out_dir = Path(tempfile.mkdtemp(prefix=f"adbench-{loaded.config.name}-"))
    else:
        out_dir = Path(out).absolute()
    budget = memory.default_budget() if max_memory == _DEFAULT else max_memory
    if isinstance(budget, str):
        raise ValueError(f"max_memory: bytes as an int, None or 'default' (got {max_memory!r})")
    notes: list[str] = []
    execute(
        loaded,
        cases,
        out_dir,
        devices=select_devices(device),
        max_memory_bytes=budget,
        resume=resume,
        force=force,
        case_timeout_s=case_timeout,
        on_note=notes.append,
    )
    res = load_results(out_dir)
    res.notes[:0] = notes
    return res
