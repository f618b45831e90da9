"""One case on one device -> one measurement per strategy.

For each strategy of the case's task (adbench.strategies.registry) the derivative is prepared
(sparse: pattern detected and coloured, ``setup_s``), lowered and compiled ahead of time
(trace/lower and compile seconds recorded apart), XLA's cost and memory analyses are read and the
memory guard consulted (adbench.measure.memory); its first result is checked against the task's
reference (adbench.strategies.check), so a wrong derivative is never timed; then every strategy that
passed is timed *interleaved* by adbench.measure.timing: one sample of each per round, back to back,
the order rotated every round, so per-round ratios cancel most of the machine's drift. Every call is
followed by ``block_until_ready``; the inner loop is calibrated so one sample lasts at least
``min_sample_s``. Timing stops early once the case's verdict is settled, asked only at the preset
looks of adbench.analysis.sequential (``stop_early``; the budget stays the cap).

Chunked strategies take the case's ``chunk_size`` or the largest chunk that fits the memory budget;
one whose chunk holds the whole basis is ``skipped`` (its unchunked twin measures the same
computation). A failure of one strategy (it does not compile, raises, disagrees, would not fit) is
that strategy's status and reason; the others go on. A fault of the case itself (the factory raises,
the output has the wrong shape) is every strategy's.

Longer than ~400 lines for now: preparing, compiling, checking and timing share one case's state
(the built input, the chunk cache, the clock and the guard); the compile step (``_compile``,
``_cost``, ``_estimate``, ``_chunk``) and the estimators' error (``estimator_error``,
``_product``) are the pieces that would move out first, into ``measure/compile.py`` and
``measure/estimate.py``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from adbench.analysis import sequential
from adbench.config.cases import Case
from adbench.errors import first_line
from adbench.measure import build, callbacks, memory, prepare_guard, timing
from adbench.measure.devices import select_devices
from adbench.measure.outcome import CaseResult, CaseShape, StrategyResult, this_host
from adbench.store import schema
from adbench.strategies import check
from adbench.strategies import registry as strategies

__all__ = [
    "CaseResult",
    "Settings",
    "StrategyResult",
    "measure_case",
    "select_devices",
    "stop_meta",
]

Clock = timing.Clock
Runner = timing.Runner


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
    stop_early: bool = True  # stop a case's timing once its verdict is settled (sequential)
    tie_margin: float = 0.1  # the verdict's margin, which the stopping rule asks about
    max_case_s: float | None = None  # a case's cap past its budget (None: timing.default_cap)
    warmup: int = 1
    rtol: float | None = None
    atol: float | None = None
    max_memory_bytes: int | None = None  # refuse a strategy whose XLA estimate exceeds this
    timed: bool = True  # False: compile and check only (adbench.count.engine counts instructions)

    def tolerances(self) -> tuple[float, float]:
        """(rtol, atol-as-a-fraction-of-max|D|) for checking a result against the reference."""
        default = 2e-3 if self.dtype == "float32" else 1e-8
        rtol = self.rtol if self.rtol is not None else default
        atol = self.atol if self.atol is not None else default
        return rtol, atol


# --------------------------------------------------------------------------- JAX side


def _elements(case: Case) -> int:
    """Entries of the dense derivative over the whole batch."""
    per_point = {"jacobian": case.d_out * case.d_in, "hessian": case.d_in**2}
    if case.task == "ntk":  # K (N, N) for N points: at most d_out^2 (one output per point)
        return case.d_out**2
    return per_point.get(case.task, 1) * case.batch  # the scalar operators: one per point


def _whole(case: Case) -> str:
    """The dense derivative in words, for the memory guard: 'the 10 x 20 Jacobian alone'."""
    n = case.d_in
    shape = {
        "jacobian": f"{case.d_out} x {n} Jacobian",
        "hessian": f"{n} x {n} Hessian",
        "laplacian": "Laplacian",
        "derivative": "derivative",
        "biharmonic": "biharmonic",
        "ntk": f"NTK of {case.d_out} outputs",
    }[case.task]
    return f"the {shape} alone" if case.batch == 1 else f"{case.batch} x the {shape} alone"


_sparse_ready: list[bool] = []


def _warm_sparse() -> None:
    """One sparsity detection + colouring of a tiny function, once per process.

    The first detection in a process also pays for importing asdex's tracing machinery and what
    JAX builds on first use; charged to the first sparse case's ``setup_s`` it would make that
    case look slower than the next. Measured here (2-core CPU, jax 0.10.2): detecting and
    colouring x -> x * x at n = 3 took 0.23 s the first time in a process, 2 ms the second.
    """
    if _sparse_ready:
        return
    import jax.numpy as jnp

    x = jnp.ones(3, dtype=jnp.float32)
    try:
        strategies.sparse_coloring("jacobian", lambda v: v * v, x)
        strategies.sparse_coloring("hessian", lambda v: jnp.sum(v**3), x)
    except Exception:  # noqa: S110 - e.g. asdex missing: the sparse strategy itself says why
        return
    _sparse_ready.append(True)


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


def _build(case: Case, settings: Settings, device: Any) -> tuple[Callable[..., Any], Any] | str:
    """(fn, x) placed on `device`, or a one-line reason: adbench.measure.build's, in the form
    adbench.count.engine reads (it has no structure to give the strategies that need one)."""
    built = build.build(case, dtype=settings.dtype, seed=settings.seed, device=device)
    return built if isinstance(built, str) else (built.fn, built.x)


@dataclass(frozen=True)
class _Compiled:
    """A strategy prepared, lowered and compiled for one input shape."""

    prepared: strategies.Prepared
    compiled: Any
    lower_s: float
    compile_s: float
    cost: Mapping[str, float]


def _compile(
    s: strategies.Strategy,
    fn: Any,
    x: Any,
    chunk: int | None,
    batch: bool,
    clock: Clock,
    structure: Any = None,
    budget: int | None = None,
    params: Any = None,
) -> _Compiled | str:
    """Prepare `s` (sparse: detect + colour; bounded by adbench.measure.prepare_guard), lower
    and compile; or a one-line reason (a prepare_guard.Refusal carries its status)."""
    import jax

    try:
        prepared = prepare_guard.bounded(
            lambda: s.prepare(
                fn, x, chunk_size=chunk, batch=batch, structure=structure, params=params
            ),
            what=f"{s.name} preparation",
            memory_bytes=budget,
        )
    except prepare_guard.PreparationRefused as exc:
        return exc.refusal
    except Exception as exc:
        return f"{s.name} failed to prepare: {first_line(exc)}"
    try:
        t0 = clock()
        lowered = jax.jit(prepared.fn).lower(x)
        t1 = clock()
        compiled = lowered.compile()
        t2 = clock()
    except Exception as exc:
        return f"{s.name} failed to compile: {first_line(exc)}"
    return _Compiled(prepared, compiled, t1 - t0, t2 - t1, _cost(compiled))


def _estimate(cost: Mapping[str, float], host_elements: int) -> int:
    """Bytes one strategy needs: XLA's temp + argument + output, plus the host copies of the
    correctness check (``host_elements`` dense entries; 0 when no dense check is made)."""
    return memory.mode_bytes(
        cost["temp_bytes"], cost["argument_bytes"], cost["output_bytes"], host_elements, 1
    )


def _chunk(
    s: strategies.Strategy,
    case: Case,
    compile_at: Callable[[int], _Compiled | str],
    budget: int | None,
    host_elements: int,
) -> int:
    """The chunk of a chunked strategy: the case's, else the largest that fits the budget.

    Without a budget everything fits: the whole basis (so the strategy is skipped as its
    twin). With one, the whole basis is tried first (one compile, the usual answer), then
    ``strategies.largest_chunk`` bisects; compiles are cached, so the chosen one is reused.
    """
    if case.chunk_size is not None:
        return case.chunk_size
    basis = case.d_in if s.basis == "in" else case.d_out
    if budget is None:
        return basis

    def fits(chunk: int) -> bool:
        c = compile_at(chunk)
        return not isinstance(c, str) and _estimate(c.cost, host_elements) <= budget

    return basis if fits(basis) else strategies.largest_chunk(basis, fits)


Measured = tuple[StrategyResult, "np.ndarray | None", "Runner | None"]


def _measure_one(
    case: Case,
    name: str,
    fn: Any,
    x: Any,
    settings: Settings,
    budget: int | None,
    dense_check: bool,
    clock: Clock,
    structure: Any = None,
    warm: dict[str, float] | None = None,
) -> Measured:
    """(result, dense value for the check or None, runner for timing or None) of a strategy;
    `warm` gets the seconds of its last warm-up call, or of its first call when there is none
    (timing.calibrate's `warm_s`)."""
    import jax

    s = strategies.get(case.task, name)
    host = _elements(case) if dense_check else 0
    cache: dict[int | None, _Compiled | str] = {}

    def compile_at(chunk: int | None) -> _Compiled | str:
        if chunk not in cache:
            cache[chunk] = _compile(
                s,
                fn,
                x,
                chunk,
                case.batch > 1,
                clock,
                structure,
                settings.max_memory_bytes,
                case.task_params,
            )
        return cache[chunk]

    chunk = _chunk(s, case, compile_at, budget, host) if s.chunked else None
    info = {"chunk_size": chunk} if chunk is not None else {}
    skip = strategies.chunk_skip_reason(s, case.d_in, case.d_out, chunk) if chunk else None
    if skip:
        return StrategyResult(name, schema.STATUS_SKIPPED, skip, info=info), None, None
    c = compile_at(chunk)
    if isinstance(c, str):
        status = getattr(c, "status", schema.STATUS_ERROR)  # prepare_guard.Refusal's own
        return StrategyResult(name, status, c, info=info), None, None
    base = StrategyResult(
        name,
        lower_s=c.lower_s,
        compile_s=c.compile_s,
        setup_s=c.prepared.setup_s,
        cost=c.cost,
        info=dict(c.prepared.info),
    )
    if budget is not None:  # by adbench.memory; compiling allocated none of it
        why = memory.refusal(
            _estimate(c.cost, host),
            budget,
            f"{name} (XLA temp {memory.gib(c.cost['temp_bytes'])}, output "
            f"{memory.gib(c.cost['output_bytes'])}, host copies "
            f"{memory.gib(memory.host_bytes(host, 1))})",
        )
        if why:
            return replace(base, status=schema.STATUS_MEMORY, reason=why), None, None
    target = c.compiled if settings.jit else c.prepared.fn

    def run() -> Any:
        return jax.block_until_ready(target(x))

    try:
        t0 = clock()
        value = run()
        first = clock() - t0
        # a first call long enough to be a sample by itself has warmed the strategy: no warm-up
        # call (0.15-0.2 s each for the default run's slow modes), and it stands for
        # calibrate's first call (the compile is ahead of time, so the first call is a run)
        warmup = 0 if timing.is_long(first, settings.min_sample_s) else settings.warmup
        if warm is not None:
            warm[name] = first
        for _ in range(warmup):
            t0 = clock()
            run()
            if warm is not None:
                warm[name] = clock() - t0
    except Exception as exc:
        # the allocator's own refusal is a memory fault, not the function's
        status = schema.STATUS_MEMORY if "RESOURCE_EXHAUSTED" in str(exc) else schema.STATUS_ERROR
        return replace(base, status=status, reason=f"{name} raised {first_line(exc)}"), None, None
    base = replace(base, first_call_s=first)
    if dense_check:
        return base, c.prepared.to_dense(value), run
    # a sparse result whose dense form would not fit: finite, and one product D v right
    data = np.asarray(value.data, dtype=np.float64)
    bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if bad:
        why = f"{name} result has {bad} NaN/Inf entries"
        return replace(base, status=schema.STATUS_NONFINITE, reason=why), None, None
    v = np.random.default_rng(settings.seed + 1).standard_normal(case.d_in)
    m = case.d_out if case.task == "jacobian" else case.d_in
    got = check.sparse_times(data, np.asarray(value.indices), (m, case.d_in), v)
    rtol, atol = settings.tolerances()
    verdict = check.check_product(name, got, _product(case, fn, x, v), rtol=rtol, atol=atol)
    base = replace(
        base, reason=verdict.reason, max_abs_diff=verdict.max_abs_diff, max_abs=verdict.max_abs
    )
    if verdict.status is not None:
        return replace(base, status=verdict.status), None, None
    return base, None, run


def _product(case: Case, fn: Any, x: Any, v: np.ndarray) -> np.ndarray:
    """D v by plain autodiff at every point, (B, m) float64: a JVP of the flattened function
    (jacobian) or forward-over-reverse, the JVP of the gradient (hessian)."""
    import jax
    import jax.numpy as jnp

    tangent = jnp.asarray(v, dtype=x.dtype)
    if case.task == "jacobian":
        flat = lambda y: jnp.reshape(fn(y), (-1,))  # noqa: E731
    else:
        flat = jax.grad(lambda y: jnp.reshape(fn(y), ()))
    one = jax.jit(lambda y: jax.jvp(flat, (y,), (tangent,))[1])
    out = jax.vmap(one)(x) if case.batch > 1 else one(x)
    return np.asarray(out, dtype=np.float64).reshape(case.batch, -1)


def measure_case(
    case: Case, device: Any, settings: Settings, *, clock: Clock = time.perf_counter
) -> CaseResult:
    """Measure every planned strategy of `case` on one JAX `device`. Never raises for the case's
    own faults: they become the status and reason of its rows."""
    started_at = time.time()
    names = list(case.strategies)
    results: dict[str, StrategyResult] = {}
    shape: CaseShape | None = None

    warning = ""  # said on every clean row: the function calls back into Python

    def finish() -> CaseResult:
        if warning:
            for n, r in results.items():
                if r.status == schema.STATUS_OK and not r.reason:
                    results[n] = replace(r, reason=warning)
        if shape is not None:
            for n, r in results.items():
                results[n] = replace(r, case_shape=shape)
        return CaseResult(
            case=case,
            device=f"{device.platform}:{device.id}",
            device_kind=str(device.device_kind),
            platform=str(device.platform),
            dtype=settings.dtype,
            jit=settings.jit,
            strategies=tuple(results[n] for n in names),
            host=this_host(),
            started_at=started_at,
            ended_at=time.time(),
            shape=shape,
        )

    budget = memory.for_device(settings.max_memory_bytes, device)
    dense_check = True

    def guard() -> None:
        """Refuse the dense strategies when the dense derivative alone would not fit."""
        nonlocal dense_check
        assert budget is not None
        itemsize = 8 if settings.dtype == "float64" else 4
        why = memory.refusal(memory.case_bytes(_elements(case), 1, itemsize), budget, _whole(case))
        if why:  # a sparse result may still fit: only the dense strategies are refused
            dense_check = False
            for n in names:
                if strategies.get(case.task, n).dense:
                    results[n] = StrategyResult(n, schema.STATUS_MEMORY, why)

    # before the factory runs when the sizes are declared: it may build a derivative-sized matrix
    if budget is not None and case.d_in > 0:
        guard()
        if len(results) == len(names):
            return finish()
    # looked for whenever not declared (recorded either way); offered only when the strategies
    # were not listed by hand
    detect = case.per_example is None and case.task == "jacobian"
    built = build.build(
        case, dtype=settings.dtype, seed=settings.seed, device=device, detect=detect
    )
    if isinstance(built, str):
        for n in names:
            results.setdefault(n, StrategyResult(n, schema.STATUS_ERROR, built))
        return finish()
    fn, x = built.fn, built.x
    st = built.structure
    if st is not None:
        pe = st.per_example
        shape = CaseShape(
            st.d_in,
            st.d_out,
            st.in_tree,
            st.out_tree,
            ",".join(map(str, st.argnums)),
            pe.argnum if pe is not None else None,
            pe.how if pe is not None else "",
        )
        measured_in = case.d_in == 0
        case = replace(case, d_in=st.d_in, d_out=st.d_out)
        offer = pe is not None and pe.how == "detected" and case.offer_detected
        if offer and "per_example" not in names:
            names.append("per_example")  # offered: measured beside the whole-function ones
        if budget is not None and measured_in:
            guard()
            if len(results) == len(names):
                return finish()
    names_called = callbacks.python_callbacks(fn, x if case.batch == 1 else x[0])
    if names_called:
        warning = callbacks.callback_warning(names_called)
    if any(not strategies.get(case.task, n).dense for n in names):
        _warm_sparse()

    values: dict[str, np.ndarray] = {}
    runners: dict[str, Runner] = {}
    warm: dict[str, float] = {}
    for name in names:
        if name in results:
            continue
        results[name], value, run = _measure_one(
            case, name, fn, x, settings, budget, dense_check, clock, st, warm
        )
        if value is not None:
            values[name] = value
        if run is not None:
            runners[name] = run

    # correctness before timing: a wrong derivative is never timed
    rtol, atol = settings.tolerances()
    absent = {n: f"did not run ({r.status})" for n, r in results.items() if n not in values}
    guesses = {n: values.pop(n) for n in list(values) if n in schema.ESTIMATORS}
    verdicts = check.cross_check(
        values, names, schema.REFERENCE[case.task], rtol=rtol, atol=atol, absent=absent
    )
    for name in guesses:  # an estimate is not checked equal: its error is measured instead
        results[name] = estimator_error(case, name, fn, x, results[name], values)
    values.clear()
    for name, v in verdicts.items():
        r = replace(results[name], reason=v.reason, max_abs_diff=v.max_abs_diff, max_abs=v.max_abs)
        if v.status is not None:
            r = replace(r, status=v.status)
            runners.pop(name, None)
        results[name] = r

    if runners and settings.timed:
        n_inner = {
            m: timing.calibrate(
                r,
                min_sample_s=settings.min_sample_s,
                max_inner=1_000_000,
                clock=clock,
                warm_s=warm.get(m),
            )
            for m, r in runners.items()
        }
        stop = sequential.rule(settings.min_rounds, settings.max_rounds, settings.tie_margin)
        timed = timing.race(  # racing: eliminate the hopeless at the looks (stop_early)
            runners,
            n_inner,
            budget_s=settings.time_budget_s,
            min_rounds=settings.min_rounds,
            max_rounds=settings.max_rounds,
            clock=clock,
            looks=stop.looks,
            settled=stop.settled if settings.stop_early else None,
            max_case_s=(
                settings.max_case_s
                if settings.max_case_s is not None
                else timing.default_cap(settings.time_budget_s, len(runners), settings.min_sample_s)
            ),
            eliminate=stop.eliminate if settings.stop_early else None,
        )
        for m in runners:
            results[m] = replace(
                results[m],
                n_inner=n_inner[m],
                samples=timed.samples[m],
                positions=timed.positions[m],
            )
    return finish()


ESTIMATOR_DRAWS = 20  # draws for an estimator's error: its spread is known to +-16% (chi, n = 20)


def estimator_error(
    case: Case, name: str, fn: Any, x: Any, result: StrategyResult, values: Mapping[str, Any]
) -> StrategyResult:
    """``result`` with its relative error against the reference's value at the case's points
    (adbench.analysis.estimators.relative_error over ESTIMATOR_DRAWS draws); without a
    reference value the error stays empty and the reason says why."""
    from adbench.analysis.estimators import relative_error
    from adbench.strategies import stochastic
    from adbench.strategies.params import NO_PARAMS

    params = case.task_params or NO_PARAMS
    info = {**dict(result.info), "samples": params.samples, "tolerance": params.tolerance}
    ref = schema.REFERENCE[case.task]
    exact = next((values[n] for n in (ref, *values) if n in values), None)
    if exact is None:
        why = f"{name} is an estimate, and no exact strategy ran to measure its error against"
        return replace(result, info=info, reason=why)
    try:
        draws = stochastic.draws(
            case.task, name, fn, x, params=params, repeats=ESTIMATOR_DRAWS, batch=case.batch > 1
        )
    except Exception as exc:
        return replace(
            result, status=schema.STATUS_ERROR, reason=f"{name} raised {first_line(exc)}"
        )
    err = relative_error(draws, np.asarray(exact).reshape(draws.shape[1:]))
    info.update(rel_error_mean=err.mean, rel_error_std=err.std, rel_error_draws=err.draws)
    return replace(result, info=info)


def stop_meta(settings: Settings) -> dict[str, Any]:
    """How timing stops, for meta.json's settings: ``stop_early`` and, when on, the looks (round
    counts) and the confidence a look needs to stop decided or tied
    (adbench.analysis.sequential)."""
    if not settings.stop_early:
        return {"stop_early": False}
    rule = sequential.rule(settings.min_rounds, settings.max_rounds, settings.tie_margin)
    return {
        "stop_early": True,
        "stop_looks": list(rule.looks),
        "stop_confidence": rule.confidence,
        "stop_tie_confidence": rule.tie_confidence,
    }
