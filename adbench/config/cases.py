"""Expand a validated config into cases, and find each family's factory.

A case is one (family, d_in, d_out) with its family's task, strategies, batch and chunk size (see
``config.FamilyPlan``); it is measured once per device, with every planned strategy.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adbench.config import families
from adbench.config.calls import factory_call_problem, named_call_problem
from adbench.config.model import ConfigError, FamilySpec, LoadedConfig
from adbench.errors import first_line
from adbench.store import schema

Factory = Callable[..., Any]


@dataclass(frozen=True)
class Case:
    """One (family, d_in, d_out) to measure; `factory(d_in, d_out, **params)` builds it, or
    `factory(**sizes, **params)` for a family of named ``sizes`` (((name, value), ...); d_in
    and d_out are then 0 until measured from what the factory returns).

    ``task``: what is differentiated (schema.TASKS); ``strategies``: how (names of
    ``schema.STRATEGIES[task]``, the classic two by default); ``batch``: B > 1 evaluates the
    derivative at B points at once (``jax.vmap``; input (B, d_in)); ``chunk_size``: the chunked
    strategies' chunk, None = the largest that fits the memory budget.
    """

    family: str
    d_in: int
    d_out: int
    source: str
    factory: Factory = field(repr=False, compare=False)
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    task: str = "jacobian"
    strategies: tuple[str, ...] = schema.MODES
    batch: int = 1
    chunk_size: int | None = None
    sizes: tuple[tuple[str, int], ...] = ()
    argnums: tuple[int, ...] = (0,)
    per_example: int | None = None
    offer_detected: bool = True
    task_params: Any = field(default=None, compare=False)  # operator tasks' TaskParams

    @property
    def case_id(self) -> str:
        return schema.case_id(self.family, self.d_in, self.d_out, self.batch, self.sizes)

    def make(self) -> Any:
        """What the factory returns for this case (its exceptions propagate)."""
        if self.sizes:
            return self.factory(**dict(self.sizes), **dict(self.params))
        return self.factory(self.d_in, self.d_out, **dict(self.params))


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _public_callables(module: Any) -> list[str]:
    return [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)]


def _load_module_from_file(file: Path, spec_text: str, where: str) -> Any:
    if not file.is_file():
        near = sorted(p.name for p in file.parent.glob("*.py")) if file.parent.is_dir() else []
        raise ConfigError(
            f"{where}: callable {spec_text!r}: no such file {file}{_did_you_mean(file.name, near)}"
        )
    name = f"adbench_user_{file.stem}_{abs(hash(str(file))) % 10**8}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: callable {spec_text!r}: cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    # the user's file may import its neighbours
    sys.path.insert(0, str(file.parent))
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a user file calling sys.exit() is an error too
        raise ConfigError(
            f"{where}: callable {spec_text!r}: importing {file} raised {first_line(exc)}"
        ) from None
    finally:
        if str(file.parent) in sys.path:  # unless the user's module removed it itself
            sys.path.remove(str(file.parent))
    sys.modules[name] = module
    return module


def resolve_factory(spec: FamilySpec, config_path: Path, where: str = "") -> Factory:
    """The factory of a family: a built-in, or the user's `file.py:name` / `module:name`.

    A file path is relative to the directory of the run file at `config_path`.
    """
    if spec.builtin is not None:
        return families.get_builtin(spec.builtin).factory
    assert spec.callable is not None
    base = config_path.absolute().parent  # absolute: a later os.chdir cannot move it
    where = f"{where or config_path}.callable"
    target, _, attr = spec.callable.rpartition(":")
    if target.endswith(".py") or "/" in target or "\\" in target:
        file = Path(target)
        file = file if file.is_absolute() else base / file
        module = _load_module_from_file(file, spec.callable, where)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(
                f"{where}: callable {spec.callable!r}: cannot import module {target!r} "
                f"({first_line(exc)})"
            ) from None
        except (Exception, SystemExit) as exc:
            raise ConfigError(
                f"{where}: callable {spec.callable!r}: importing {target!r} raised "
                f"{first_line(exc)}"
            ) from None
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            f"{where}: callable {spec.callable!r}: {target} has no attribute {attr!r}"
            f"{_did_you_mean(attr, _public_callables(module))}"
        ) from None
    if not callable(factory):
        raise ConfigError(f"{where}: callable {spec.callable!r}: {attr!r} is not callable")
    return factory


def expand(loaded: LoadedConfig) -> list[Case]:
    """All cases of a config, families in file order, sizes in the order given.

    Every factory is resolved here, so an unimportable callable fails before anything runs.
    """
    cases: list[Case] = []
    seen: set[str] = set()
    problems: list[str] = []
    for spec in loaded.config.families:
        try:
            factory = resolve_factory(spec, loaded.path, loaded.where(spec.name))
        except ConfigError as exc:  # every family's problem is listed, not only the first
            problems.extend(exc.problems)
            continue
        plan = loaded.plan(spec.name)
        if spec.callable is not None:
            name = spec.callable.rpartition(":")[2]
            if plan.named:
                why = named_call_problem(factory, [k for k, _ in plan.named[0]], spec.params, name)
                key = "sizes"
            else:
                why = factory_call_problem(factory, spec.params, name)
                key = "params"
            if why:
                problems.append(f"{loaded.where(spec.name, key)}: {why}")
                continue
        common = {
            "argnums": plan.argnums,
            "per_example": plan.per_example,
            "offer_detected": not plan.explicit,
        }
        for named in plan.named:
            case = Case(
                family=spec.name,
                d_in=0,
                d_out=0,
                source=spec.source,
                factory=factory,
                params=MappingProxyType(dict(spec.params)),
                task=plan.task,
                strategies=plan.strategies,
                batch=plan.batch,
                chunk_size=plan.chunk_size,
                sizes=named,
                task_params=plan.task_params,
                **common,  # type: ignore[arg-type]
            )
            if case.case_id not in seen:
                seen.add(case.case_id)
                cases.append(case)
        for d_in, d_out in plan.sizes:
            case = Case(
                family=spec.name,
                d_in=d_in,
                d_out=d_out,
                source=spec.source,
                factory=factory,
                params=MappingProxyType(dict(spec.params)),
                task=plan.task,
                strategies=plan.strategies,
                batch=plan.batch,
                chunk_size=plan.chunk_size,
                task_params=plan.task_params,
                **common,  # type: ignore[arg-type]
            )
            if case.case_id in seen:  # the same point listed twice is measured once
                continue
            seen.add(case.case_id)
            cases.append(case)
    if problems:
        raise ConfigError(*problems)
    return cases
