"""Empirical neural tangent kernel strategies: K(X1, X2) = J(X1) J(X2)^T of f(params, X).

The model is f(params, X) -> (N, *out): ``params`` any pytree (flattened once by
``jax.flatten_util.ravel_pytree`` to theta (P,)), X (N, ...) N points; row i of the output must
depend on the parameters and on point i only (the per-example structure every NTK has).
J(X) is (N, *out, P). The result, for per-point output axes ``out`` with ``trace_axes`` summed
over (neural-tangents' convention: default (-1,), the last output axis; none if out is ()):

    K  (N1, N2, *kept, *kept),   K[a, b, k, l] = sum_{z, p} J1[a, k, z, p] J2[b, l, z, p]

with k, l indexing the kept output axes of point a of X1 and point b of X2, z the traced ones.
Strategies (neural-tangents' implementations, chosen here by measurement rather than by XLA's
FLOP count, which its docs say can be wrong on CPU and GPU):

- ``jacobian_contraction``: the whole-batch Jacobian of theta -> f(theta, X), by jacrev when
  N * O <= P output rows are fewer than the P columns, else jacfwd (recorded as
  ``jacobian_mode``), then contracted over P. Each reverse pass runs the whole batch: redundant.
- ``per_example_contraction``: the per-point Jacobian (O, P) of theta -> f(theta, x_i[None])[0],
  ``jax.vmap`` over the points (jacrev if O <= P, else jacfwd), then contracted.
- ``ntk_vector_products``: K's columns as J1 (J2^T e): a VJP of the X2 batch per cotangent basis
  vector e, then a JVP of the X1 batch along it, ``jax.vmap`` over the N2 * O basis vectors. Never
  stores a Jacobian.

The reference is ``jacobian_contraction`` (plain autodiff, nothing per-point assumed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from adbench.strategies.base import Prepared

if TYPE_CHECKING:
    import jax

# model(theta (P,), X (N, ...)) -> (N, *out); unravel is ravel_pytree's inverse.
Model = Callable[["jax.Array", "jax.Array"], "jax.Array"]
NAMES = ("jacobian_contraction", "per_example_contraction", "ntk_vector_products")
REFERENCE = "jacobian_contraction"
SUMMARIES = {
    "jacobian_contraction": "whole-batch Jacobian (jacrev or jacfwd), contracted over parameters",
    "per_example_contraction": "per-point Jacobians by vmap, contracted over parameters",
    "ntk_vector_products": "vmap of JVP after VJP over the cotangent basis; no Jacobian stored",
}


@dataclass(frozen=True)
class Layout:
    """The per-point output shape ``out`` and which of its axes are traced (normalised >= 0)."""

    out: tuple[int, ...]
    traced: tuple[int, ...]

    @classmethod
    def of(cls, out: tuple[int, ...], trace_axes: tuple[int, ...] | None = (-1,)) -> Layout:
        if not out or trace_axes is None:
            return cls(out, ())
        axes = []
        for a in trace_axes:
            if not -len(out) <= a < len(out):
                raise ValueError(f"trace_axes: axis {a} out of range for a point's output {out}")
            axes.append(a % len(out))
        return cls(out, tuple(sorted(set(axes))))

    @property
    def kept(self) -> tuple[int, ...]:
        return tuple(d for i, d in enumerate(self.out) if i not in self.traced)

    def result_shape(self, n1: int, n2: int) -> tuple[int, ...]:
        return (n1, n2, *self.kept, *self.kept)


def _split(j: jax.Array, lay: Layout) -> jax.Array:
    """(N, *out, P) -> (N, Ok, Ot, P): kept output axes, then traced ones, flattened."""
    import math

    import jax.numpy as jnp

    keep = [i for i in range(len(lay.out)) if i not in lay.traced]
    order = [0, *(1 + i for i in keep), *(1 + i for i in lay.traced), j.ndim - 1]
    ok = math.prod(lay.kept)
    ot = math.prod(lay.out[i] for i in lay.traced)
    return jnp.reshape(jnp.transpose(j, order), (j.shape[0], ok, ot, j.shape[-1]))


def _contract(j1: jax.Array, j2: jax.Array, lay: Layout) -> jax.Array:
    import jax.numpy as jnp

    k = jnp.einsum("akzp,blzp->abkl", _split(j1, lay), _split(j2, lay))
    return jnp.reshape(k, lay.result_shape(j1.shape[0], j2.shape[0]))


def _jac(fn: Callable[[jax.Array], jax.Array], theta: jax.Array, rows: int) -> jax.Array:
    import jax

    return (jax.jacrev if rows <= theta.shape[0] else jax.jacfwd)(fn)(theta)


def _jacobian_contraction(model: Model, lay: Layout) -> Callable[..., jax.Array]:
    import math

    def kernel(theta: jax.Array, x1: jax.Array, x2: jax.Array | None) -> jax.Array:
        def jac(x: jax.Array) -> jax.Array:
            return _jac(lambda t: model(t, x), theta, x.shape[0] * math.prod(lay.out))

        j1 = jac(x1)
        return _contract(j1, j1 if x2 is None else jac(x2), lay)

    return kernel


def _per_example_contraction(model: Model, lay: Layout) -> Callable[..., jax.Array]:
    import math

    import jax

    def kernel(theta: jax.Array, x1: jax.Array, x2: jax.Array | None) -> jax.Array:
        def jac(x: jax.Array) -> jax.Array:
            def one(xi: jax.Array) -> jax.Array:
                return _jac(lambda t: model(t, xi[None])[0], theta, math.prod(lay.out))

            return jax.vmap(one)(x)

        j1 = jac(x1)
        return _contract(j1, j1 if x2 is None else jac(x2), lay)

    return kernel


def _ntk_vector_products(model: Model, lay: Layout) -> Callable[..., jax.Array]:
    import math

    import jax
    import jax.numpy as jnp

    def kernel(theta: jax.Array, x1: jax.Array, x2: jax.Array | None) -> jax.Array:
        xb = x1 if x2 is None else x2
        n1, n2, o = x1.shape[0], xb.shape[0], math.prod(lay.out)
        _, pull = jax.vjp(lambda t: model(t, xb), theta)
        _, push = jax.linearize(lambda t: model(t, x1), theta)

        def column(i: jax.Array) -> jax.Array:  # K e_i, i over the N2 * O cotangent basis
            e = jnp.reshape(jnp.arange(n2 * o) == i, (n2, *lay.out)).astype(theta.dtype)
            return jnp.reshape(push(pull(e)[0]), (n1, o))

        cols = jax.vmap(column)(jnp.arange(n2 * o))  # (N2 * O, N1, O)
        full = jnp.transpose(jnp.reshape(cols, (n2, o, n1, o)), (2, 0, 3, 1))  # (N1, N2, O, O)
        ok = math.prod(lay.kept)
        ot = math.prod(lay.out[i] for i in lay.traced)
        if lay.traced:  # the flat output index is (kept..., traced...) only if traced are last
            perm = _kept_first(lay)
            full = full[:, :, perm][:, :, :, perm]
        k = jnp.einsum("abkzlz->abkl", jnp.reshape(full, (n1, n2, ok, ot, ok, ot)))
        return jnp.reshape(k, lay.result_shape(n1, n2))

    return kernel


def _kept_first(lay: Layout) -> Any:
    """Flat output indices reordered so the kept axes come first and the traced ones last."""
    import numpy as np

    keep = [i for i in range(len(lay.out)) if i not in lay.traced]
    idx = np.arange(int(np.prod(lay.out))).reshape(lay.out)
    return np.transpose(idx, keep + list(lay.traced)).reshape(-1)


BUILDERS = {
    "jacobian_contraction": _jacobian_contraction,
    "per_example_contraction": _per_example_contraction,
    "ntk_vector_products": _ntk_vector_products,
}


def kernel_fn(
    name: str,
    f: Callable[..., Any],
    params: Any,
    x1: Any,
    *,
    trace_axes: tuple[int, ...] | None = (-1,),
) -> tuple[Callable[..., jax.Array], jax.Array, Layout]:
    """(kernel(theta, x1, x2 | None) -> K, theta (P,), Layout) for f(params, X) at these shapes.

    Raises a one-line ValueError for an unknown name, a trace axis out of range, or an output
    whose leading axis is not the points'.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    if name not in BUILDERS:
        raise ValueError(f"unknown ntk strategy {name!r}; choose from: {', '.join(NAMES)}")
    theta, unravel = ravel_pytree(params)
    x1 = jnp.asarray(x1)

    def model(t: jax.Array, x: jax.Array) -> jax.Array:
        return jnp.asarray(f(unravel(t), x))

    out = jax.eval_shape(model, theta, x1)
    if out.ndim < 1 or out.shape[0] != x1.shape[0]:
        raise ValueError(
            f"ntk needs f(params, X) with X's leading axis ({x1.shape[0]} points) leading the "
            f"output, got output shape {tuple(out.shape)}"
        )
    lay = Layout.of(tuple(out.shape[1:]), trace_axes)
    return BUILDERS[name](model, lay), theta, lay


