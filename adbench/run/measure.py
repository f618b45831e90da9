"""One case on one device -> one measurement per mode.

For each mode the Jacobian is lowered and compiled ahead of time (trace/lower and compile seconds
recorded apart), XLA's cost and memory analyses are read, both modes' Jacobians are checked
against each other, and then the modes are timed *interleaved* (A B, B A, A B, ...): each round
holds one sample of each mode taken back to back, so their per-round ratio cancels most of the
machine's drift. Every call is followed by ``block_until_ready``; the inner loop is calibrated so
one sample lasts at least ``min_sample_s``.

The timing loop (:func:`calibrate`, :func:`interleave`) takes its clock and runners as arguments,
so tests drive it with a fake clock.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from adbench.analysis import stats
from adbench.errors import first_line
from adbench.run import memory
from adbench.run.cases import Case
from adbench.store import schema

Clock = Callable[[], float]
Runner = Callable[[], Any]


@dataclass(frozen=True)
class Settings:
    """How to measure; built from the run file (see RunConfig for the meaning of each)."""

    dtype: str = "float32"
    seed: int = 0
    jit: bool = True
    time_budget_s: float = 2.0
    min_sample_s: float = 0.005
    min_rounds: int = 5
    max_rounds: int = 50
    warmup: int = 1
    rtol: float | None = None
    atol: float | None = None
    max_memory_bytes: int | None = None  # refuse a mode whose XLA estimate exceeds this

    def tolerances(self) -> tuple[float, float]:
        """(rtol, atol-as-a-fraction-of-max|J|) for comparing jacfwd with jacrev."""
        default = 2e-3 if self.dtype == "float32" else 1e-8
        rtol = self.rtol if self.rtol is not None else default
        atol = self.atol if self.atol is not None else default
        return rtol, atol


@dataclass(frozen=True)
class ModeResult:
    """What one mode of one case produced. `samples` are seconds per call, one per round."""

    mode: str
    status: str = schema.STATUS_OK
    reason: str = ""
    n_inner: int = 0
    samples: tuple[float, ...] = ()
    lower_s: float = math.nan
    compile_s: float = math.nan
    first_call_s: float = math.nan
    cost: Mapping[str, float] = field(default_factory=dict)
    max_abs_diff: float = math.nan
    max_abs: float = math.nan


@dataclass(frozen=True)
class CaseResult:
    """All modes of one case on one device; turns itself into rows of the results tables."""

    case: Case
    device: str
    device_kind: str
    platform: str
    dtype: str
    jit: bool
    modes: tuple[ModeResult, ...]
    host: str = ""
    started_at: float = math.nan  # seconds since the epoch, this host's clock
    ended_at: float = math.nan

    def _key(self) -> dict[str, Any]:
        """The schema.CASE_KEY columns every row of this case starts with."""
        return {
            "case_id": self.case.case_id,
            "family": self.case.family,
            "task": "jacobian",
            "d_in": self.case.d_in,
            "d_out": self.case.d_out,
            "batch": 1,
            "host": self.host,
            "device": self.device,
        }

    def result_rows(self) -> list[dict[str, Any]]:
        rows = []
        for m in self.modes:
            s = stats.summarize(m.samples)
            row: dict[str, Any] = {
                **self._key(),
                "strategy": m.mode,
                "source": self.case.source,
                "device_kind": self.device_kind,
                "platform": self.platform,
                "dtype": self.dtype,
                "jit": self.jit,
                "status": m.status,
                "reason": m.reason,
                "n_inner": m.n_inner,
                "n_samples": s.n,
                "median_s": s.median,
                "mean_s": s.mean,
                "std_s": s.std,
                "min_s": s.min,
                "max_s": s.max,
                "q1_s": s.q1,
                "q3_s": s.q3,
                "iqr_s": s.iqr,
                "ci_low_s": s.ci_low,
                "ci_high_s": s.ci_high,
                "outliers": s.outliers,
                "lower_s": m.lower_s,
                "compile_s": m.compile_s,
                "first_call_s": m.first_call_s,
                "setup_s": 0.0,
                "max_abs_diff": m.max_abs_diff,
                "max_abs": m.max_abs,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
            }
            row.update(m.cost)
            # columns this measurement does not fill are present and empty
            rows.append({c: row.get(c, math.nan) for c in schema.RESULT_COLUMNS})
        return rows

    def _order(self, round_: int) -> list[str]:
        """The strategies in the order they were timed in `round_` (see interleave)."""
        timed = [m.mode for m in self.modes if m.samples]
        return timed if round_ % 2 == 0 else timed[::-1]

    def sample_rows(self) -> list[dict[str, Any]]:
        return [
            {
                **self._key(),
                "strategy": m.mode,
                "round": i,
                "n_inner": m.n_inner,
                "seconds": t,
                "position": order.index(m.mode) if (order := self._order(i)) else math.nan,
            }
            for m in self.modes
            for i, t in enumerate(m.samples)
        ]

    @property
    def failed(self) -> bool:
        return any(m.status != schema.STATUS_OK for m in self.modes)


def this_host() -> str:
    """The machine's name as rows record it, so rows from several machines never collide."""
    return socket.gethostname() or "localhost"


