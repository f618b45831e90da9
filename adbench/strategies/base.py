"""What every strategy is made of: ``Strategy`` (a name, its task, a builder), ``Prepared`` (a
strategy bound to one function and input shape), ``Derived`` (what a builder returns), and the
normalisation every builder relies on (a flat (d_out,) output, or () for the scalar tasks; a
leading batch axis by ``jax.vmap``). Shapes: see :mod:`adbench.strategies.registry`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import jax

# Tasks whose function is scalar: their derivative is taken of f reshaped to ().
SCALAR_TASKS = ("hessian", "laplacian", "derivative", "biharmonic")

Fn = Callable[["jax.Array"], Any]


@dataclass(frozen=True)
class Prepared:
    """A strategy bound to one function and input shape, ready to ``jax.jit(fn).lower(x)``.

    ``fn``: x (d_in,) -> derivative (shapes in the module docstring); with ``batch=True`` x is
    (B, d_in) and the result has a leading batch axis (``jax.vmap`` of the per-point derivative).
    ``setup_s``: one-off seconds spent outside XLA (sparse: detection + colouring; 0 otherwise).
    ``info``: metadata to record: ``chunk_size`` (chunked strategies); ``colors``,
    ``sparse_mode`` ("fwd"/"rev"), ``nnz``, ``coloring`` (sparse); {} otherwise.
    ``pattern``: added to the contract: the asdex ``ColoredPattern`` of a sparse strategy (None for
    dense ones), to inspect or test apart from the differentiation.
    """

    fn: Fn
    setup_s: float = 0.0
    info: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    pattern: Any = field(default=None, repr=False, compare=False)

    def to_dense(self, value: Any) -> np.ndarray:
        """The full dense result of ``fn`` as float64 numpy (a BCOO densified), batch axis first."""
        # A BCOO exists only once jax.experimental.sparse is imported (0.7 s, which a dense
        # strategy's check should not pay): look for the class without importing it.
        sparse = sys.modules.get("jax.experimental.sparse")
        if sparse is not None and isinstance(value, sparse.BCOO):
            value = value.todense()
        return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True)
class Derived:
    """What a strategy's builder returns: the per-point derivative and what it recorded."""

    fn: Fn
    setup_s: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)
    pattern: Any = None


# builder(f, x0, chunk_size) -> Derived; f is already flattened/scalarised, x0 is one point.
Builder = Callable[[Fn, "jax.Array", "int | None"], Derived]
# A structured strategy's builder also gets the function's structure (adbench.strategies.trees
# .Structured: its arguments, and which of them holds per-example points).
StructuredBuilder = Callable[[Fn, "jax.Array", "int | None", Any], Derived]


