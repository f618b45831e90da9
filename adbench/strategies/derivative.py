"""Derivative strategies: f (n,) -> (); result () = sum over terms of coef * d^k f / dx_wrt.

A term's ``wrt`` lists k indices into the flat input, e.g. (0, 0, 0, 0) for d^4 f / dx_0^4 or
(0, 1) for d^2 f / dx_0 dx_1; a linear combination of terms is the shape of a PDE residual
(Kuramoto-Sivashinsky: u_t + u_xx + u_xxxx + ...). The terms arrive in ``TaskParams.terms``.

Every strategy evaluates each term at one point; the batch axis is added by ``jax.vmap`` as for
every task. ``nested_jacfwd`` is the reference: k nested ``jax.jacfwd`` build the whole (n,)*k
derivative tensor and index it (n^k entries: fine for a PINN's n = 1-3 inputs, the reason it is
the reference and not a recommendation at larger n).

**Taylor mode and mixed partials.** A jet of order k along one direction v gives the k-th
directional derivative D_v^k f = T(v, ..., v), T the (symmetric) k-th derivative tensor. For a
pure partial (all indices equal, v = e_i) that is the answer. For a mixed partial it is not: one
jet along e_0 + e_1 gives f_00 + 2 f_01 + f_11, not f_01, so "one jet per term" is wrong for
mixed terms. Correct is the polarization identity of a symmetric k-linear form:

    T(v_1, ..., v_k) = 1/k! sum_{S subset of {1..k}} (-1)^(k - |S|) D^k_{sum_{j in S} v_j} f

Repeated indices make many subsets give the same direction: with a term's distinct indices i
taken c_i times out of their multiplicity a_i, the direction is sum_i c_i e_i and it occurs
prod_i C(a_i, c_i) times, so a term costs prod_i (a_i + 1) - 1 jets, not 2^k - 1 (one for a pure
term). A jet of order k along v also yields every lower order along v, so the terms' needs are
grouped by direction and each direction gets one jet of the highest order it is needed at
(u_x + u_xxxx: one jet of order 4 along e_0). tests/strategies/test_operators.py shows the single
jet along the sum of directions failing on a mixed partial.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import product
from typing import TYPE_CHECKING

from adbench.strategies.base import Derived, Fn, Strategy
from adbench.strategies.params import NO_PARAMS, TaskParams, Term

if TYPE_CHECKING:
    import jax

Partial = Callable[[Fn, "jax.Array", tuple[int, ...]], "jax.Array"]


def _scalar(f: Fn) -> Fn:
    import jax.numpy as jnp

    return lambda x: jnp.reshape(f(x), ())


def _combination(partial: Partial) -> Callable[..., Derived]:
    """A builder: sum_t coef_t * partial(f, x, wrt_t), the terms checked against n."""

    def build(
        f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS
    ) -> Derived:
        terms = params.check_terms(int(x0.shape[0]))
        g = _scalar(f)

        def derivative(x: jax.Array) -> jax.Array:
            return sum(
                (t.coef * partial(g, x, t.wrt) for t in terms[1:]),
                start=terms[0].coef * partial(g, x, terms[0].wrt),
            )

        return Derived(
            derivative, info={"terms": len(terms), "order": max(len(t.wrt) for t in terms)}
        )

    return build


def _nested_jacfwd(g: Fn, x: jax.Array, wrt: tuple[int, ...]) -> jax.Array:
    """k nested jax.jacfwd: the full (n,)*k tensor, indexed at wrt."""
    import jax

    h = g
    for _ in wrt:
        h = jax.jacfwd(h)
    return h(x)[wrt]


def _nested_grad(g: Fn, x: jax.Array, wrt: tuple[int, ...]) -> jax.Array:
    """One reverse pass per index: h_{j+1}(x) = grad(h_j)(x)[wrt_j], the usual PINN code."""
    import jax

    h = g
    for i in wrt:
        h = (lambda hh, ii: lambda y: jax.grad(hh)(y)[ii])(h, i)
    return h(x)


def _nested_jvp(g: Fn, x: jax.Array, wrt: tuple[int, ...]) -> jax.Array:
    """One forward pass per index: h_{j+1}(x) = d/dt h_j(x + t e_wrt_j), JVPs nested k deep."""
    import jax
    import jax.numpy as jnp

    n = x.shape[0]
    h = g
    for i in wrt:
        h = (
            lambda hh, ii: lambda y: jax.jvp(hh, (y,), ((jnp.arange(n) == ii).astype(y.dtype),))[1]
        )(h, i)
    return h(x)


def polarization(wrt: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], float], ...]:
    """The directions and weights of the polarization identity for one term (module docstring).

    Returns ((counts, weight), ...): direction sum_i counts[j] e_{index_j} (counts over the term's
    distinct indices, in sorted order) and its weight in d^k f / dx_wrt = sum weight * D^k_dir f.
    A pure term (one distinct index) is ((1,), 1.0): the single jet along e_i.
    """
    distinct = sorted(set(wrt))
    k = len(wrt)
    if len(distinct) == 1:
        return (((1,), 1.0),)
    mult = [wrt.count(i) for i in distinct]
    out = []
    for counts in product(*(range(a + 1) for a in mult)):
        c = sum(counts)
        if c == 0:  # D^k along 0 vanishes
            continue
        ways = math.prod(math.comb(a, ci) for a, ci in zip(mult, counts, strict=True))
        out.append((tuple(counts), (-1) ** (k - c) * ways / math.factorial(k)))
    return tuple(out)


def _directions(terms: tuple[Term, ...], n: int) -> dict[tuple[int, ...], tuple[int, list]]:
    """Every direction (as an (n,) integer vector) the terms need, with the highest jet order it is
    needed at and the (term coef * weight, order) contributions read from its jet."""
    needs: dict[tuple[int, ...], tuple[int, list]] = {}
    for t in terms:
        distinct = sorted(set(t.wrt))
        for counts, weight in polarization(t.wrt):
            vec = [0] * n
            for i, c in zip(distinct, counts, strict=True):
                vec[i] = c
            key = tuple(vec)
            order, parts = needs.get(key, (0, []))
            needs[key] = (max(order, t.order), [*parts, (t.coef * weight, t.order)])
    return needs


def _taylor(f: Fn, x0: jax.Array, chunk: int | None, *, params: TaskParams = NO_PARAMS) -> Derived:
    """One jet per distinct direction of the polarization identity (module docstring)."""
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    terms = params.check_terms(int(x0.shape[0]))
    needs = _directions(terms, int(x0.shape[0]))
    g = _scalar(f)

    def derivative(x: jax.Array) -> jax.Array:
        total = jnp.zeros((), x.dtype)
        for key, (order, parts) in needs.items():
            v = jnp.asarray(key, x.dtype)
            zero = jnp.zeros_like(v)
            _, series = jet(g, (x,), ((v, *([zero] * (order - 1))),))
            for weight, k in parts:
                total = total + weight * series[k - 1]
        return total

    return Derived(derivative, info={"terms": len(terms), "jets": len(needs)})


STRATEGIES = (
    Strategy.plain(
        "derivative",
        "nested_jacfwd",
        _combination(_nested_jacfwd),
        "k nested jacfwd, the full derivative tensor indexed",
    ),
    Strategy.plain(
        "derivative", "nested_grad", _combination(_nested_grad), "k nested grads, one per index"
    ),
    Strategy.plain(
        "derivative", "nested_jvp", _combination(_nested_jvp), "k nested JVPs along basis vectors"
    ),
    Strategy.plain(
        "derivative",
        "taylor",
        _taylor,
        "jet of order k per direction; mixed partials by polarization",
    ),
)
