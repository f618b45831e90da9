"""``adbench.jacobian(f)``, ``adbench.hessian(f)``, ``adbench.laplacian(f)``: the decision in code.

Each returns a function of one array x, shape (d_in,), used like ``jax.jacfwd(f)`` /
``jax.hessian(f)``, inside ``jax.jit``, ``jax.vmap`` and ``jax.grad`` too. Which strategy of
:mod:`adbench.strategies.registry` computes it is decided per input shape, dtype and device the
first time that combination is seen (while tracing, from the abstract value: shape and dtype are
known then), and cached:

1. ``strategy="jacrev"`` (any registry name): forced;
2. a ``policy`` (from ``adbench policy RESULTS_DIR``) that covers the family, task, device kind and
   size: its recommendation (a tie is broken by the prediction among the tied strategies);
3. ``calibrate=True``: a short interleaved timing of the candidates on a random x, within
   ``budget_s``;
4. otherwise the static prediction: every candidate compiled ahead of time on a
   ``jax.ShapeDtypeStruct`` and costed by :mod:`adbench.analysis.predict` from XLA's cost
   analysis (milliseconds per candidate; nothing is run).

Candidates whose XLA temp memory exceeds ``max_memory`` (default: half the available memory, capped
by an accelerator's limit) are never chosen. After the choice the function *is* the chosen
strategy: under ``jit`` it traces to exactly its computation, and outside a trace it calls the
``jax.jit`` of it whose cache holds the program compiled for the choice.

Results (d_in = x.size): jacobian (*f(x).shape, d_in), like ``jax.jacfwd(f)(x)``; the ``sparse``
strategy (only when listed in ``strategies`` or forced) returns a BCOO of shape (f(x).size, d_in).
hessian (d_in, d_in); laplacian (). The device is x's when x is a concrete array on one device,
else the default backend's first device. Limits: one positional argument, 1-D, real floating.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from adbench import fmt
from adbench.analysis import policy as pol
from adbench.analysis import predict as pr
from adbench.errors import first_line
from adbench.measure.calibrate import calibrate
from adbench.strategies import registry as S

AUTO = "auto"


# The candidates when ``strategies`` is not given: dense results (as jax.jacfwd's), no chunk size.
# Jacobian: not linearize: XLA counts the flops of jacfwd for it (within 0.1% on every case of
# benchmarks/auto_accuracy.py, bytes within 22%), so a prediction has next to nothing to tell
# them apart by, while its time there ranged from 0.8x to 1.8x jacfwd's; list it to compare it.
DEFAULTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "jacobian": ("jacfwd", "jacrev"),
        "hessian": ("fwd_over_rev", "rev_over_fwd", "rev_over_rev", "fwd_over_fwd"),
        "laplacian": ("hessian_trace", "fwd_fwd", "taylor", "hvp"),
    }
)


def default_strategies(task: str) -> tuple[str, ...]:
    """The candidates when ``strategies`` is not given (see ``DEFAULTS``)."""
    if task not in DEFAULTS:
        raise ValueError(f"unknown task {task!r}; choose from: {', '.join(DEFAULTS)}")
    return DEFAULTS[task]


@dataclass(frozen=True)
class Choice:
    """The decision for one input shape, dtype and device.

    ``strategy``: the chosen name; ``source``: "forced", "policy", "calibration" or "prediction";
    ``why``: one line; ``costs``: XLA's costs of each compiled candidate; ``measured_s``: median
    seconds per call of each candidate when calibrated; ``dropped``: candidates left out, with
    the one-line reason.
    """

    strategy: str
    source: str
    why: str
    key: tuple[Any, ...]
    costs: Mapping[str, pr.Costs] = field(default_factory=lambda: MappingProxyType({}))
    predicted_s: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    measured_s: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    dropped: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    compiled: Any = field(default=None, repr=False, compare=False)


class AutoDerivative:
    """The callable returned by :func:`jacobian`, :func:`hessian` and :func:`laplacian`."""

    def __init__(
        self,
        task: str,
        f: Callable[[Any], Any],
        *,
        strategy: str = AUTO,
        strategies: Sequence[str] | None = None,
        policy: str | Path | pol.Policy | None = None,
        family: str | None = None,
        calibrate: bool = False,
        budget_s: float = 1.0,
        chunk_size: int | None = None,
        margin: float = pr.DEFAULT_MARGIN,
        max_memory: int | None | str = "default",
    ) -> None:
        where = f"adbench.{task}"
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
        if policy is not None and family is None:
            raise ValueError(f"{where}: policy= needs family= (the family name in the policy)")
        if isinstance(budget_s, bool) or not budget_s > 0:
            raise ValueError(f"{where}: budget_s must be a number of seconds > 0, got {budget_s!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"{where}: margin must be in [0, 1), got {margin!r}")
        self.task = task
        self.f = f
        self.forced = strategy != AUTO
        self.candidates = names
        self.policy = policy if isinstance(policy, pol.Policy) or policy is None else None
        if policy is not None and self.policy is None:
            self.policy = pol.load(policy)  # type: ignore[arg-type]  # PolicyError is a ValueError
        self.family = family
        self.calibrate = calibrate
        self.budget_s = float(budget_s)
        self.chunk_size = chunk_size
        self.margin = margin
        self._max_memory = max_memory
        self._where = where
        self._cache: dict[tuple[Any, ...], Choice] = {}
        self._lock = threading.RLock()
        name = getattr(f, "__name__", type(f).__name__)
        self.__name__ = self.__qualname__ = f"{task}({name})"
        self.__doc__ = f"The {task} of {name}, strategy chosen per shape by adbench."

    # --- the derivative ------------------------------------------------------------------

    def __call__(self, x: Any) -> Any:
        """The derivative at x (d_in,); see the module docstring for the result's shape."""
        import jax

        traced = isinstance(x, jax.core.Tracer)
        if not traced and not isinstance(x, jax.Array):
            x = jax.numpy.asarray(x)
        chosen = self.choice(x).compiled
        return chosen.fn(x) if traced else chosen.jitted(x)

    def choose(self, x: Any) -> str:
        """The strategy used for inputs like x (an array, tracer or ``jax.ShapeDtypeStruct``)."""
        return self.choice(x).strategy

    def explain(self, x: Any) -> str:
        """Why: the forced name, the policy entry, or the candidates' predicted (and measured)
        costs, one candidate per line."""
        c = self.choice(x)
        shape, dtype, _, kind, platform = c.key
        head = f"{self._where}: {c.strategy} for x {dtype}{list(shape)} on {kind} ({platform})"
        lines = [f"{head}, by {c.source}: {c.why}"]
        for name, costs in c.costs.items():
            parts = [
                f"flops {costs.flops:.4g}",
                f"bytes {costs.bytes_accessed:.4g}",
                f"temp {costs.temp_bytes:.4g} B",
            ]
            if name in c.predicted_s:
                parts.append(f"predicted {fmt.seconds(c.predicted_s[name])}")
            if name in c.measured_s:
                parts.append(f"measured {fmt.seconds(c.measured_s[name])}")
            if costs.loop_trips > 1:
                parts.append(f"loop x{costs.loop_trips}")
            mark = "*" if name == c.strategy else " "
            lines.append(f"  {mark} {name}: " + ", ".join(parts))
        for name, reason in c.dropped.items():
            lines.append(f"    {name}: not a candidate: {reason}")
        return "\n".join(lines)

    def choice(self, x: Any) -> Choice:
        """The cached :class:`Choice` for inputs like x, made on first use."""
        key, device = self._key(x)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = self._decide(key, device)
            return self._cache[key]

    # --- deciding --------------------------------------------------------------------------

    def _key(self, x: Any) -> tuple[tuple[Any, ...], Any]:
        import jax
        import jax.numpy as jnp

        shape = tuple(int(s) for s in getattr(x, "shape", np.shape(x)))
        dtype = np.dtype(getattr(x, "dtype", None) or jnp.result_type(x))
        if len(shape) != 1:
            raise ValueError(f"{self._where}: x must have shape (d_in,), got shape {shape}")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"{self._where}: x must be a real floating array, got {dtype}")
        device = None
        if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
            devices = x.devices()
            device = next(iter(devices)) if len(devices) == 1 else None
        if device is None:
            device = jax.devices()[0]
        key = (shape, dtype.name, device.id, str(device.device_kind), device.platform)
        return key, device

    def _decide(self, key: tuple[Any, ...], device: Any) -> Choice:
        import jax

        shape, dtype = key[0], np.dtype(key[1])
        kind, platform = key[3], key[4]
        try:
            out = jax.eval_shape(self.f, jax.ShapeDtypeStruct(shape, dtype))
        except Exception as exc:
            msg = f"{self._where}: f raised on x {dtype}{list(shape)}: {first_line(exc)}"
            raise ValueError(msg) from None
        out_shape = tuple(getattr(out, "shape", ()))
        d_out = int(math.prod(out_shape)) if hasattr(out, "shape") else 0
        names = self.candidates
        source, why = "prediction", ""
        if self.forced:
            source, why = "forced", f"strategy={names[0]!r}"
        elif self.policy is not None and self.family is not None:
            names, source, why = self._from_policy(names, kind, shape[0], d_out)
        compiled, dropped = self._compile(names, shape, dtype, device, out_shape, d_out)
        if not compiled:
            first = next(iter(dropped.values()), "no candidate")
            raise ValueError(f"{self._where}: no strategy applies: {first}")
        costs = {n: c.costs for n, c in compiled.items()}
        machine = pr.machine_for(platform)
        prediction = pr.predict(costs, machine, margin=self.margin, order=list(compiled))
        measured: dict[str, float] = {}
        if source in ("forced", "policy") and len(compiled) == 1:
            name = next(iter(compiled))
        elif self.calibrate and len(compiled) > 1:
            measured = calibrate(compiled, shape, dtype, device, self.budget_s)
            name = min(measured, key=lambda n: (measured[n], list(compiled).index(n)))
            source = "calibration"
            why = ", ".join(f"{n} {fmt.seconds(t)}" for n, t in sorted(measured.items(), key=_v))
            why = f"interleaved timing within {self.budget_s:g} s: {why}"
        else:
            name = prediction.best
            lead = f"{why}; " if why else ""
            why = lead + prediction.reason()
            source = "policy" if source == "policy" else "prediction"
        return Choice(
            strategy=name,
            source=source,
            why=why,
            key=key,
            costs=MappingProxyType(costs),
            predicted_s=prediction.seconds,
            measured_s=MappingProxyType(measured),
            dropped=MappingProxyType(dropped),
            compiled=compiled[name],
        )

    def _from_policy(
        self, names: tuple[str, ...], kind: str, d_in: int, d_out: int
    ) -> tuple[tuple[str, ...], str, str]:
        """Candidates, source and reason after consulting the policy."""
        import jax

        assert self.policy is not None and self.family is not None
        problem = self.policy.unusable(kind, jax.__version__)
        if problem is not None:
            warnings.warn(
                f"{self._where}: not using policy {self.policy.source}: {problem}; "
                "using the prediction instead",
                UserWarning,
                stacklevel=5,
            )
            return names, "prediction", f"policy not used ({problem})"
        answer = self.policy.lookup(self.family, self.task, kind, d_in, d_out)
        allowed = tuple(n for n in answer.strategies if n in names)
        if not answer.strategies:
            return names, "prediction", answer.why
        if not allowed:
            return names, "prediction", f"{answer.why}, not among the candidates"
        return allowed, "policy", answer.why

    def _compile(
        self,
        names: Sequence[str],
        shape: tuple[int, ...],
        dtype: np.dtype,
        device: Any,
        out_shape: tuple[int, ...],
        d_out: int,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        from adbench.measure import costs as C
        from adbench.measure import memory

        budget = self._max_memory
        if budget == "default":
            budget = memory.for_device(memory.default_budget(), device)
        compiled: dict[str, Any] = {}
        dropped: dict[str, str] = {}
        for name in names:
            strategy = S.get(self.task, name)
            finish = None
            if self.task == "jacobian" and strategy.dense and out_shape != (d_out,):
                finish = _reshaper((*out_shape, shape[0]))
            try:
                c = C.compile_strategy(
                    self.task,
                    name,
                    self.f,
                    shape,
                    dtype,
                    device=device,
                    d_out=d_out,
                    chunk_size=self.chunk_size if strategy.chunked else None,
                    finish=finish,
                )
            except Exception as exc:
                if self.forced:
                    raise ValueError(
                        f"{self._where}: strategy {name!r}: {first_line(exc)}"
                    ) from None
                dropped[name] = first_line(exc)
                continue
            temp = c.costs.temp_bytes
            if isinstance(budget, int) and not math.isnan(temp) and temp > budget:
                dropped[name] = f"XLA temp memory {temp:.3g} B exceeds the budget {budget:.3g} B"
                if not self.forced:
                    continue
            compiled[name] = c
        return compiled, dropped


def _v(item: tuple[str, float]) -> float:
    return item[1]


def _named(task: str, name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"{where}: a strategy is a name, got {name!r}")
    try:
        S.get(task, name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return name


def _reshaper(shape: tuple[int, ...]) -> Callable[[Any], Any]:
    def reshape(d: Any) -> Any:
        return d.reshape(shape)

    return reshape


# --- the public functions ---------------------------------------------------------------------


def jacobian(
    f: Callable[[Any], Any],
    strategy: str = AUTO,
    *,
    strategies: Sequence[str] | None = None,
    policy: str | Path | pol.Policy | None = None,
    family: str | None = None,
    calibrate: bool = False,
    budget_s: float = 1.0,
    chunk_size: int | None = None,
    margin: float = pr.DEFAULT_MARGIN,
) -> AutoDerivative:
    """x (d_in,) -> the Jacobian of f at x, shape (*f(x).shape, d_in), like ``jax.jacfwd(f)``.

    ``strategy``: "auto" or a name (jacfwd, jacrev, jacfwd_chunked, jacrev_chunked, linearize,
    sparse) to force; ``strategies``: the candidates (default: jacfwd, jacrev; add "sparse" to
    allow a BCOO result); ``policy`` + ``family``: a policy file from
    ``adbench policy`` and the family name in it; ``calibrate``: time the candidates (at most
    ``budget_s`` seconds per input shape) instead of predicting; ``chunk_size``: for the chunked
    strategies (default: about half the basis). ``.choose(x)`` names the strategy for x,
    ``.explain(x)`` says why. ValueError for a name that is not a Jacobian strategy, or a policy
    file that is missing, malformed or of another version.
    """
    return AutoDerivative(
        "jacobian",
        f,
        strategy=strategy,
        strategies=strategies,
        policy=policy,
        family=family,
        calibrate=calibrate,
        budget_s=budget_s,
        chunk_size=chunk_size,
        margin=margin,
    )


def hessian(
    f: Callable[[Any], Any],
    strategy: str = AUTO,
    *,
    strategies: Sequence[str] | None = None,
    policy: str | Path | pol.Policy | None = None,
    family: str | None = None,
    calibrate: bool = False,
    budget_s: float = 1.0,
    margin: float = pr.DEFAULT_MARGIN,
) -> AutoDerivative:
    """x (n,) -> the Hessian of a scalar f at x, shape (n, n), like ``jax.hessian(f)``.

    Strategies: fwd_over_rev, rev_over_fwd, rev_over_rev, fwd_over_fwd (the default candidates)
    and sparse (BCOO, when listed). Other arguments as in :func:`jacobian`.
    """
    return AutoDerivative(
        "hessian",
        f,
        strategy=strategy,
        strategies=strategies,
        policy=policy,
        family=family,
        calibrate=calibrate,
        budget_s=budget_s,
        margin=margin,
    )


def laplacian(
    f: Callable[[Any], Any],
    strategy: str = AUTO,
    *,
    strategies: Sequence[str] | None = None,
    policy: str | Path | pol.Policy | None = None,
    family: str | None = None,
    calibrate: bool = False,
    budget_s: float = 1.0,
    margin: float = pr.DEFAULT_MARGIN,
) -> AutoDerivative:
    """x (n,) -> the Laplacian (trace of the Hessian) of a scalar f at x, shape ().

    Strategies: hessian_trace, fwd_fwd, taylor, hvp (all candidates by default). Other arguments
    as in :func:`jacobian`.
    """
    return AutoDerivative(
        "laplacian",
        f,
        strategy=strategy,
        strategies=strategies,
        policy=policy,
        family=family,
        calibrate=calibrate,
        budget_s=budget_s,
        margin=margin,
    )