def prepare(
    name: str,
    f: Callable[..., Any],
    params: Any,
    x1: Any,
    x2: Any = None,
    *,
    trace_axes: tuple[int, ...] | None = (-1,),
) -> Prepared:
    """The strategy bound to f at these points: ``Prepared.fn`` theta (P,) -> K (module
    docstring), the points held by the program; ``info`` records the layout and P."""
    import jax.numpy as jnp

    kernel, theta, lay = kernel_fn(name, f, params, x1, trace_axes=trace_axes)
    p1 = jnp.asarray(x1)
    p2 = None if x2 is None else jnp.asarray(x2)
    info = {"n_params": int(theta.shape[0]), "traced_axes": lay.traced}
    return Prepared(lambda t: kernel(t, p1, p2), info=MappingProxyType(info))


# --------------------------------------------------------------- the run path: structured


def point_rows(n: int, leaf_sizes: tuple[int, ...]) -> Any:
    """Flat output row of (point i, output o) for a function of per-example structure: (n, k),
    k = sum(leaf_sizes); leaf l's rows come after the earlier leaves' n * k_l, row-major."""
    import numpy as np

    blocks, offset = [], 0
    for k in leaf_sizes:
        blocks.append(offset + np.arange(n * k).reshape(n, k))
        offset += n * k
    return np.concatenate(blocks, axis=1)


