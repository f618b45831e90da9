"""Every check of a run, in one place, before anything is measured or written.

:func:`prepare` turns a :class:`~adbench.session.request.RunRequest` into a
:class:`Prepared` run or refuses it with a typed, one-line error:

* RequestError: options that do not go together or a value out of range (exit 2);
* ConfigError (adbench.config.model): the run file, every problem listed (exit 2);
* ResultsError (adbench.store): a results directory this run may not write into (exit 2).

The order is the cheap checks first: options alone, then the run file, then the results
directory, then (for a run that measures) valgrind and JAX's devices — so a typo costs no JAX
import, and a refused run leaves nothing on disk (no directory, no meta.json).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adbench.config.cases import Case
from adbench.config.model import ConfigError, LoadedConfig
from adbench.dry_run import PlannedCase, RunPlan
from adbench.session import request as rq
from adbench.session import shard as sharding
from adbench.session.request import RequestError, RunRequest

_CLAIM_TRIES = 100  # default directories of one name and second, -2 ... -100


@dataclass(frozen=True)
class Prepared:
    """A run that passed every check: what :func:`adbench.session.runner.execute` measures.

    `loaded` has an absolute path (a factory that changes directory cannot move anything);
    `cases` are those of `--only` and the shard; `budget` the memory guard's bytes (None: off);
    `plan` the dry run (set only when the request asked for one); `devices` this machine's JAX
    devices to measure on (empty for a dry run and for Ray, whose nodes are asked when it
    starts); `meta_extra` what meta.json records beyond the fingerprint (shard, device memory).
    """

    request: RunRequest
    loaded: LoadedConfig
    cases: tuple[Case, ...]
    out_dir: Path
    out_is_default: bool
    budget: int | None
    budget_is_default: bool
    shard: sharding.Shard | None
    plan: RunPlan | None = None
    devices: tuple[Any, ...] = ()
    meta_extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def counting(self) -> bool:
        return self.request.measure == "instructions"

    @property
    def use_ray(self) -> bool:
        return self.request.engine == "ray"

    def searches(self) -> list[tuple[str, str, int]]:
        """(family, its searched range in words, how many sizes beyond its two ends) for each
        family of the run that searches a size range (adbench.config.search)."""
        from adbench.session.sweep import searched_families

        return [
            (name, spec.describe(), spec.max_cases - 2)
            for name, (spec, _) in searched_families(self.loaded, self.cases).items()
        ]


def check_options(req: RunRequest) -> tuple[sharding.Shard | None, int | None, bool]:
    """The options alone, before any file is read: (shard, budget bytes, budget is default)."""
    rq.check_choice("--engine", req.engine, rq.ENGINES)
    rq.check_choice("--measure", req.measure, rq.MEASURES)
    rq.check_choice("--device", req.device, rq.DEVICES)
    if req.resume and req.force:
        raise RequestError("--resume and --force cannot be combined")
    use_ray = req.engine == "ray"
    if req.address is not None and not use_ray:
        raise RequestError("--address needs --engine ray")
    if use_ray and req.case_timeout is not None:
        raise RequestError("--case-timeout is not supported with --engine ray yet")
    counting = req.measure == "instructions"
    if counting and req.device not in (None, "cpu"):
        raise RequestError(
            f"--measure instructions counts CPU instructions under valgrind, not on "
            f"--device {req.device}: use --device cpu or leave it out"
        )
    if counting and use_ray:
        raise RequestError(
            "--measure instructions counts on this machine, in one process: not with --engine ray"
        )
    rq.check_case_timeout(req.case_timeout)
    if req.cases is not None and req.config is not None:
        raise RequestError("give cases with a loaded config, not with a run file's path")
    if req.cases is not None and (req.case_timeout is not None or use_ray or counting):
        raise RequestError(
            "case_timeout, --engine ray and --measure instructions rebuild each case from the "
            "run file in another process, which must import the factory: define it at the top "
            "level of a module (not __main__, not a lambda)"
        )
    try:
        chosen = sharding.parse_shard(req.shard) if req.shard is not None else None
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    budget, is_default = rq.memory_budget(req.max_memory)
    return chosen, budget, is_default


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


def _load(req: RunRequest) -> tuple[LoadedConfig, list[Case]]:
    from adbench.config.cases import expand
    from adbench.config.model import default_config_path, load_config

    if req.loaded is not None:
        loaded = req.loaded
        cases = list(req.cases) if req.cases is not None else expand(loaded)
    else:
        loaded = load_config(req.config if req.config is not None else default_config_path())
        if not req.dry_run and any(f.callable is not None for f in loaded.config.families):
            # a user's module that computes as it is imported makes JAX's CPU client while the
            # cases are expanded: the run's mode first, or that client keeps JAX's default
            from adbench.measure.devices import use_cpu_dispatch

            use_cpu_dispatch(loaded.config.cpu_dispatch)
        cases = expand(loaded)
    cases = select_families(loaded, cases, req.only)
    # absolute from here on: a factory that changes directory cannot move the results
    return loaded.model_copy(update={"path": loaded.path.absolute()}), cases


def default_out(name: str, shard: sharding.Shard | None, now: dt.datetime | None = None) -> Path:
    """results/<name>-<stamp>[-shard<I>of<N>]: the shard in the name, so shards started in the
    same second on one file system never pick the same directory (execute claims the name
    atomically and adds -2, -3, ... if another run took it first)."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    tail = f"-shard{shard.index}of{shard.count}" if shard is not None else ""
    return Path("results") / f"{name}-{stamp}{tail}"


