"""YAML run files -> validated :class:`RunConfig`. No JAX here.

Errors are :class:`ConfigError` with one line naming the file, the line and the key, e.g.
``my.yaml:7: families[1].d_out: sizes must be positive integers (got -3)``.

What a family measures (task, strategies, batch, chunk size, each given by the family or
inherited from the run) is resolved by adbench.config.plan; those checks need both levels, so they
run after pydantic's, on the validated config, and still name the line of the key at fault.

Longer than ~400 lines on purpose: the models, the YAML line tracking and the translation of
pydantic's errors into ``file:line: key: message`` need one another; the signature checks of
factories are in adbench.config.calls.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adbench.config import families, operators
from adbench.config import plan as planning
from adbench.config import search as searching

# re-exported: importers of adbench.config.model (session.inline) keep working
from adbench.config.calls import factory_call_problem as factory_call_problem
from adbench.config.calls import named_call_problem as named_call_problem
from adbench.errors import first_line
from adbench.store import schema

Task = Literal["jacobian", "hessian", "laplacian", "derivative", "biharmonic", "ntk"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(Exception):
    """A run file cannot be used. ``problems``: one line per fault, each naming the file, line
    and key; ``str(err)`` is those lines joined (one line when there is one fault)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


class SizeRange(BaseModel):
    """One dimension given as a range to search, ``{from: 10, to: 10000, search: crossover}``:
    adbench measures the ends and bisects where the verdict changes (adbench.config.search).
    Checked by :func:`_size_range`, which names the key at fault."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )

    low: int = Field(alias="from", ge=1, description="the smallest size, measured first")
    high: int = Field(alias="to", ge=1, description="the largest size, measured first; > from")
    search: Literal["crossover"] = Field(
        description="crossover: bisect (geometric midpoints) where the verdict changes"
    )
    resolution: float = Field(
        default=searching.DEFAULT_RESOLUTION,
        gt=1,
        description="stop when each change is bracketed within this factor (> 1)",
    )
    max_cases: int = Field(
        default=searching.DEFAULT_MAX_CASES,
        ge=searching.MIN_CASES,
        description="at most this many sizes, the two ends included (>= 2)",
    )


class RangeError(ValueError):
    """A fault in a size range; ``key`` is its sub-key at fault (None: the range itself), so
    the message points at that key's line."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key


_RANGE_KEYS = ("from", "to", "search", "resolution", "max_cases")
_RANGE_EXAMPLE = "{from: 10, to: 10000, search: crossover}"


