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
contraction is taken, the one per-example structure favours, and ``explain()`` says so. With
``policy=`` and ``family=`` a run's measured verdict decides instead (traced calls included).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adbench import fmt
from adbench.analysis import policy as pol
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
    """K(X1, X2) of f(params, X); ``choices``: shapes -> :class:`NTKChoice`.

    Deciding, in order: a forced ``strategy``; a policy entry (``policy`` + ``family``, from
    ``adbench policy`` of a run with a task ``ntk`` family: looked up at d_in = P parameters,
    d_out = N1 * O outputs, batch 1, as the run measured them); a traced call takes
    ``per_example_contraction`` (nothing can be timed); else the candidates (the policy's tie
    set, or all three) are timed at the first call's shapes.
    """

    def __init__(
        self,
        f: Callable[..., Any],
        strategy: str = AUTO,
        *,
        trace_axes: tuple[int, ...] | None = (-1,),
        budget_s: float = 0.5,
        policy: str | Path | pol.Policy | None = None,
        family: str | None = None,
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
        if policy is not None and family is None:
            raise ValueError("adbench.ntk: policy= needs family= (the family name in the policy)")
        loaded = policy if isinstance(policy, pol.Policy) or policy is None else pol.load(policy)
        if loaded is not None and family is not None:
            loaded.check_family(family)
        self.f, self.strategy, self.trace_axes, self.budget_s = f, strategy, trace_axes, budget_s
        self.policy, self.family = loaded, family
        self.choices: dict[Any, NTKChoice] = {}
        self._traced: NTKChoice | None = None  # the last traced call's (never cached) choice
        self._programs: dict[Any, Callable[..., Any]] = {}

    def _key(self, params: Any, x1: Any, x2: Any) -> Any:
        import jax

        def sig(t: Any) -> Any:
            leaves, tree = jax.tree_util.tree_flatten(t)
            return tree, tuple((tuple(v.shape), str(v.dtype)) for v in leaves)

        return sig(params), sig(x1), sig(x2)

    def __call__(self, params: Any, x1: Any, x2: Any = None) -> Any:
        import jax
        import jax.numpy as jnp

        name = self.choose(params, x1, x2)
        key = (name, self._key(params, x1, x2))
        if key not in self._programs:  # one jitted program per strategy and shapes
            self._programs[key] = jax.jit(self._program(name, params, x1))
        return self._programs[key](params, jnp.asarray(x1), None if x2 is None else x2)

    def _program(self, name: str, params: Any, x1: Any) -> Callable[..., Any]:
        """(params, X1, X2 | None) -> K for strategy ``name`` at these shapes."""
        import jax.numpy as jnp
        from jax.flatten_util import ravel_pytree

        from adbench.strategies import ntk

        kernel, _, _ = ntk.kernel_fn(name, self.f, params, x1, trace_axes=self.trace_axes)

        def program(p: Any, a: Any, b: Any) -> Any:
            return kernel(ravel_pytree(p)[0], a, None if b is None else jnp.asarray(b))

        return program

    def choose(self, params: Any, x1: Any, x2: Any = None) -> str:
        """The strategy used at these shapes (deciding it on the first call)."""
        import jax

        from adbench.strategies import ntk

        if self.strategy != AUTO:
            return self.strategy
        key = self._key(params, x1, x2)
        if key in self.choices:
            return self.choices[key].strategy
        traced = any(
            isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves((params, x1, x2))
        )
        names: tuple[str, ...] = ntk.NAMES
        why = ""
        if self.policy is not None and self.family is not None:
            names, why = self._from_policy(params, x1)
        if len(names) == 1:
            choice = NTKChoice(names[0], why, {})
        elif traced:
            name = "per_example_contraction" if "per_example_contraction" in names else names[0]
            lead = f"{why}; " if why else ""
            choice = NTKChoice(name, f"{lead}a traced call cannot be timed: {name}", {})
        else:
            medians = self._time(names, params, x1, x2)
            best = min(medians, key=lambda n: (medians[n], names.index(n)))
            timed = ", ".join(f"{n} {fmt.seconds(m)}" for n, m in sorted(medians.items()))
            lead = f"{why}; " if why else ""
            choice = NTKChoice(best, f"{lead}measured: {timed}", medians)
        if not traced:  # a traced call's choice is not a measurement: decide again when concrete
            self.choices[key] = choice
        else:
            self._traced = choice
        return choice.strategy

    def _from_policy(self, params: Any, x1: Any) -> tuple[tuple[str, ...], str]:
        import math

        import jax
        from jax.flatten_util import ravel_pytree

        from adbench.strategies import ntk

        assert self.policy is not None and self.family is not None
        kind = str(jax.devices()[0].device_kind)
        problem = self.policy.unusable(kind, jax.__version__)
        if problem is not None:
            return ntk.NAMES, f"policy not used ({problem})"
        theta, unravel = ravel_pytree(params)
        out = jax.eval_shape(lambda t, x: jax.numpy.asarray(self.f(unravel(t), x)), theta, x1)
        answer = self.policy.lookup(
            self.family, "ntk", kind, int(theta.shape[0]), int(math.prod(out.shape)), batch=1
        )
        usable = tuple(n for n in answer.strategies if n in ntk.NAMES)
        return (usable or ntk.NAMES), answer.why

    def _time(self, names: Sequence[str], params: Any, x1: Any, x2: Any) -> dict[str, float]:
        import jax
        import jax.numpy as jnp
        import numpy as np

        from adbench.measure import timing
        from adbench.strategies import ntk

        p1 = jnp.asarray(x1)
        p2 = None if x2 is None else jnp.asarray(x2)
        runners = {}
        for name in names:
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
        return {n: float(np.median(s)) for n, s in samples.items()}

    def explain(self) -> str:
        """What was chosen, per shapes, and why (the policy entry, the medians)."""
        if self.strategy != AUTO:
            return f"ntk: strategy {self.strategy} (given)"
        if not self.choices:
            if self._traced is not None:
                return f"ntk: {self._traced.strategy} ({self._traced.why})"
            return "ntk: nothing chosen yet"
        return "\n".join(f"ntk: {c.strategy} ({c.why})" for c in self.choices.values())


@dataclass(frozen=True)
class NTKChoice:
    """The strategy kept for one set of shapes, why, and the medians it was timed at (seconds;
    empty when it was not timed)."""

    strategy: str
    why: str
    medians: dict[str, float]


def ntk(
    f: Callable[..., Any],
    strategy: str = AUTO,
    *,
    trace_axes: tuple[int, ...] | None = (-1,),
    budget_s: float = 0.5,
    policy: str | Path | pol.Policy | None = None,
    family: str | None = None,
) -> NTK:
    """The empirical NTK of f(params, X) -> (N, *out): ``adbench.ntk(f)(params, x1, x2=None)``
    -> K (N1, N2, *kept, *kept), ``trace_axes`` of a point's output summed (neural-tangents'
    convention; None keeps every axis). ``policy`` + ``family``: use a run's measured choice
    (see :class:`NTK`)."""
    return NTK(f, strategy, trace_axes=trace_axes, budget_s=budget_s, policy=policy, family=family)