# --------------------------------------------------------------------------- timing loop


def _sample(run: Runner, n: int, clock: Clock) -> float:
    """Seconds per call over `n` calls, each waited for."""
    t0 = clock()
    for _ in range(n):
        run()
    return (clock() - t0) / n


def calibrate(run: Runner, *, min_sample_s: float, max_inner: int, clock: Clock) -> int:
    """How many calls make one sample last at least `min_sample_s` (at most `max_inner`).

    Two untimed calls first, so the count is not set by a call slowed by whatever ran before
    (the other mode's memory traffic, XLA's worker threads winding down); then the count grows
    geometrically, as timeit's autorange does.
    """
    run()
    run()
    n = 1
    while True:
        elapsed = _sample(run, n, clock) * n
        if elapsed >= min_sample_s or n >= max_inner:
            return n
        # aim a little above the target, at most x10 per step
        grow = min_sample_s * 1.2 / elapsed if elapsed > 0 else 10.0
        n = min(max_inner, max(n + 1, math.ceil(n * min(grow, 10.0))))


def settle_calls(n_inner: int, per_call_s: float, budget_s: float) -> int:
    """Untimed calls before each sample, so switching modes is not charged to the sample.

    On a 2-core CPU a light mode timed right after a heavy one was seen 1.5-3x slower than when
    run alone (power 1 -> 10^4: jacfwd ~100 us alone, 180-300 us interleaved with jacrev's
    ~200 ms calls); untimed calls of the same mode first keep that switching cost out of the
    sample. A long single call (n_inner == 1) is settled only when it is cheap against the budget.
    """
    if n_inner >= 2:
        return n_inner // 2
    return 1 if per_call_s < budget_s / 20 else 0