def prepare(req: RunRequest) -> Prepared:
    """Check and resolve everything `req` asks for (see the module docstring)."""
    chosen, budget, budget_is_default = check_options(req)
    loaded, cases = _load(req)
    if chosen is not None or req.engine == "ray":
        from adbench.session.sweep import searched_families

        if searched := searched_families(loaded, cases):
            how = f"--shard {chosen}" if chosen is not None else "--engine ray"
            name, (first, _) = next(iter(searched.items()))
            raise RequestError(
                f"{loaded.where(name, first.axis)}: a searched size range chooses each size "
                f"from the ones measured before it, so it cannot run with {how}; "
                "run it on one machine (--only FAMILY)"
            )
    meta: dict[str, Any] = {}
    if chosen is not None:
        mine = sharding.select(cases, chosen, time_budget_s=loaded.config.time_budget_s)
        if not mine:
            raise RequestError(
                f"--shard {chosen}: no case falls in this shard ({len(cases)} case(s) in all)"
            )
        meta["shard"] = sharding.describe(chosen, mine, len(cases))
        cases = mine
    if req.out is not None:
        out_dir, is_default = Path(req.out).absolute(), False
    elif req.default_out == "temporary":  # made by execute (tempfile.mkdtemp)
        import tempfile

        out_dir = Path(tempfile.gettempdir()) / f"adbench-{loaded.config.name}-XXXXXXXX"
        is_default = True
    else:
        out_dir, is_default = default_out(loaded.config.name, chosen).absolute(), True
    base = Prepared(
        request=req,
        loaded=loaded,
        cases=tuple(cases),
        out_dir=out_dir,
        out_is_default=is_default,
        budget=budget,
        budget_is_default=budget_is_default,
        shard=chosen,
        meta_extra=meta,
    )
    if req.dry_run:
        from dataclasses import replace

        return replace(base, plan=plan_run(base))
    return _claimed(_ready(base))


def _ready(p: Prepared) -> Prepared:
    """The checks of a run that will measure: valgrind, the results directory, the devices."""
    from dataclasses import replace

    from adbench.session.sweep import check_target

    req = p.request
    if p.counting:
        from adbench.count.instructions import InstructionsUnavailable, require_valgrind

        try:
            require_valgrind()
        except InstructionsUnavailable as exc:
            raise RequestError(str(exc)) from None
    if not p.out_is_default:  # a default directory is new: claimed when the run starts
        check_target(
            p.out_dir, p.loaded, resume=req.resume, force=req.force, measure=req.measure,
            shard=p.shard,
        )  # fmt: skip
    if p.use_ray:  # the nodes' devices are known once Ray is up (adbench.session.runner)
        return p
    case_env = dict(os.environ)  # what cases run with (a --case-timeout child too)
    if req.case_timeout is not None:
        from adbench.session.worker import prepare_parent

        prepare_parent()
    from adbench.measure.devices import select_devices, use_cpu_dispatch
    from adbench.measure.memory import device_report

    use_cpu_dispatch(p.loaded.config.cpu_dispatch)  # before JAX makes its CPU client
    try:
        devices = select_devices("cpu" if p.counting else req.device)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    devices = devices[:1] if p.counting else devices  # one process counts one CPU
    meta = dict(p.meta_extra)
    if accelerators := device_report(devices, case_env):
        meta["device_memory"] = accelerators
    return replace(p, devices=tuple(devices), meta_extra=meta)


def _claimed(p: Prepared) -> Prepared:
    """`p` with its results directory made, when it is a default one: the last step, so a
    refused run leaves nothing; the name is taken atomically (mkdir), so two runs started in
    the same second never share it: the second takes <name>-2, -3, ... A temporary default
    is a new tempfile.mkdtemp directory."""
    from dataclasses import replace

    if not p.out_is_default:
        return p
    if p.request.default_out == "temporary":
        import tempfile

        made = Path(tempfile.mkdtemp(prefix=f"adbench-{p.loaded.config.name}-"))
        return replace(p, out_dir=made)
    try:
        p.out_dir.parent.mkdir(parents=True, exist_ok=True)
        for k in range(1, _CLAIM_TRIES + 1):
            candidate = p.out_dir if k == 1 else p.out_dir.with_name(f"{p.out_dir.name}-{k}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return replace(p, out_dir=candidate)
    except OSError as exc:
        from adbench.store.writer import WriteError

        raise WriteError(p.out_dir, exc) from None
    raise RequestError(f"{p.out_dir}: {_CLAIM_TRIES} directories of that name exist; give --out")


def plan_run(p: Prepared) -> RunPlan:
    """The dry run of a prepared run: nothing imported but the config, nothing measured; on
    --resume, which devices each case is already stored on."""
    from adbench.measure import memory
    from adbench.store.repair import completed_keys

    done: set[tuple[str, str]] = set()
    if p.request.resume and p.out_dir.is_dir():
        done = set(completed_keys(p.out_dir, p.loaded.planned_strategies()))
    itemsize = 8 if p.loaded.config.dtype == "float64" else 4
    rows = []
    for c in p.cases:
        need = memory.case_bytes(c.d_in, c.d_out, itemsize)
        rows.append(
            PlannedCase(
                case_id=c.case_id,
                family=c.family,
                d_in=c.d_in,
                d_out=c.d_out,
                memory_bytes=need,
                over_budget=p.budget is not None and need > p.budget,
                stored_on=tuple(sorted(d for cid, d in done if cid == c.case_id)),
            )
        )
    return RunPlan(tuple(rows), p.loaded.config.time_budget_s, p.budget)
