"""The run file's pydantic models: :class:`FamilySpec` (one family), :class:`RunConfig` (the
whole file), :class:`LoadedConfig` (a validated file with where each key sits) and
:class:`ConfigError`. No JAX here.

Reading YAML with line numbers and turning pydantic's errors into ``file:line: key: message``
is adbench.config.model; a family's sizes (lists, searched ranges) are adbench.config.sizes;
what a family resolves to (task, strategies, batch, chunk size) is adbench.config.plan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adbench.config import families, operators
from adbench.config import plan as planning
from adbench.config.sizes import _RANGE_EXAMPLE, SizeRange, _check_size, _listed, _size_range

Task = Literal["jacobian", "hessian", "laplacian", "derivative", "biharmonic", "ntk"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(Exception):
    """A run file cannot be used. ``problems``: one line per fault, each naming the file, line
    and key; ``str(err)`` is those lines joined (one line when there is one fault)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


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


def _unique_names(v: list[str] | None) -> list[str] | None:
    if v is not None and len(set(v)) != len(v):
        twice = next(n for n in v if v.count(n) > 1)
        raise ValueError(f"strategy {twice!r} is listed twice")
    return v


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
    cpu_dispatch: Literal["inline", "async"] = Field(
        default="inline",
        description="how JAX's CPU client runs each timed call: inline, in the calling thread, "
        "or async, handed to XLA's worker threads (JAX's default; its hand-over moves a 10-20 us "
        "strategy's time between processes: adbench.measure.devices)",
    )
    tie_margin: float = Field(default=0.10, ge=0, lt=1)
    max_case_s: float | None = Field(
        default=None,
        gt=0,
        description="timing seconds a case may spend past its budget to reach the rounds a "
        "verdict needs (default 3 x time_budget_s, and at least twice what those rounds "
        "cost: measure.timing.default_cap; docs/evidence.md)",
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
