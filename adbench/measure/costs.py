"""Compile strategies ahead of time on an abstract input and read XLA's costs (the JAX side of
:mod:`adbench.analysis.predict`).

Nothing here runs a derivative: each strategy is lowered on a ``jax.ShapeDtypeStruct`` placed on
the device and compiled; ``cost_analysis()`` and ``memory_analysis()`` of the executable give the
:class:`~adbench.analysis.predict.Costs`. Sparse strategies detect their pattern from the jaxpr
(asdex uses only the shape and dtype of its sample input), so a zero input of the right shape is
all ``prepare`` gets. A loop body is counted once by XLA; chunked strategies run theirs
ceil(basis / chunk) times, so their counts are multiplied by that (an estimate: the part outside
the loop is multiplied too).

Used by :mod:`adbench.auto` (per input shape, at trace time) and by ``adbench predict``
(:func:`predict_case`: one case of a config on one device, a row of predictions.csv).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from adbench.analysis.predict import Costs, Prediction, machine_for, predict
from adbench.errors import first_line
from adbench.strategies import registry as S


@dataclass(frozen=True)
class Compiled:
    """One strategy prepared and compiled for one input shape, dtype and device.

    ``prepared``: the registry's Prepared (x (d_in,) -> derivative, or (B, d_in) with a batch);
    ``fn``: ``prepared.fn`` followed by the caller's ``finish`` (e.g. a reshape), the function
    that was compiled; ``jitted``: ``jax.jit(fn)``, whose cache already holds the compiled
    program; ``executable``: that program, callable on a concrete x of that shape and device;
    ``costs``: what XLA says one call costs.
    """

    strategy: str
    prepared: S.Prepared
    fn: Callable[[Any], Any]
    jitted: Any
    executable: Any
    costs: Costs
    chunk_size: int | None = None


def abstract_input(shape: tuple[int, ...], dtype: Any, device: Any = None) -> Any:
    """``jax.ShapeDtypeStruct`` of x, committed to ``device`` when one is given."""
    import jax

    if device is None:
        return jax.ShapeDtypeStruct(shape, dtype)
    sharding = jax.sharding.SingleDeviceSharding(device)
    return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def read_costs(executable: Any, loop_trips: int = 1) -> Costs:
    """Costs of a compiled executable; counts XLA does not report are NaN."""
    try:
        ca = executable.cost_analysis()
        if isinstance(ca, list | tuple):  # older jax: one dict per computation
            ca = ca[0] if ca else {}
        ca = ca or {}
    except Exception:  # some backends implement no cost analysis
        ca = {}
    try:
        ma = executable.memory_analysis()
    except Exception:
        ma = None

    def count(key: str) -> float:
        return float(ca.get(key, math.nan)) * loop_trips

    return Costs(
        flops=count("flops"),
        bytes_accessed=count("bytes accessed"),
        transcendentals=count("transcendentals"),
        temp_bytes=float(getattr(ma, "temp_size_in_bytes", math.nan)),
        output_bytes=float(getattr(ma, "output_size_in_bytes", math.nan)),
        loop_trips=loop_trips,
    )


# XLA's cost and memory analysis read the optimised HLO, before code generation: skipping LLVM's
# optimisations leaves every count unchanged and halves the CPU compile (12 Jacobians of the
# built-in families, 2-core CPU: 3.9 s -> 1.8 s; tests/test_predict.py checks the counts).
COSTS_ONLY_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
)


def default_chunk(basis: int) -> int:
    """The chunk a chunked strategy gets when none is given: the largest power of two below the
    basis (about half of it), so the chunked program holds about half the unchunked one's
    tangents; 1 for a basis of 1."""
    return S.chunk_candidates(basis)[-2] if basis > 1 else 1


def trips(strategy: S.Strategy, d_in: int, d_out: int, chunk_size: int | None) -> int:
    """How many times a chunked strategy's loop body runs: ceil(basis / chunk); else 1."""
    if not strategy.chunked or chunk_size is None:
        return 1
    basis = d_in if strategy.basis == "in" else d_out
    return max(1, math.ceil(basis / chunk_size))


def compile_strategy(
    task: str,
    name: str,
    fn: Callable[[Any], Any],
    shape: tuple[int, ...],
    dtype: Any,
    *,
    device: Any = None,
    d_out: int,
    chunk_size: int | None = None,
    batch: bool = False,
    finish: Callable[[Any], Any] | None = None,
    costs_only: bool = False,
    structure: Any = None,
    params: Any = None,
) -> Compiled:
    """Prepare strategy ``name`` of ``task`` for ``fn`` at x of ``shape`` and compile it.

    shape: (d_in,), or (B, d_in) with ``batch``; d_out: fn's output size (the chunk basis of
    reverse chunked strategies). A chunked strategy without ``chunk_size`` gets
    :func:`default_chunk`. ``finish`` maps the derivative to what the caller returns (compiled
    with it, so it costs nothing extra). ``costs_only``: the program will never run, so on the CPU
    LLVM's optimisations are skipped (:data:`COSTS_ONLY_OPTIONS`). ``structure``: a function of
    real arguments (adbench.strategies.trees.Structured), for the strategies that need it;
    ``params``: an operator task's TaskParams (wrt, terms, samples, ...), as a measurement gets.
    Raises whatever preparing or compiling raises.
    """
    import jax

    strategy = S.get(task, name)
    d_in = shape[-1]
    if strategy.chunked and chunk_size is None:
        chunk_size = default_chunk(d_in if strategy.basis == "in" else d_out)
    chunk = chunk_size if strategy.chunked else None
    # asdex reads only the sample's shape and dtype. A device array, because jnp.asarray of a
    # numpy array compiles a small program per shape; concrete even while an outer jit traces.
    with jax.ensure_compile_time_eval():
        sample = jax.device_put(np.zeros(shape, dtype=dtype), device)
    prepared = strategy.prepare(
        fn, sample, chunk_size=chunk, batch=batch, structure=structure, params=params
    )
    fn = prepared.fn if finish is None else _then(prepared.fn, finish)
    jitted = jax.jit(fn)
    lowered = jitted.lower(abstract_input(shape, dtype, device))
    platform = getattr(device, "platform", None) or jax.default_backend()
    cheap = costs_only and platform == "cpu"
    executable = lowered.compile(dict(COSTS_ONLY_OPTIONS)) if cheap else lowered.compile()
    costs = read_costs(executable, trips(strategy, d_in, d_out, chunk))
    return Compiled(name, prepared, fn, jitted, executable, costs, chunk)