def interleave(
    runners: Mapping[str, Runner],
    n_inner: Mapping[str, int],
    *,
    budget_s: float,
    min_rounds: int,
    max_rounds: int,
    clock: Clock,
) -> dict[str, list[float]]:
    """Time the modes in alternating order, one sample each per round, within a time budget.

    Each sample is preceded by `settle_calls` untimed calls of its mode (sized from the
    previous sample; half a sample before the first). Stops after
    `max_rounds`, or once `budget_s` is spent and `min_rounds` are done; a case so
    slow that `min_rounds` would take over three budgets stops at the third (with >= 2 rounds,
    so a ratio can still be formed).
    """
    modes = list(runners)
    samples: dict[str, list[float]] = {m: [] for m in modes}
    settle = {m: n_inner[m] // 2 for m in modes}
    start = clock()
    for r in range(max_rounds):
        order = modes if r % 2 == 0 else modes[::-1]
        for m in order:
            for _ in range(settle[m]):
                runners[m]()
            t = _sample(runners[m], n_inner[m], clock)
            samples[m].append(t)
            settle[m] = settle_calls(n_inner[m], t, budget_s)
        spent = clock() - start
        done = r + 1
        if spent >= budget_s and done >= min_rounds:
            break
        if spent >= 3 * budget_s and done >= 2:
            break
    return samples


# --------------------------------------------------------------------------- JAX side


def _cost(compiled: Any) -> dict[str, float]:
    """XLA's flop/byte counts and memory sizes of a compiled executable (NaN where missing)."""
    out: dict[str, float] = {}
    try:
        ca = compiled.cost_analysis()
        if isinstance(ca, list | tuple):  # older jax returned one dict per computation
            ca = ca[0] if ca else {}
        ca = ca or {}
    except Exception:  # some backends do not implement it
        ca = {}
    out["flops"] = float(ca.get("flops", math.nan))
    out["transcendentals"] = float(ca.get("transcendentals", math.nan))
    out["bytes_accessed"] = float(ca.get("bytes accessed", math.nan))
    try:
        ma = compiled.memory_analysis()
    except Exception:
        ma = None
    for key, attr in (
        ("temp_bytes", "temp_size_in_bytes"),
        ("argument_bytes", "argument_size_in_bytes"),
        ("output_bytes", "output_size_in_bytes"),
        ("generated_code_bytes", "generated_code_size_in_bytes"),
    ):
        out[key] = float(getattr(ma, attr, math.nan)) if ma is not None else math.nan
    return out


def _error(modes: Sequence[str], status: str, reason: str) -> tuple[ModeResult, ...]:
    return tuple(ModeResult(mode=m, status=status, reason=reason) for m in modes)


def _build(case: Case, settings: Settings, device: Any) -> tuple[Callable[..., Any], Any] | str:
    """(fn, x) placed on `device`, or a one-line reason why the factory's output is unusable."""
    import jax
    import jax.numpy as jnp

    try:
        made = case.factory(case.d_in, case.d_out, **dict(case.params))
    except Exception as exc:
        return f"factory raised {first_line(exc)}"
    if isinstance(made, tuple) and len(made) == 2 and callable(made[0]):
        fn, x0 = made
    elif callable(made):
        fn = made
        x0 = np.random.default_rng(settings.seed).standard_normal(case.d_in)
    else:
        return f"factory returned {type(made).__name__}, expected a function or (function, x0)"
    x0 = np.asarray(x0)
    if x0.shape != (case.d_in,):
        return f"example input has shape {x0.shape}, expected ({case.d_in},)"
    x = jax.device_put(jnp.asarray(x0, dtype=settings.dtype), device)
    try:
        out = jax.eval_shape(fn, x)
    except Exception as exc:
        return f"function raised {first_line(exc)}"
    if not isinstance(out, jax.ShapeDtypeStruct):
        return f"output is a {type(out).__name__}, expected one array of shape ({case.d_out},)"
    if not jnp.issubdtype(out.dtype, jnp.inexact):
        return f"output dtype {out.dtype} is not floating point, so it cannot be differentiated"
    if jnp.issubdtype(out.dtype, jnp.complexfloating):
        return f"output dtype {out.dtype} is complex; adbench measures real Jacobians"
    if out.shape != (case.d_out,) and not (out.shape == () and case.d_out == 1):
        return f"output has shape {out.shape}, but the family declares d_out = {case.d_out}"
    return fn, x


def measure_case(
    case: Case,
    device: Any,
    settings: Settings,
    modes: Sequence[str] = schema.MODES,
    *,
    clock: Clock = time.perf_counter,
) -> CaseResult:
    """Measure every mode of `case` on one JAX `device`. Never raises for the case's own faults:
    they become the status and reason of its rows."""
    import jax

    started_at = time.time()

    def finish(mode_results: Sequence[ModeResult]) -> CaseResult:
        return CaseResult(
            case=case,
            device=f"{device.platform}:{device.id}",
            device_kind=str(device.device_kind),
            platform=str(device.platform),
            dtype=settings.dtype,
            jit=settings.jit,
            modes=tuple(mode_results),
            host=this_host(),
            started_at=started_at,
            ended_at=time.time(),
        )

    mem_budget = memory.for_device(settings.max_memory_bytes, device)
    if mem_budget is not None:  # before the factory runs: it may build a Jacobian-sized matrix
        itemsize = 8 if settings.dtype == "float64" else 4
        need = memory.case_bytes(case.d_in, case.d_out, itemsize)
        why = memory.refusal(need, mem_budget, f"the {case.d_out} x {case.d_in} Jacobian alone")
        if why:
            return finish(_error(modes, schema.STATUS_MEMORY, why))
    built = _build(case, settings, device)
    if isinstance(built, str):
        return finish(_error(modes, schema.STATUS_ERROR, built))
    fn, x = built

    results: dict[str, ModeResult] = {}
    runners: dict[str, Runner] = {}
    jacobians: dict[str, np.ndarray] = {}
    transforms = {"jacfwd": jax.jacfwd, "jacrev": jax.jacrev}
    for mode in modes:
        jac = transforms[mode](fn)
        try:
            t0 = clock()
            lowered = jax.jit(jac).lower(x)
            t1 = clock()
            compiled = lowered.compile()
            t2 = clock()
        except Exception as exc:
            results[mode] = ModeResult(
                mode, schema.STATUS_ERROR, f"{mode} failed to compile: {first_line(exc)}"
            )
            continue
        cost = _cost(compiled)
        base = ModeResult(mode=mode, lower_s=t1 - t0, compile_s=t2 - t1, cost=cost)
        if mem_budget is not None:  # by adbench.memory; compiling allocated none of it
            need = memory.mode_bytes(
                cost["temp_bytes"],
                cost["argument_bytes"],
                cost["output_bytes"],
                case.d_in,
                case.d_out,
            )
            why = memory.refusal(
                need,
                mem_budget,
                f"{mode} (XLA temp {memory.gib(cost['temp_bytes'])}, output "
                f"{memory.gib(cost['output_bytes'])}, host copies "
                f"{memory.gib(memory.host_bytes(case.d_in, case.d_out))})",
            )
            if why:
                results[mode] = replace(base, status=schema.STATUS_MEMORY, reason=why)
                continue

        def run(c: Any = compiled if settings.jit else jac) -> Any:
            return jax.block_until_ready(c(x))

        try:
            t0 = clock()
            value = run()
            first = clock() - t0
            for _ in range(settings.warmup):
                run()
        except Exception as exc:
            # the allocator's own refusal is a memory fault, not the function's
            status = (
                schema.STATUS_MEMORY if "RESOURCE_EXHAUSTED" in str(exc) else schema.STATUS_ERROR
            )
            results[mode] = replace(base, status=status, reason=f"{mode} raised {first_line(exc)}")
            continue
        jacobians[mode] = np.asarray(value, dtype=np.float64).reshape(case.d_out, case.d_in)
        runners[mode] = run
        results[mode] = replace(base, first_call_s=first)

    # correctness before timing: a wrong Jacobian is never timed
    problems, diff, scale = _cross_check(jacobians, settings)
    for mode, (status, reason) in problems.items():
        runners.pop(mode, None)
        results[mode] = replace(results[mode], status=status, reason=reason)

    if runners:
        budget = settings.time_budget_s
        max_inner = 1_000_000
        n_inner = {
            m: calibrate(r, min_sample_s=settings.min_sample_s, max_inner=max_inner, clock=clock)
            for m, r in runners.items()
        }
        samples = interleave(
            runners,
            n_inner,
            budget_s=budget,
            min_rounds=settings.min_rounds,
            max_rounds=settings.max_rounds,
            clock=clock,
        )
        for m in runners:
            results[m] = replace(results[m], n_inner=n_inner[m], samples=tuple(samples[m]))
    return finish([replace(results[m], max_abs_diff=diff, max_abs=scale) for m in modes])


def _cross_check(
    jacobians: Mapping[str, np.ndarray], settings: Settings
) -> tuple[dict[str, tuple[str, str]], float, float]:
    """({mode: (status, reason)} for Jacobians not to be timed, max |J_fwd - J_rev|, max |J|).

    jacobians: mode -> array of shape (d_out, d_in), float64.
    """
    problems: dict[str, tuple[str, str]] = {}
    for mode, jm in jacobians.items():
        if not np.all(np.isfinite(jm)):
            bad = int(np.size(jm) - np.count_nonzero(np.isfinite(jm)))
            problems[mode] = (schema.STATUS_NONFINITE, f"{mode} Jacobian has {bad} NaN/Inf entries")
    diff = scale = math.nan
    if problems or not jacobians:
        return problems, diff, scale
    first = next(iter(jacobians.values()))
    scale = float(np.max(np.abs(first))) if first.size else 0.0
    if len(jacobians) == 2:
        a, b = jacobians["jacfwd"], jacobians["jacrev"]
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        rtol, atol = settings.tolerances()
        ok = np.abs(a - b) <= atol * scale + rtol * np.maximum(np.abs(a), np.abs(b))
        if not np.all(ok):
            reason = (
                f"jacfwd and jacrev disagree: max |diff| {diff:.3g} at max |J| {scale:.3g} "
                f"(rtol {rtol:g}, atol {atol:g} x max|J|)"
            )
            problems = {m: (schema.STATUS_MISMATCH, reason) for m in jacobians}
    return problems, diff, scale


def select_devices(which: str | None) -> list[Any]:
    """JAX devices for --device: None -> the default backend's first device; 'cpu', 'gpu',
    'tpu' -> that platform's devices; 'all' -> every device of every platform.

    Raises ValueError naming what is available when the platform is absent.
    """
    import jax

    if which is None:
        return [jax.devices()[0]]
    if which == "all":
        devices = []
        for platform in ("cpu", "gpu", "tpu"):
            try:
                devices.extend(jax.devices(platform))
            except RuntimeError:
                continue
        return devices
    try:
        return list(jax.devices(which))
    except RuntimeError:
        have = sorted({d.platform for d in jax.devices()})
        raise ValueError(
            f"--device {which}: no such device here; available: {', '.join(have)}"
        ) from None