@dataclass(frozen=True)
class Strategy:
    """One way to compute a task's derivative.

    ``dense``: the result is a dense array like ``jax.jacfwd``'s (False: a BCOO).
    ``chunked``: takes a ``chunk_size`` (basis vectors per vmapped chunk, in a ``lax.map``).
    ``summary``: one line for ``--help`` and the README.
    ``structured``: needs the function's structure (``prepare(..., structure=...)``, an
    adbench.strategies.trees.Structured), e.g. ``per_example``; such a strategy is planned only
    for functions that have that structure (declared or detected), never by default.
    Added to the contract: ``basis`` is the space a chunk spans ("in": d_in tangents, "out": d_out
    cotangents; None if not chunked) and ``twin`` the unchunked strategy that a chunk holding the
    whole basis would duplicate (see ``chunk_skip_reason``).
    """

    name: str
    task: str
    dense: bool
    chunked: bool
    summary: str
    basis: str | None = None
    twin: str | None = None
    derive: Builder | StructuredBuilder | None = field(default=None, repr=False, compare=False)
    structured: bool = False
    stochastic: bool = False  # an estimate (hutchinson, stde): its error is measured, not checked

    @classmethod
    def plain(cls, task: str, name: str, derive: Builder, summary: str) -> Strategy:
        """An unchunked strategy; dense unless its name says ``sparse``."""
        return cls(
            name, task, dense="sparse" not in name, chunked=False, summary=summary, derive=derive
        )

    def prepare(
        self,
        fn: Fn,
        x: Any,
        *,
        chunk_size: int | None = None,
        batch: bool = False,
        structure: Any = None,
        params: Any = None,
    ) -> Prepared:
        """Bind the strategy to ``fn`` at x's shape: x (d_in,), or (B, d_in) with ``batch``.

        Chunked strategies need ``chunk_size`` >= 1; the others refuse one, so a wiring mistake is
        an error rather than an unchunked number labelled with a chunk. Sparse strategies detect
        and colour once here, on x (or x[0] when batched: the pattern is global).
        """
        import jax.numpy as jnp

        x = jnp.asarray(x)
        want = 2 if batch else 1
        if x.ndim != want or (batch and x.shape[0] < 1):
            shape = "(B, d_in) with B >= 1" if batch else "(d_in,)"
            raise ValueError(f"{self.name}: x must have shape {shape}, got {tuple(x.shape)}")
        if self.chunked and chunk_size is None:
            raise ValueError(f"{self.name} needs a chunk_size")
        if not self.chunked and chunk_size is not None:
            raise ValueError(f"{self.name} takes no chunk_size (got {chunk_size})")
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise ValueError(f"{self.name}: chunk_size must be an integer >= 1, got {chunk_size!r}")
        assert self.derive is not None, f"strategy {self.name!r} has no builder"
        point = x[0] if batch else x
        flat = normalise(self.task, fn, point)
        if self.structured:
            if structure is None:
                raise ValueError(
                    f"{self.name} needs the function's structure: its arguments and which one "
                    "holds per-example points (a family's `per_example: K`)"
                )
            derived = self.derive(flat, point, chunk_size, structure)  # type: ignore[call-arg]
        else:  # params: a task's TaskParams (derivative terms, samples, ...), for the builders
            # that take them (adbench.strategies.params.call_builder)
            from adbench.strategies.params import call_builder

            derived = call_builder(self.derive, flat, point, chunk_size, params)
        info = dict(derived.info)
        if self.chunked:
            info["chunk_size"] = chunk_size
        out = over_batch(derived.fn) if batch else derived.fn
        return Prepared(out, derived.setup_s, MappingProxyType(info), derived.pattern)


def normalise(task: str, fn: Fn, x0: jax.Array) -> Fn:
    """fn with a flat (d_out,) output (jacobian) or a () output (scalar tasks)."""
    import jax
    import jax.numpy as jnp

    out = jax.eval_shape(fn, x0)
    if not hasattr(out, "shape"):
        raise ValueError(f"task {task!r} needs fn to return one array, got {type(out).__name__}")
    if task in SCALAR_TASKS:
        if out.size != 1:
            raise ValueError(f"task {task!r} needs a scalar fn, got output shape {out.shape}")
        return lambda x: jnp.reshape(fn(x), ())
    return lambda x: jnp.reshape(fn(x), (-1,))


def over_batch(per_point: Fn) -> Fn:
    """(B, d_in) -> per-point results stacked on a leading axis (``jax.vmap``).

    A vmapped asdex BCOO repeats the (constant) pattern for every point: indices (B, nnz, 2). We
    keep one copy, indices (1, nnz, 2), which BCOO broadcasts over its batch dimension; the values
    stay (B, nnz). Broyden n = 3000, B = 32 (benchmarks/strategies_micro.py, 2-core CPU): 1.2 MB
    of output against 3.5 MB for the plain vmap (XLA memory_analysis, exact); run times were
    within this machine's noise (0.13-0.39 ms against 0.19-0.34 ms over four runs).
    """
    import jax
    from jax.experimental import sparse

    mapped = jax.vmap(per_point)

    def fn(xs: jax.Array) -> Any:
        out = mapped(xs)
        if isinstance(out, sparse.BCOO):
            out = sparse.BCOO(
                (out.data, out.indices[:1]),
                shape=out.shape,
                indices_sorted=out.indices_sorted,
                unique_indices=out.unique_indices,
            )
        return out

    return fn


def one_hot(i: jax.Array, size: int, dtype: Any) -> jax.Array:
    """Basis vector e_i, shape (size,), built from the index; under vmap (k,) -> (k, size).

    Chunked strategies map over indices and build each chunk's k basis vectors here, so no
    (size, size) identity exists anywhere in the program.
    """
    import jax.numpy as jnp

    return (jnp.arange(size) == i).astype(dtype)