def _then(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        return second(first(x))

    return fn


# --- `adbench predict`: every case of a config, compiled, never run ---------------------------


@dataclass(frozen=True)
class CasePrediction:
    """The prediction for one case on one device (a row of predictions.csv, see ``row``).

    ``key``: the schema.CASE_KEY values; ``costs``: per strategy that compiled; ``errors``: per
    strategy that did not, one line; ``prediction`` is None when the case itself failed
    (``reason`` says why).
    """

    key: Mapping[str, Any]
    device_kind: str
    dtype: str
    strategies: tuple[str, ...]
    costs: Mapping[str, Costs]
    errors: Mapping[str, str]
    prediction: Prediction | None
    reason: str = ""

    def row(self) -> dict[str, Any]:
        p = self.prediction
        out: dict[str, Any] = {
            **self.key,
            "device_kind": self.device_kind,
            "dtype": self.dtype,
            "candidates": "|".join(self.strategies),
            "predicted": p.predicted if p else "none",
            "predicted_best": p.best if p else "",
            "predicted_ratio": p.ratio if p else math.nan,
            "tie_set": "|".join(p.tie_set) if p else "",
            "margin": p.margin if p else math.nan,
            "status": "ok" if p and not self.errors else "error",
            "reason": self.reason or (p.reason() if p else ""),
        }
        if self.errors:
            failed = "; ".join(f"{s}: {why}" for s, why in self.errors.items())
            out["reason"] = f"{out['reason']}; {failed}" if out["reason"] else failed
        for s in self.strategies:
            c = self.costs.get(s)
            out[f"{s}_flops"] = c.flops if c else math.nan
            out[f"{s}_bytes"] = c.bytes_accessed if c else math.nan
            out[f"{s}_temp_bytes"] = c.temp_bytes if c else math.nan
            out[f"{s}_predicted_s"] = p.seconds.get(s, math.nan) if p else math.nan
        return out


def predict_case(
    case: Any,
    device: Any,
    *,
    task: str,
    strategies: Sequence[str],
    dtype: str,
    margin: float,
    host: str,
) -> CasePrediction:
    """Compile every strategy of one case on ``device`` and predict; never raises for the case.

    ``case``: an adbench.config.cases.Case. Its function is built and checked as ``run``
    builds it (adbench.measure.build: the factory's faults, ``sys.exit`` included, and an
    output of the wrong shape or dtype are that case's failure); for a factory's (fn, args)
    d_in and d_out are the measured ones.
    """
    from dataclasses import replace

    from adbench.measure import build

    batch = int(getattr(case, "batch", 1) or 1)
    names = tuple(strategies)
    built = build.build(case, dtype=dtype, seed=0, device=device)
    if not isinstance(built, str):
        case = replace(case, d_in=built.d_in, d_out=built.d_out)
    key = {
        "case_id": case.case_id,
        "family": case.family,
        "task": task,
        "d_in": case.d_in,
        "d_out": case.d_out,
        "batch": batch,
        "host": host,
        "device": f"{device.platform}:{device.id}",
    }

    def failed(reason: str) -> CasePrediction:
        return CasePrediction(key, str(device.device_kind), dtype, names, {}, {}, None, reason)

    if isinstance(built, str):
        return failed(built)
    fn = built.fn
    structure = built.structure
    if structure is not None and structure.per_example is None and "per_example" in names:
        names = tuple(n for n in names if n != "per_example")
    shape = (batch, case.d_in) if batch > 1 else (case.d_in,)
    costs: dict[str, Costs] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            compiled = compile_strategy(
                task,
                name,
                fn,
                shape,
                np.dtype(dtype),
                device=device,
                d_out=case.d_out,
                chunk_size=getattr(case, "chunk_size", None),
                batch=batch > 1,
                costs_only=True,
                structure=structure,
                params=getattr(case, "task_params", None),
            )
        except Exception as exc:
            errors[name] = first_line(exc)
            continue
        costs[name] = compiled.costs
    if not costs:
        return failed("; ".join(f"{s}: {why}" for s, why in errors.items()))
    prediction = predict(costs, machine_for(str(device.platform)), margin=margin, order=names)
    return CasePrediction(key, str(device.device_kind), dtype, names, costs, errors, prediction)


def devices_for(which: str | None) -> list[Any]:
    """JAX devices for ``--device``, as ``adbench run`` picks them (adbench.measure.devices)."""
    from adbench.measure.devices import select_devices

    return select_devices(which)