def _per_example(structure: Any) -> Any:
    pe = getattr(structure, "per_example", None)
    if pe is None:
        raise ValueError(
            "ntk needs f(params, points) with the points declared: `per_example: K` names the "
            "argument whose leading axis holds them"
        )
    return pe


def _structured(name: str) -> Callable[..., Any]:
    """Builder(flat, theta0, chunk, structure) -> Derived: K(X, X) (N, N), traced over each
    point's outputs, for the family's f(params, X) raveled by adbench.strategies.trees."""

    def build(f: Callable[..., Any], x0: jax.Array, chunk: int | None, structure: Any) -> Any:
        import jax
        import jax.numpy as jnp

        from adbench.strategies.base import Derived

        pe = _per_example(structure)
        rows = point_rows(pe.n, tuple(pe.leaf_sizes))  # (N, k)
        p = int(x0.shape[0])
        d_out = int(rows.size)

        def flat(t: jax.Array) -> jax.Array:
            return jnp.reshape(f(t), (-1,))

        info: dict[str, Any] = {}
        if name == "jacobian_contraction":
            mode = jax.jacrev if d_out <= p else jax.jacfwd
            info["jacobian_mode"] = "jacrev" if d_out <= p else "jacfwd"

            def kernel(t: jax.Array) -> jax.Array:
                j = mode(flat)(t)[rows]  # (N, k, P)
                return jnp.einsum("akp,bkp->ab", j, j)

        elif name == "per_example_contraction":
            k = int(rows.shape[1])
            mode = jax.jacrev if k <= p else jax.jacfwd
            info["jacobian_mode"] = "jacrev" if k <= p else "jacfwd"

            def point(t: jax.Array, xi: Any) -> jax.Array:
                return jnp.concatenate([jnp.reshape(r, (-1,)) for r in pe.point_fn(t, xi)])

            def kernel(t: jax.Array) -> jax.Array:
                j = jax.vmap(lambda xi: mode(point)(t, xi))(pe.points)  # (N, k, P)
                return jnp.einsum("akp,bkp->ab", j, j)

        else:

            def kernel(t: jax.Array) -> jax.Array:
                _, pull = jax.vjp(flat, t)
                _, push = jax.linearize(flat, t)
                basis = jnp.arange(d_out)
                cols = jax.vmap(lambda i: push(pull((basis == i).astype(t.dtype))[0]))(basis)
                m = cols[rows][:, :, rows]  # (N, k, N, k): M[(a, o), (b, q)] = (J J^T)
                return jnp.einsum("akbk->ab", m)

        return Derived(kernel, info=info)

    return build


def _strategy(name: str) -> Any:
    from adbench.strategies.base import Strategy

    return Strategy(
        name,
        "ntk",
        dense=True,
        chunked=False,
        summary=SUMMARIES[name],
        derive=_structured(name),
        structured=True,
    )


STRATEGIES = tuple(_strategy(n) for n in NAMES)
