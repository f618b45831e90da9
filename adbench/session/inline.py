"""A run file made from Python values: a factory object with its sizes and params, or a run
file's content as a dict (``adbench.run(factory, sizes=...)``, ``adbench.run({...})``).

The values are validated as a run file is (adbench.config.model.validate_mapping), so every
problem is a ConfigError naming the key. A factory importable as ``module:name`` becomes an
ordinary ``callable:`` family, which a child process (--case-timeout) can load again; any other
(a lambda, a closure, a notebook's function) gives already-built cases, measured in this
process only (adbench.session.checks refuses the options that need another process).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adbench.config.cases import Case
from adbench.config.model import ConfigError, LoadedConfig

WHERE = Path("adbench.run()")


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


def from_factory(
    factory: Callable[..., Any],
    sizes: Any,
    params: Mapping[str, Any] | None,
    name: str | None,
    settings: Mapping[str, Any],
) -> tuple[LoadedConfig, list[Case] | None]:
    """(config, cases) for a factory given as a Python object; cases None when the factory is
    importable (the config's families then build them, here and in any child process)."""
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
    where = WHERE
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
        return loaded, None
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
    return loaded, cases


def from_mapping(data: Mapping[str, Any]) -> LoadedConfig:
    """A run file's content given as a dict, validated as the file would be."""
    from adbench.config.model import validate_mapping

    text = json.dumps(dict(data), sort_keys=True, default=str)
    return LoadedConfig(
        config=validate_mapping(dict(data), WHERE),
        path=Path.cwd() / WHERE,
        text_hash=hashlib.sha256(text.encode()).hexdigest()[:16],
    )
