"""The callable behind ``adbench.jacobian(f)`` and the other tasks: :class:`AutoDerivative`.

It takes what ``jax.jacfwd(f, argnums, has_aux, holomorphic)`` takes and returns its structure
(:mod:`adbench.auto.signature`); per key (tree structures, leaf shapes and dtypes of every
argument, argnums, has_aux, batch, device) it decides once which strategy computes it and keeps
the :class:`~adbench.auto.choice.Choice`. Deciding, in order: a forced ``strategy``; a policy
entry for the family, task, batch, device kind and size; ``calibrate=True``: a short interleaved
timing; otherwise the static prediction from XLA's costs. A function that cannot be traced runs
eagerly under JAX's own transform (``source`` "eager"). Pickles like ``jax.jacfwd(f)``: the lock
and the decisions (compiled executables) are left out and rebuilt on first use.

Longer than ~400 lines on purpose: it is one class whose constructor checks every option and
whose ``_decide`` applies them in one stated order (forced, policy, calibration, prediction); the
pieces that stand alone already live beside it (signature, program, choice, eager, per_example).
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from adbench import fmt
from adbench.analysis import policy as pol
from adbench.analysis import predict as pr
from adbench.auto import choice as ch
from adbench.auto import eager, signature
from adbench.auto.program import Program, bound, build
from adbench.errors import first_line
from adbench.measure.calibrate import calibrate, random_inputs
from adbench.strategies import registry as S
from adbench.strategies.base import SCALAR_TASKS

AUTO = "auto"


def default_strategies(task: str) -> tuple[str, ...]:
    """The candidates when ``strategies`` is not given, read from the registry.

    Jacobian: jacfwd and jacrev. Not linearize: XLA counts the flops of jacfwd for it (within
    0.1% on every case of benchmarks/auto_accuracy.py, bytes within 22%), so a prediction has next
    to nothing to tell them apart by, while its time there ranged from 0.8x to 1.8x jacfwd's; not
    the chunked ones (a chunk size is a choice of its own) nor sparse (a BCOO result). Every other
    task: each of its strategies with a dense result, no chunk size and no randomness (a
    ``stochastic`` strategy estimates, it does not compute), so a strategy added to the registry
    joins automatically.
    """
    names = S.names(task)
    if task == "jacobian":
        return ("jacfwd", "jacrev")
    return tuple(
        n
        for n in names
        if (s := S.get(task, n)).dense
        and not s.chunked
        and not s.stochastic
        and not s.structured  # per_example: a candidate when per_example=K says where points are
    )


def _named(task: str, name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"{where}: a strategy is a name, got {name!r}")
    try:
        S.get(task, name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return name


def _untraceable() -> tuple[type[Exception], ...]:
    """What JAX raises when f's Python code needs a value while being traced: such an f may
    still run eagerly under jax.jacfwd (its primal values are concrete there)."""
    import jax

    return (
        jax.errors.ConcretizationTypeError,
        jax.errors.TracerArrayConversionError,
        jax.errors.TracerIntegerConversionError,
    )


class AutoDerivative:
    """The callable returned by :func:`adbench.jacobian`, :func:`~adbench.hessian`,
    :func:`~adbench.laplacian`: ``d(*args)`` as JAX's transform of the task would return it."""

    def __init__(
        self,
        task: str,
        f: Callable[..., Any],
        strategy: str = AUTO,
        *,
        argnums: int | Sequence[int] = 0,
        has_aux: bool = False,
        holomorphic: bool = False,
        batched: bool = False,
        strategies: Sequence[str] | None = None,
        policy: str | Path | pol.Policy | None = None,
        family: str | None = None,
        calibrate: bool = False,
        budget_s: float = 1.0,
        chunk_size: int | None = None,
        margin: float = pr.DEFAULT_MARGIN,
        max_memory: int | None | str = "default",
        params: Any = None,
        per_example: int | None = None,
    ) -> None:
        where = f"adbench.{task}"
        S.names(task)  # an unknown task is a ValueError naming the tasks
        if not callable(f):
            raise ValueError(f"{where}: f must be callable, got {type(f).__name__}")
        if strategy != AUTO:
            _named(task, strategy, where)
            if strategies is not None:
                raise ValueError(f"{where}: give strategy={strategy!r} or strategies=, not both")
            names: tuple[str, ...] = (strategy,)
        elif strategies is None:
            names = default_strategies(task)
        else:
            if isinstance(strategies, str) or not strategies:
                raise ValueError(f"{where}: strategies= must be a non-empty list of names")
            names = tuple(dict.fromkeys(_named(task, s, where) for s in strategies))
        if per_example is not None:
            if isinstance(per_example, bool) or not isinstance(per_example, int):
                raise ValueError(
                    f"{where}: per_example must be an argument position (int), got {per_example!r}"
                )
            if task not in ("jacobian", "hessian"):
                raise ValueError(
                    f"{where}: per_example applies to adbench.jacobian and adbench.hessian"
                )
            if batched:
                raise ValueError(
                    f"{where}: give batched=True or per_example=, not both (per_example: the "
                    "points are another argument; batched: the differentiated one holds them)"
                )
            if strategy == AUTO and strategies is None:
                names = (*names, "per_example")
        for flag, value in (("has_aux", has_aux), ("holomorphic", holomorphic)):
            if not isinstance(value, bool):
                raise ValueError(f"{where}: {flag} must be True or False, got {value!r}")
        if not isinstance(batched, bool):
            raise ValueError(f"{where}: batched must be True or False, got {batched!r}")
        if policy is not None and family is None:
            raise ValueError(f"{where}: policy= needs family= (the family name in the policy)")
        if isinstance(budget_s, bool) or not budget_s > 0:
            raise ValueError(f"{where}: budget_s must be a number of seconds > 0, got {budget_s!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"{where}: margin must be in [0, 1), got {margin!r}")
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise ValueError(f"{where}: chunk_size must be an integer >= 1, got {chunk_size!r}")
        self.task = task
        self.f = f
        self.argnums = signature.check_argnums(argnums, where)
        self.has_aux = has_aux
        self.holomorphic = holomorphic
        self.batched = batched
        self.forced = strategy != AUTO
        self.explicit = strategies is not None
        self.candidates = names
        loaded = policy if isinstance(policy, pol.Policy) or policy is None else pol.load(policy)
        if loaded is not None and family is not None:
            loaded.check_family(family)  # PolicyError (a ValueError) with a did-you-mean
        self.policy = loaded
        self.family = family
        self.calibrate = calibrate
        self.budget_s = float(budget_s)
        self.chunk_size = chunk_size
        self.params = params  # an operator task's TaskParams (adbench.auto.operators)
        self.per_example = per_example  # the argument holding independent points, or None
        self.margin = margin
        self._max_memory = max_memory
        self._where = where
        self._cache: dict[tuple[Any, ...], ch.Choice] = {}
        self._lock = threading.RLock()
        name = getattr(f, "__name__", type(f).__name__)
        self.__name__ = self.__qualname__ = f"{task}({name})"
        self.__doc__ = f"The {task} of {name}, strategy chosen per argument shapes by adbench."

    # --- pickling: like jax.jacfwd(f), the function and the options travel, nothing compiled --

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._cache = {}

    # --- the derivative ------------------------------------------------------------------

    def __call__(self, x: Any, /, *more: Any) -> Any:
        """The derivative at ``(x, *more)`` (f's positional arguments), structured as JAX's
        transform of the task returns it. (The first argument is named, so the program
        ``jax.jit`` lowers names its parameter ``x`` as ``jax.jacfwd(f)``'s does.)"""
        import jax

        args = (x, *more)
        c, call = self._choice(args)
        if c.eager is not None:
            return c.eager(args)
        program: Program = c.compiled
        leaves = jax.tree_util.tree_leaves((call.diff, call.dynamic))
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            return program.apply(call.diff, call.dynamic)
        try:  # the program compiled while deciding, when the arguments fit it exactly
            return program.executable(call.diff, call.dynamic)
        except (TypeError, ValueError):  # another placement or kind of array: jit compiles it
            return program.jitted(call.diff, call.dynamic)

    def choose(self, *args: Any) -> str:
        """The strategy used for arguments like ``args`` (arrays, tracers or
        ``jax.ShapeDtypeStruct`` leaves: no data is needed)."""
        return self.choice(*args).strategy

    def explain(self, *args: Any) -> str:
        """Why: the forced name, the policy entry, the eager fallback, or the candidates'
        predicted (and measured) costs, one candidate per line."""
        return self.choice(*args).explain(self._where)

    def choice(self, *args: Any) -> ch.Choice:
        """The cached :class:`~adbench.auto.choice.Choice` for ``args``, made on first use."""
        return self._choice(args)[0]

    def _choice(self, args: tuple[Any, ...]) -> tuple[ch.Choice, signature.Call]:
        call = signature.split(
            args,
            self.argnums,
            batched=self.batched,
            holomorphic=self.holomorphic,
            where=self._where,
            extra_key=(self.has_aux,),
        )
        with self._lock:
            if call.key not in self._cache:
                self._cache[call.key] = self._decide(call)
            return self._cache[call.key], call

    # --- deciding --------------------------------------------------------------------------

    def _decide(self, call: signature.Call) -> ch.Choice:
        device = call.device
        kind, platform = str(device.device_kind), str(device.platform)
        try:
            layout, _ = signature.layout_of(self.f, call, has_aux=self.has_aux, where=self._where)
        except _untraceable() as exc:
            return eager.choice(self, call, exc, kind, platform)
        except ValueError as exc:
            if str(exc).startswith(self._where):
                raise
            exc.add_note(f"{self._where}: raised by f while tracing it")
            raise
        except Exception as exc:  # the user's own bug: its type and traceback, plus a note
            exc.add_note(f"{self._where}: raised by f while tracing it")
            raise
        what = signature.describe(call, layout)
        if self.per_example is not None:
            from adbench.auto import per_example as pe

            pe.check(self.per_example, call, self._where)
            pe.validate(self.f, call, layout, self.per_example, self.has_aux, self.task, bound)
        if self.task in SCALAR_TASKS and (layout.d_out != 1 or len(layout.out_shapes) != 1):
            shapes = ", ".join(str(s) for s in layout.out_shapes)
            raise ValueError(
                f"{self._where}: no strategy applies: task {self.task!r} needs a scalar f "
                f"(one output of size 1), got output shape {shapes}"
            )
        names = self.candidates
        source, why = ch.PREDICTION, ""
        notes: tuple[str, ...] = ()
        batch = call.frame.batch or 1
        if self.forced:
            source, why = ch.FORCED, f"strategy={names[0]!r}"
        elif self.policy is not None and self.family is not None:
            names, source, why, notes = self._from_policy(
                names, kind, layout.d_in, layout.d_out, batch
            )
        compiled, dropped = self._compile(names, call, layout)
        if not compiled:
            first = next(iter(dropped.values()), "no candidate")
            raise ValueError(f"{self._where}: no strategy applies: {first}")
        costs = {n: c.costs for n, c in compiled.items()}
        prediction = pr.predict(
            costs, pr.machine_for(platform), margin=self.margin, order=list(compiled)
        )
        measured: dict[str, float] = {}
        if source in (ch.FORCED, ch.POLICY) and len(compiled) == 1:
            name = next(iter(compiled))
        elif self.calibrate and len(compiled) > 1:
            measured = calibrate(
                {n: c.executable for n, c in compiled.items()},
                self._inputs(call),
                self.budget_s,
            )
            name = min(measured, key=lambda n: (measured[n], list(compiled).index(n)))
            ranked = sorted(measured.items(), key=lambda item: item[1])
            timed = ", ".join(f"{n} {fmt.seconds(t)}" for n, t in ranked)
            points = f" of {batch} points" if call.frame.batch is not None else ""
            lead = f"{why}; " if why else ""
            why = f"{lead}interleaved timing{points} within {self.budget_s:g} s: {timed}"
            source = ch.CALIBRATION
        else:
            name = prediction.best
            why = (f"{why}; " if why else "") + prediction.reason()
        return ch.Choice(
            strategy=name,
            source=source,
            why=why,
            key=call.key,
            what=what,
            device_kind=kind,
            platform=platform,
            costs=MappingProxyType(costs),
            predicted_s=prediction.seconds,
            measured_s=MappingProxyType(measured),
            dropped=MappingProxyType(dropped),
            notes=notes,
            compiled=compiled[name],
        )

    def _inputs(self, call: signature.Call) -> tuple[Any, Any]:
        """Concrete (diff, dynamic) to time: the call's own when concrete, else random."""
        import jax

        leaves = jax.tree_util.tree_leaves((call.diff, call.dynamic))
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            return random_inputs(call.abstract(), call.device)
        return jax.device_put((call.diff, call.dynamic), call.device)

    def _from_policy(
        self, names: tuple[str, ...], kind: str, d_in: int, d_out: int, batch: int
    ) -> tuple[tuple[str, ...], str, str, tuple[str, ...]]:
        """Candidates, source, reason and notes after consulting the policy.

        A policy's verdict outside the candidates is used when its result has the candidates'
        form (a dense array: linearize, a chunked strategy) and the candidates are the defaults;
        otherwise (a BCOO result, or candidates the caller listed) a warning says why not.
        """
        import jax

        assert self.policy is not None and self.family is not None
        problem = self.policy.unusable(kind, jax.__version__)
        if problem is not None:
            self._warn(f"not using policy {self.policy.source}: {problem}; predicting instead")
            return names, ch.PREDICTION, f"policy not used ({problem})", ()
        note = self.policy.version_note(jax.__version__)
        notes = (note,) if note else ()
        answer = self.policy.lookup(self.family, self.task, kind, d_in, d_out, batch=batch)
        if not answer.strategies:
            return names, ch.PREDICTION, answer.why, notes
        allowed = tuple(n for n in answer.strategies if n in names)
        if allowed:
            return allowed, ch.POLICY, answer.why, notes
        dense = all(S.get(self.task, n).dense for n in names)
        usable = tuple(  # an estimate (stochastic) only where the caller listed it
            n
            for n in answer.strategies
            if S.get(self.task, n).dense == dense and not S.get(self.task, n).stochastic
        )
        if usable and not self.explicit:
            return usable, ch.POLICY, f"{answer.why} (beyond the default candidates)", notes
        wanted = "/".join(answer.strategies)
        if not self.explicit and all(S.get(self.task, n).stochastic for n in answer.strategies):
            reason = f"it is an estimate (stochastic); add it to strategies= to allow {wanted}"
        elif not self.explicit:
            reason = f"its result is a BCOO; add it to strategies= to allow {wanted}"
        else:
            reason = f"not among strategies={list(names)}"
        self._warn(f"policy {self.policy.source} recommends {wanted}, not used: {reason}")
        return names, ch.PREDICTION, f"{answer.why}, not used: {reason}", notes

    def _warn(self, message: str) -> None:
        warnings.warn(f"{self._where}: {message}", UserWarning, stacklevel=6)

    def _compile(
        self, names: Sequence[str], call: signature.Call, layout: signature.Layout
    ) -> tuple[dict[str, Program], dict[str, str]]:
        from adbench.measure import memory

        budget = self._max_memory
        if budget == "default":
            budget = memory.for_device(memory.default_budget(), call.device)
        compiled: dict[str, Program] = {}
        dropped: dict[str, str] = {}
        for name in names:
            try:
                program = build(
                    self.task,
                    name,
                    self.f,
                    call,
                    layout,
                    has_aux=self.has_aux,
                    holomorphic=self.holomorphic,
                    chunk_size=self.chunk_size,
                    params=self.params,
                    per_example=self.per_example,
                )
            except Exception as exc:
                if self.forced:
                    raise ValueError(
                        f"{self._where}: strategy {name!r}: {first_line(exc)}"
                    ) from None
                dropped[name] = first_line(exc)
                continue
            temp = program.costs.temp_bytes
            if isinstance(budget, int) and not math.isnan(temp) and temp > budget:
                dropped[name] = f"XLA temp memory {temp:.3g} B exceeds the budget {budget:.3g} B"
                if not self.forced:
                    continue
            compiled[name] = program
        return compiled, dropped