def _size_range(v: Mapping[Any, Any]) -> SizeRange:
    """A size range from its mapping, or RangeError naming the sub-key at fault."""
    for key in v:
        if key not in _RANGE_KEYS:
            close = difflib.get_close_matches(str(key), _RANGE_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RangeError(
                str(key), f"unknown key in a size range{hint} (it takes {', '.join(_RANGE_KEYS)})"
            )
    for key in ("from", "to"):
        if key not in v:
            raise RangeError(None, f"a size range needs `from` and `to`: {_RANGE_EXAMPLE}")
        try:
            _check_size(v[key])
        except ValueError as exc:
            raise RangeError(key, str(exc)) from None
    if "search" not in v:
        raise RangeError(
            None,
            f"a size range needs `search: crossover` ({_RANGE_EXAMPLE}); "
            "for a fixed set of sizes give a list",
        )
    if v["search"] not in searching.SEARCHES:
        raise RangeError(
            "search", f"unknown search {v['search']!r}; valid: {', '.join(searching.SEARCHES)}"
        )
    if v["from"] >= v["to"]:
        raise RangeError(
            "to", f"the range is empty: `to` ({v['to']}) must be greater than `from` ({v['from']})"
        )
    res = v.get("resolution", searching.DEFAULT_RESOLUTION)
    if isinstance(res, bool) or not isinstance(res, int | float) or not math.isfinite(res):
        raise RangeError("resolution", f"must be a number > 1 (got {res!r})")
    if res <= 1:
        raise RangeError(
            "resolution",
            f"must be > 1: the factor within which each change is bracketed (got {res!r})",
        )
    most = v.get("max_cases", searching.DEFAULT_MAX_CASES)
    if isinstance(most, bool) or not isinstance(most, int) or most < searching.MIN_CASES:
        raise RangeError(
            "max_cases", f"must be an integer >= 2, the two ends included (got {most!r})"
        )
    return SizeRange.model_validate(dict(v))


def _listed(sizes: list[int] | SizeRange) -> list[int]:
    """The sizes of a list, or the two ends of a range (what is measured first)."""
    return [sizes.low, sizes.high] if isinstance(sizes, SizeRange) else sizes


class FamilySpec(BaseModel):
    """One family: a function factory and the sizes to measure it at.

    Sizes are ``d_in`` x ``d_out`` (or ``points``), the factory called ``factory(d_in, d_out,
    **params)``; or named factory parameters, ``sizes: {width: [16, 64], n_points: [100]}``,
    the factory called ``factory(width=16, n_points=100, **params)`` for each combination
    (d_in and d_out are then measured from what it returns). A factory returns ``fn``,
    ``(fn, x0)``, or ``(fn, args)`` with ``args`` a tuple of pytrees: ``argnums`` (default 0)
    names the differentiated ones, ``per_example`` the one whose leading axis enumerates
    independent points (adbench.strategies.trees).

    ``task``, ``strategies``, ``batch`` and ``chunk_size`` left out are inherited from the run
    (see :func:`family_plan`); ``d_out`` may be left out for the scalar tasks, where it is 1.

    Where new keys go: a key about *how one family is measured* (a task option such as
    ``wrt``, ``terms``, ``samples``, ``tolerance``) is a field here, in the block marked "task
    options" below, resolved with the run's value (if any) in adbench.config.plan.family_plan
    and carried on adbench.config.cases.Case; a run-wide setting is a field of RunConfig.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True
    )

    name: str = Field(pattern=NAME_PATTERN)
    builtin: str | None = None
    callable: str | None = None
    task: Task | None = None
    strategies: list[str] | None = Field(default=None, min_length=1)
    batch: int | None = Field(default=None, ge=1, strict=True)
    chunk_size: int | None = Field(default=None, ge=1, strict=True)
    d_in: list[int] | SizeRange | None = None
    d_out: list[int] | SizeRange | None = None
    points: list[tuple[int, int]] | None = None
    # named factory sizes (a grid, keys in the order given): see the class docstring
    named_sizes: dict[str, list[int]] | None = Field(default=None, alias="sizes")
    params: dict[str, Any] = Field(default_factory=dict)
    # the factory's (fn, args): which arguments are differentiated, which one holds points
    argnums: int | list[int] | None = None
    per_example: int | None = None
    # --- task options (other helpers add theirs here) ---
    # the operators of PINNs: checked against the task in adbench.config.operators.resolve
    wrt: operators.Wrt | None = None
    terms: list[operators.TermSpec] | None = Field(default=None, min_length=1)
    samples: int | None = Field(default=None, ge=1, strict=True)
    tolerance: float | None = Field(default=None, gt=0, lt=1)
    sparsity_threshold: float | None = Field(default=None, ge=0)

    @field_validator("named_sizes", mode="before")
    @classmethod
    def _named(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, dict) or not v:
            raise ValueError(
                "must map factory parameter names to lists of sizes, e.g. "
                "{width: [16, 64], n_points: [100, 1000]}"
            )
        out = {}
        for key, sizes in v.items():
            if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"size names are parameter names (got {key!r})")
            if key in ("d_in", "d_out"):
                raise ValueError(
                    f"{key!r} is measured for named sizes; give `d_in`/`d_out` lists instead "
                    "of `sizes`, or name the factory's own parameters"
                )
            if isinstance(sizes, int) and not isinstance(sizes, bool):
                sizes = [sizes]
            if not isinstance(sizes, list) or not sizes:
                raise ValueError(f"{key}: must be a non-empty list of positive integers")
            for s in sizes:
                try:
                    _check_size(s)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
            if len(set(sizes)) != len(sizes):
                raise ValueError(
                    f"{key}: size {next(s for s in sizes if sizes.count(s) > 1)} is listed twice"
                )
            out[key] = sizes
        return out

    @field_validator("argnums", mode="before")
    @classmethod
    def _argnums(cls, v: Any) -> Any:
        if v is None:
            return v
        many = v if isinstance(v, list) else [v]
        if not many:
            raise ValueError("must name at least one argument (an index, or a list of them)")
        for a in many:
            if isinstance(a, bool) or not isinstance(a, int) or a < 0:
                raise ValueError(
                    f"argument indices are integers >= 0 (got {a!r}); e.g. `argnums: 0` or "
                    "`argnums: [0, 2]`"
                )
        if len(set(many)) != len(many):
            raise ValueError(
                f"argument {next(a for a in many if many.count(a) > 1)} is listed twice"
            )
        return v

    @field_validator("per_example", mode="before")
    @classmethod
    def _per_example(cls, v: Any) -> Any:
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"must be an argument index, an integer >= 0 (got {v!r})")
        return v

    @property
    def arg_indices(self) -> tuple[int, ...]:
        """argnums as a tuple (default: argument 0)."""
        if self.argnums is None:
            return (0,)
        return tuple(self.argnums) if isinstance(self.argnums, list) else (self.argnums,)

    @field_validator("d_in", "d_out", mode="before")
    @classmethod
    def _sizes(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, int):  # `d_in: 1` means [1]; a bool is rejected below
            v = [v]
        if isinstance(v, dict):
            return _size_range(v)
        if not isinstance(v, list) or not v:
            raise ValueError(
                f"must be a non-empty list of positive integers, or a size range {_RANGE_EXAMPLE}"
            )
        for s in v:
            _check_size(s)
        return v

    @field_validator("points", mode="before")
    @classmethod
    def _points(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, list) or not v:
            raise ValueError("must be a non-empty list of [d_in, d_out] pairs")
        for p in v:
            if not isinstance(p, list | tuple) or len(p) != 2:
                raise ValueError(f"each point must be a pair [d_in, d_out] (got {p!r})")
            for s in p:
                _check_size(s)
        return v

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str] | None) -> list[str] | None:
        return _unique_names(v)

    @field_validator("callable")
    @classmethod
    def _callable(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[^:\s][^:]*:[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError(
                f'must look like "file.py:factory" or "package.module:factory" (got {v!r})'
            )
        return v

    @model_validator(mode="after")
    def _shape(self) -> FamilySpec:
        if (self.builtin is None) == (self.callable is None):
            raise ValueError("give exactly one of `builtin` or `callable`")
        if self.points is not None and (self.d_in is not None or self.d_out is not None):
            raise ValueError("give either `points` or a `d_in` x `d_out` grid, not both")
        if self.named_sizes is not None:
            if self.points is not None or self.d_in is not None or self.d_out is not None:
                raise ValueError(
                    "give either named `sizes` (the factory's own parameters) or "
                    "`d_in`/`d_out`/`points`, not both"
                )
            if self.builtin is not None:
                raise ValueError(
                    "named `sizes` call the factory by its parameter names: a `callable`; "
                    "builtins take d_in and d_out"
                )
            clash = sorted(set(self.named_sizes) & set(self.params))
            if clash:
                raise ValueError(f"{clash[0]!r} is given both in `sizes` and in `params`")
        elif self.points is None and self.d_in is None:
            raise ValueError(planning.NO_SIZES)
        if self.per_example is not None and self.per_example in self.arg_indices:
            raise ValueError(
                f"per_example {self.per_example} is a differentiated argument (argnums "
                f"{list(self.arg_indices)}); per_example names the data argument holding the "
                "points (for points of the differentiated input use `batch`)"
            )
        if self.builtin is not None and (self.argnums is not None or self.per_example is not None):
            raise ValueError(
                "`argnums` and `per_example` apply to a factory returning (fn, args); builtins "
                "return a function of one vector"
            )
        if self.builtin is not None:
            if self.builtin not in families.BUILTINS:
                valid = ", ".join(families.BUILTINS)
                raise ValueError(f"unknown builtin {self.builtin!r}; valid: {valid}")
            problem = families.BUILTINS[self.builtin].check_params(self.params)
            if problem:
                raise ValueError(problem)
        # sizes against the builtin's rule: in adbench.config.plan, once the task (and so d_out's
        # default) is known
        return self

    def named_grid(self) -> list[tuple[tuple[str, int], ...]]:
        """Every combination of the named sizes, the first key outermost (empty without them)."""
        if self.named_sizes is None:
            return []
        import itertools

        keys = list(self.named_sizes)
        combos = itertools.product(*(self.named_sizes[k] for k in keys))
        return [tuple(zip(keys, combo, strict=True)) for combo in combos]

    def sizes(self) -> list[tuple[int, int]]:
        """The (d_in, d_out) pairs in the order given: points, or the grid d_in-major.

        A grid without ``d_out`` (allowed for the scalar tasks) has d_out = 1; a size range
        stands for its two ends (the sizes in between are chosen while measuring). Named sizes
        have no declared pairs (they are measured): [].
        """
        if self.named_sizes is not None:
            return []
        if self.points is not None:
            return [(int(a), int(b)) for a, b in self.points]
        assert self.d_in is not None
        d_out = _listed(self.d_out) if self.d_out is not None else [1]
        return [(a, b) for a in _listed(self.d_in) for b in d_out]

    @property
    def source(self) -> str:
        return f"builtin:{self.builtin}" if self.builtin else f"callable:{self.callable}"


# A size is an array length. Past 2**40 (10^12) no array of it fits any machine, and a product
# of two sizes could overflow the int64 columns of the results; the memory guard (--max-memory)
# is the real limit, this cap only keeps absurd numbers out.
MAX_SIZE = 2**40


def _unique_names(v: list[str] | None) -> list[str] | None:
    if v is not None and len(set(v)) != len(v):
        twice = next(n for n in v if v.count(n) > 1)
        raise ValueError(f"strategy {twice!r} is listed twice")
    return v


def _check_size(s: Any) -> None:
    """Raise ValueError unless `s` is a size: an int in [1, MAX_SIZE] (d_in, d_out, batch)."""
    if isinstance(s, bool) or not isinstance(s, int):
        raise ValueError(f"sizes must be positive integers (got {s!r})")
    if s < 1:
        raise ValueError(f"sizes must be positive integers (got {s})")
    if s > MAX_SIZE:
        raise ValueError(
            f"sizes are at most 2**40 = {MAX_SIZE} (got {s}); the memory guard "
            "(--max-memory) refuses cases far smaller than that"
        )


class RunConfig(BaseModel):
    """A whole run file. Defaults are the documented ones (README, "Config reference")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="run", pattern=NAME_PATTERN)
    task: Task = "jacobian"
    # None: every strategy of the task; `modes` is the old name (run files of version 1)
    strategies: list[str] | None = Field(default=None, min_length=1)
    modes: list[str] | None = Field(default=None, min_length=1)
    batch: int = Field(default=1, ge=1, strict=True)
    chunk_size: int | None = Field(default=None, ge=1, strict=True)
    dtype: Literal["float32", "float64"] = "float32"
    seed: int = Field(default=0, ge=0, strict=True, description="the random inputs' seed, >= 0")
    jit: bool = True
    time_budget_s: float = Field(default=2.0, gt=0, description="timing seconds per case")
    min_sample_s: float = Field(default=0.005, gt=0, description="target length of one sample")
    min_rounds: int = Field(default=5, ge=1)
    max_rounds: int = Field(default=50, ge=1)
    stop_early: bool = Field(
        default=True,
        description="stop timing a case once its verdict is settled, checked at preset looks "
        "(false: every case spends its whole time budget)",
    )
    warmup: int = Field(default=1, ge=0)
    tie_margin: float = Field(default=0.10, ge=0, lt=1)
    max_case_s: float | None = Field(
        default=None,
        gt=0,
        description="timing seconds a case may spend past its budget to reach the rounds a "
        "verdict needs (default 3 x time_budget_s; docs/evidence.md)",
    )
    rtol: float | None = Field(default=None, gt=0)
    atol: float | None = Field(default=None, ge=0)
    families: list[FamilySpec] = Field(min_length=1)

    @field_validator("strategies", "modes")
    @classmethod
    def _strategies(cls, v: list[str] | None) -> list[str] | None:
        return _unique_names(v)

    @field_validator("families")
    @classmethod
    def _unique(cls, v: list[FamilySpec]) -> list[FamilySpec]:
        seen: set[str] = set()
        for f in v:
            if f.name in seen:
                raise ValueError(f"family name {f.name!r} is used twice")
            seen.add(f.name)
        return v

    @model_validator(mode="after")
    def _rounds(self) -> RunConfig:
        if self.max_rounds < self.min_rounds:
            raise ValueError("max_rounds must be >= min_rounds")
        return self

    @property
    def run_strategies(self) -> list[str] | None:
        """The run-level strategies, under either name (None: every strategy of a task)."""
        return self.strategies if self.strategies is not None else self.modes


