"""The operators of physics-informed models in user code: ``adbench.derivative``,
``adbench.biharmonic`` and ``adbench.ntk``.

``derivative`` and ``biharmonic`` are :class:`~adbench.auto.derivative.AutoDerivative` like
``adbench.laplacian`` (same options: ``argnums``, ``batched``, ``strategies``, ``calibrate``,
...), with the derivative's terms carried to every candidate as a
:class:`~adbench.strategies.params.TaskParams`. Their default candidates are the task's exact
strategies (never an estimator).

``ntk`` is of another shape: f(params, X) -> (N, *out) at two sets of points, K(X1, X2) =
J(X1) J(X2)^T (:mod:`adbench.strategies.ntk`). With ``strategy="auto"`` the three
implementations are compiled at the first call's shapes and timed against each other
(adbench.measure.timing's interleaved loop, ``budget_s`` seconds); the fastest is kept for those
shapes. Under a JAX transformation (a traced call) nothing can be timed: the per-example
contraction is taken, the one per-example structure favours, and ``explain()`` says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from adbench.auto.derivative import AUTO, AutoDerivative
from adbench.strategies.params import TaskParams, Term


def _terms(wrt: Sequence[int] | None, terms: Sequence[Any] | None) -> tuple[Term, ...]:
    """Terms from ``wrt=[i, j, ...]`` or ``terms=[(coef, wrt), {"coef":, "wrt":}, ...]``."""
    if (wrt is None) == (terms is None):
        raise ValueError("adbench.derivative: give wrt=[i, ...] (one partial) or terms=, not both")
    if wrt is not None:
        return (Term(tuple(int(i) for i in wrt)),)
    out = []
    for t in terms or ():
        coef, w = (t["coef"], t["wrt"]) if isinstance(t, dict) else t
        out.append(Term(tuple(int(i) for i in w), float(coef)))
    if not out:
        raise ValueError("adbench.derivative: terms= is empty")
    return tuple(out)


def derivative(
    f: Callable[..., Any],
    wrt: Sequence[int] | None = None,
    strategy: str = AUTO,
    *,
    terms: Sequence[Any] | None = None,
    **options: Any,
) -> AutoDerivative:
    """d^k f / dx_wrt of a scalar f (or sum coef * term over ``terms``), shaped like f's
    output; indices into the raveled differentiated arguments. ``wrt=[0, 0, 0, 0]``: the fourth
    derivative in x_0; ``terms=[(1, [1]), (1, [0, 0, 0, 0])]``: u_t + u_xxxx. An index out of
    range of the input is a ValueError at the first call."""
    params = TaskParams(terms=_terms(wrt, terms))
    return AutoDerivative("derivative", f, strategy, params=params, **options)


def biharmonic(f: Callable[..., Any], strategy: str = AUTO, **options: Any) -> AutoDerivative:
    """Delta^2 f of a scalar f, shaped like f's output (() for a scalar; (B,) batched)."""
    return AutoDerivative("biharmonic", f, strategy, **options)


class NTK:
    """K(X1, X2) of f(params, X); ``choices``: shapes -> (strategy, {name: median seconds})."""

    def __init__(
        self,
        f: Callable[..., Any],
        strategy: str = AUTO,
        *,
        trace_axes: tuple[int, ...] | None = (-1,),
        budget_s: float = 0.5,
    ) -> None:
        from adbench.strategies import ntk

        if not callable(f):
            raise ValueError(f"adbench.ntk: f must be callable, got {type(f).__name__}")
        if strategy != AUTO and strategy not in ntk.NAMES:
            raise ValueError(
                f"adbench.ntk: unknown strategy {strategy!r}; choose from: auto, "
                + ", ".join(ntk.NAMES)
            )
        if isinstance(budget_s, bool) or not budget_s > 0:
            raise ValueError(f"adbench.ntk: budget_s must be seconds > 0, got {budget_s!r}")
        self.f, self.strategy, self.trace_axes, self.budget_s = f, strategy, trace_axes, budget_s
        self.choices: dict[Any, tuple[str, dict[str, float]]] = {}

    def _key(self, params: Any, x1: Any, x2: Any) -> Any:
        import jax

        def sig(t: Any) -> Any:
            leaves, tree = jax.tree_util.tree_flatten(t)
            return tree, tuple((tuple(v.shape), str(v.dtype)) for v in leaves)

        return sig(params), sig(x1), sig(x2)

    def __call__(self, params: Any, x1: Any, x2: Any = None) -> Any:
        import jax
        import jax.numpy as jnp

        from adbench.strategies import ntk

        key = self._key(params, x1, x2)
        traced = any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(params))
        if self.strategy != AUTO:
            name = self.strategy
        elif key in self.choices:
            name = self.choices[key][0]
        elif traced:
            name = "per_example_contraction"
        else:
            name = self._choose(key, params, x1, x2)
        kernel, theta, _ = ntk.kernel_fn(name, self.f, params, x1, trace_axes=self.trace_axes)
        return kernel(theta, jnp.asarray(x1), None if x2 is None else jnp.asarray(x2))

    def _choose(self, key: Any, params: Any, x1: Any, x2: Any) -> str:
        import jax
        import jax.numpy as jnp
        import numpy as np

        from adbench.measure import timing
        from adbench.strategies import ntk

        p1 = jnp.asarray(x1)
        p2 = None if x2 is None else jnp.asarray(x2)
        runners = {}
        for name in ntk.NAMES:
            kernel, theta, _ = ntk.kernel_fn(name, self.f, params, x1, trace_axes=self.trace_axes)
            exe = jax.jit(lambda t, a, b, k=kernel: k(t, a, b)).lower(theta, p1, p2).compile()
            runners[name] = lambda e=exe, t=theta: jax.block_until_ready(e(t, p1, p2))
        clock = time.perf_counter
        inner = {
            n: timing.calibrate(r, min_sample_s=0.002, max_inner=10_000, clock=clock)
            for n, r in runners.items()
        }
        samples = timing.interleave(
            runners, inner, budget_s=self.budget_s, min_rounds=3, max_rounds=30, clock=clock
        )
        medians = {n: float(np.median(s)) for n, s in samples.items()}
        best = min(medians, key=lambda n: medians[n])
        self.choices[key] = (best, medians)
        return best

    def explain(self) -> str:
        """What was chosen, per shapes, and the medians it was chosen by."""
        if self.strategy != AUTO:
            return f"ntk: strategy {self.strategy} (given)"
        if not self.choices:
            return (
                "ntk: nothing measured yet (or only traced calls, which take "
                "per_example_contraction: a traced call cannot be timed)"
            )
        lines = []
        for name, medians in self.choices.values():
            timed = ", ".join(f"{n} {m * 1e3:.3g} ms" for n, m in sorted(medians.items()))
            lines.append(f"ntk: {name} (measured: {timed})")
        return "\n".join(lines)


def ntk(
    f: Callable[..., Any],
    strategy: str = AUTO,
    *,
    trace_axes: tuple[int, ...] | None = (-1,),
    budget_s: float = 0.5,
) -> NTK:
    """The empirical NTK of f(params, X) -> (N, *out): ``adbench.ntk(f)(params, x1, x2=None)``
    -> K (N1, N2, *kept, *kept), ``trace_axes`` of a point's output summed (neural-tangents'
    convention; None keeps every axis)."""
    return NTK(f, strategy, trace_axes=trace_axes, budget_s=budget_s)