class LoadedConfig(BaseModel):
    """A validated config with where it came from (callables resolve relative to `path`)."""

    model_config = ConfigDict(frozen=True)

    config: RunConfig
    path: Path
    text_hash: str
    # where each family's `callable`/`builtin` key sits, for errors found after validation
    family_lines: dict[str, int] = Field(default_factory=dict)
    # the line of every key and item, by its dotted location ("families[1].params")
    key_lines: dict[str, int] = Field(default_factory=dict)

    def plan(self, family: str) -> planning.FamilyPlan:
        """The family's task, strategies, batch, chunk size and sizes (see FamilyPlan)."""
        return planning.family_plan(self.config, family)

    def planned_strategies(self) -> dict[str, tuple[str, ...]]:
        """family -> the strategies each of its cases is measured with (resume checks that a
        stored case has a row for each)."""
        return {f.name: self.plan(f.name).strategies for f in self.config.families}

    def where(self, family: str, key: str | None = None) -> str:
        """`file:line: families[i]` of a family (`.key` added, on that key's line when known),
        for error messages."""
        names = [f.name for f in self.config.families]
        index = names.index(family) if family in names else None
        line = self.family_lines.get(family)
        if index is not None and key is not None:
            line = self.key_lines.get(f"families[{index}].{key}", line)
        loc = f"{self.path}:{line}" if line else str(self.path)
        if index is None:
            return loc
        return f"{loc}: families[{index}]" + (f".{key}" if key else "")


class _LineLoader(yaml.SafeLoader):
    """The YAML loader of run files: PyYAML's SafeLoader.

    SafeLoader never builds Python objects from tags such as !!python/object, so a run file can
    never execute code; such a tag is a ConfigError (see parse_config).
    """


# A run file is a few dozen values. Aliases can make a short file expand into billions of them
# ("billion laughs"); validating or hashing that would hang, so refuse it up front.
MAX_VALUES = 100_000
MAX_FILE_BYTES = 10 * 2**20


def _compose_lines(
    node: yaml.Node,
    path: tuple[Any, ...],
    out: dict[tuple[Any, ...], int],
    seen: set[int] | None = None,
) -> None:
    """Record the line of every key and item into `out`, keyed by its path; raise on a key
    given twice in one mapping (PyYAML would silently keep the last). Each node is visited
    once, so aliases (even recursive ones) cost nothing here."""
    seen = set() if seen is None else seen
    out[path] = node.start_mark.line + 1
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[Any, int] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            line = k.start_mark.line + 1
            if key in keys:
                where = _fmt_loc((*path, key))
                raise _DuplicateKey(line, f"{where}: key given twice (first on line {keys[key]})")
            keys[key] = line
            out[(*path, key)] = line
            _compose_lines(v, (*path, key), out, seen)
            out[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _compose_lines(v, (*path, i), out, seen)


class _DuplicateKey(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values `node` stands for once aliases are expanded (capped above MAX_VALUES)."""
    if id(node) in memo:
        return memo[id(node)]
    if id(node) in active:  # an alias to an enclosing node: infinite once expanded
        return MAX_VALUES + 1
    active.add(id(node))
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo, active)
        if total > MAX_VALUES:
            break
    active.discard(id(node))
    memo[id(node)] = total
    return total


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s


def _line_for(loc: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = FamilySpec if loc and loc[0] == "families" else RunConfig
    return [f.alias or name for name, f in model.model_fields.items()]


def _family(loc: tuple[Any, ...], data: Any) -> str:
    """``"family 'name': "`` for a location inside a family, else "" (the run level)."""
    if len(loc) < 2 or loc[0] != "families" or not isinstance(loc[1], int):
        return ""
    try:
        name = data["families"][loc[1]]["name"]
    except (KeyError, IndexError, TypeError):
        return f"family #{loc[1]}: "
    return f"family {name!r}: "


def _message(err: Mapping[str, Any], data: Any = None) -> tuple[tuple[Any, ...], str]:
    """Turn one pydantic error into (location, message) in adbench's words."""
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = err["type"]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, RangeError) and cause.key is not None:
        loc = (*loc, cause.key)  # the range's own key, on its own line
    if kind == "extra_forbidden":
        key = loc[-1]
        close = difflib.get_close_matches(str(key), _valid_keys(loc[:-1]), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return loc, f"unknown key{hint}"
    if kind == "missing":
        return loc, "required key is missing"
    if kind in ("model_type", "dict_type") and len(loc) == 2 and loc[0] == "families":
        return loc, (
            "each family must be a mapping (name, builtin or callable, sizes), "
            f"not {_kind(err.get('input'))}"
        )
    if kind == "too_short" and loc and loc[-1] in ("modes", "strategies"):
        return loc, (
            f"{_family(loc, data)}give at least one strategy, or leave the key out "
            "to measure every strategy of the task"
        )
    if kind == "literal_error" and loc and loc[-1] == "task":
        return loc, (
            f"{_family(loc, data)}unknown task {err.get('input')!r}; "
            f"choose from: {', '.join(schema.TASKS)}"
        )
    if loc == ("seed",):
        return loc, (
            f"must be an integer >= 0, the seed of numpy's random generator "
            f"(got {err.get('input')!r})"
        )
    if loc and loc[-1] in ("batch", "chunk_size") and len(loc) in (1, 3):
        return loc, f"{_family(loc, data)}must be an integer >= 1 (got {err.get('input')!r})"
    if kind == "string_pattern_mismatch":
        return loc, (
            "names may use ASCII letters (A-Z, a-z), digits, '_', '-' and '.', start with a "
            f"letter or digit, and be at most 64 characters (got {err.get('input')!r})"
        )
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    return loc, msg


def _plain_size(node: yaml.Node) -> int:
    """How many values `node` holds as written (each node counted once, aliases not expanded)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            stack.extend(x for pair in n.value for x in pair)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return len(seen)


def _too_big(node: yaml.Node, path: Path) -> str:
    """Why a run file past MAX_VALUES is refused: its own size, or its aliases."""
    plain = _plain_size(node)
    if plain <= MAX_VALUES:
        return (
            f"{path}: expands to more than {MAX_VALUES} values through YAML aliases "
            "(&anchor / *alias); a run file is plain, small data"
        )
    families = ""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == "families" and isinstance(v, yaml.SequenceNode):
                families = f" ({len(v.value)} families)"
    return (
        f"{path}: holds {plain} values{families}; a run file may hold at most {MAX_VALUES} "
        "values (keys, items and scalars); split it into several run files"
    )


def _problems(
    exc: ValidationError, path: Path, lines: Mapping[tuple[Any, ...], int], data: Any = None
) -> list[str]:
    """Every pydantic error as one `file:line: key: message` line, in file order.

    Echoes are dropped: a misspelt key also makes the key it meant "missing", and a location
    reported twice is said once.
    """
    errors = exc.errors()
    meant: set[tuple[Any, ...]] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            close = difflib.get_close_matches(str(loc[-1]), _valid_keys(loc[:-1]), n=1)
            if close:
                meant.add((*loc[:-1], close[0]))
    out: list[tuple[int, int, str]] = []
    said: set[tuple[Any, ...]] = set()
    for err in errors:
        loc, msg = _message(err, data)
        if loc in said or (err["type"] == "missing" and loc in meant):
            continue
        said.add(loc)
        # a key missing from the top level has no line of its own
        line = None if err["type"] == "missing" and len(loc) == 1 else _line_for(loc, lines)
        where = f"{path}:{line}" if line else str(path)
        key = _fmt_loc(loc)
        text = f"{where}: {key}: {msg}" if key else f"{where}: {msg}"
        # unknown keys first (they explain what follows), then file order, unplaced last
        out.append((err["type"] != "extra_forbidden", line if line else 10**9, text))
    return [text for *_, text in sorted(out, key=lambda t: (t[0], t[1]))]


def validate_mapping(data: Any, path: Path) -> RunConfig:
    """A RunConfig from already-parsed data (a dict from YAML or from Python code); every
    problem at once in one ConfigError. `path` names the source in messages."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the file must be a mapping of keys (name, families, ...), "
            f"not a {type(data).__name__}"
        )
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(*_problems(exc, path, {}, data)) from None
    _check_plans(config, path, {})
    return config


def _check_plans(config: RunConfig, path: Path, lines: Mapping[tuple[Any, ...], int]) -> None:
    """Each family's task, strategies, batch and chunk size fit together (adbench.config.plan);
    every family's problem is listed at once."""
    problems = []
    for i in range(len(config.families)):
        try:
            planning.plan(config, i)
        except planning.PlanError as exc:
            line = _line_for(exc.loc, lines)
            where = f"{path}:{line}" if line else str(path)
            problems.append(f"{where}: {_fmt_loc(exc.loc)}: {exc}")
    if problems:
        raise ConfigError(*problems)


def parse_config(text: str, path: Path) -> LoadedConfig:
    """Validate YAML text read from `path`. Raises ConfigError with a `file:line: key: message`
    line for every problem found."""
    lines: dict[tuple[Any, ...], int] = {}
    try:
        # compose first: it builds no objects, so the checks below run before any value exists
        node = yaml.compose(text, Loader=_LineLoader)
        if node is not None:
            if _expanded_size(node, {}, set()) > MAX_VALUES:
                raise ConfigError(_too_big(node, path))
            _compose_lines(node, (), lines)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        tag = re.search(r"tag '([^']*)'", str(exc.problem))
        name = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else ""
        what = f"YAML tag {name!r}" if tag else "this YAML construct"
        raise ConfigError(
            f"{where}: {what} is not allowed; a run file holds plain data "
            "(mappings, lists, strings, numbers)"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark, context = exc.problem_mark, exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        started = ""
        if exc.context and context is not None and (mark is None or context.line != mark.line):
            started = f" ({exc.context} started on line {context.line + 1})"
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem}{started}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {first_line(exc, with_type=False)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a run file") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; it needs at least a `families` list")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the file must be a mapping of keys (name, families, ...), "
            f"not a {type(data).__name__}"
        )
    if "families" in data and isinstance(data["families"], list) and not data["families"]:
        raise ConfigError(f"{path}:{lines.get(('families',), 1)}: families: the list is empty")
    if "families" in data and not isinstance(data["families"], list):
        raise ConfigError(
            f"{path}:{lines.get(('families',), 1)}: families: must be a list of families "
            f"(`- name: ...` items), not {_kind(data['families'])}"
        )
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(*_problems(exc, path, lines, data)) from None
    _check_plans(config, path, lines)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    family_lines = {}
    for i, fam in enumerate(config.families):
        key = "callable" if fam.callable is not None else "builtin"
        line = lines.get(("families", i, key))
        if line:
            family_lines[fam.name] = line
    key_lines = {_fmt_loc(loc): line for loc, line in lines.items() if loc}
    return LoadedConfig(
        config=config,
        path=path,
        text_hash=digest,
        family_lines=family_lines,
        key_lines=key_lines,
    )


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a run file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a YAML run file")
    if not p.is_file():  # a FIFO or a device such as /dev/zero could block or never end
        raise ConfigError(f"{p}: not a regular file")
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{p}: {p.stat().st_size} bytes; a run file is at most {MAX_FILE_BYTES} bytes"
            )
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return parse_config(text, p)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"a {type(value).__name__} ({value!r:.40})"


def default_config_path() -> Path:
    """configs/seed.yaml: in the checkout, or the copy shipped inside the package."""
    package = Path(__file__).resolve().parent.parent  # adbench/
    for candidate in (package.parent / "configs" / "seed.yaml", package / "data" / "seed.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("configs/seed.yaml not found; pass a run file: adbench run CONFIG")
