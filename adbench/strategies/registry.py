"""Differentiation strategies: every way adbench knows to compute one derivative *task*.

A task is what the user wants (``jacobian``, ``hessian``, ``laplacian``); a strategy is how it is
computed (``jacfwd``, ``rev_over_fwd``, ``taylor``, ...). ``STRATEGIES[task][name]`` is a frozen
``Strategy``; ``strategy.prepare(fn, x)`` returns a ``Prepared`` whose ``fn`` is the jittable map
x -> derivative that the measuring code lowers, compiles and times. Each task's ``REFERENCE``
strategy is the one every other strategy is cross-checked against.

Shapes (d_in = n inputs, d_out outputs; B points with ``batch=True``, batch axis first):

    jacobian   fn: (d_in,) -> (d_out,)   derivative (d_out, d_in)   batched (B, d_out, d_in)
    hessian    fn: (n,) -> ()            derivative (n, n)          batched (B, n, n)
    laplacian  fn: (n,) -> ()            derivative ()              batched (B,)

``fn`` may return any shape holding d_out values (a scalar or (1,) for the scalar tasks): it is
flattened (jacobian) or reshaped to () (hessian, laplacian) once in ``prepare``.

``sparse`` strategies come from asdex: the sparsity pattern is detected from the jaxpr (no
derivative is evaluated; the pattern holds for every x) and coloured once in ``prepare``, timed as
``setup_s``; ``sparse_coloring`` returns that colouring as a value to inspect apart from the
differentiation. Their result is a ``jax.experimental.sparse.BCOO``; ``Prepared.to_dense`` turns
any result into a float64 numpy array for cross-checks.

Importing this module does not import JAX (``--help`` and config validation read the registry);
jax and asdex are imported when a strategy is prepared. Besides stdlib, numpy, jax and asdex it
reads only ``adbench.store.schema`` (the task and strategy names of the results contract), so the
module can be wired into any measuring code.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from adbench.store import schema

if TYPE_CHECKING:
    import jax

# Names are part of the results contract: schema.py lists them once, the registry below must
# implement exactly those (checked when this module is imported, see _registry).
TASKS = schema.TASKS
REFERENCE: Mapping[str, str] = MappingProxyType(dict(schema.REFERENCE))
_SCALAR_TASKS = ("hessian", "laplacian")

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
        from jax.experimental import sparse

        if isinstance(value, sparse.BCOO):
            value = value.todense()
        return np.asarray(value, dtype=np.float64)


@dataclass(frozen=True)
class _Derived:
    """What a strategy's builder returns: the per-point derivative and what it recorded."""

    fn: Fn
    setup_s: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)
    pattern: Any = None


# builder(f, x0, chunk_size) -> _Derived; f is already flattened/scalarised, x0 is one point.
Builder = Callable[[Fn, "jax.Array", "int | None"], _Derived]


@dataclass(frozen=True)
class Strategy:
    """One way to compute a task's derivative.

    ``dense``: the result is a dense array like ``jax.jacfwd``'s (False: a BCOO).
    ``chunked``: takes a ``chunk_size`` (basis vectors per vmapped chunk, in a ``lax.map``).
    ``summary``: one line for ``--help`` and the README.
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
    derive: Builder | None = field(default=None, repr=False, compare=False)

    def prepare(
        self, fn: Fn, x: Any, *, chunk_size: int | None = None, batch: bool = False
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
        derived = self.derive(_normalise(self.task, fn, point), point, chunk_size)
        info = dict(derived.info)
        if self.chunked:
            info["chunk_size"] = chunk_size
        out = _over_batch(derived.fn) if batch else derived.fn
        return Prepared(out, derived.setup_s, MappingProxyType(info), derived.pattern)


def _normalise(task: str, fn: Fn, x0: jax.Array) -> Fn:
    """fn with a flat (d_out,) output (jacobian) or a () output (scalar tasks)."""
    import jax
    import jax.numpy as jnp

    out = jax.eval_shape(fn, x0)
    if not hasattr(out, "shape"):
        raise ValueError(f"task {task!r} needs fn to return one array, got {type(out).__name__}")
    if task in _SCALAR_TASKS:
        if out.size != 1:
            raise ValueError(f"task {task!r} needs a scalar fn, got output shape {out.shape}")
        return lambda x: jnp.reshape(fn(x), ())
    return lambda x: jnp.reshape(fn(x), (-1,))


def _over_batch(per_point: Fn) -> Fn:
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


# --- Jacobian builders: f (d_in,) -> (d_out,); result (d_out, d_in) ---------------------------


def _one_hot(i: jax.Array, size: int, dtype: Any) -> jax.Array:
    """Basis vector e_i, shape (size,), built from the index; under vmap (k,) -> (k, size).

    Chunked strategies map over indices and build each chunk's k basis vectors here, so no
    (size, size) identity exists anywhere in the program.
    """
    import jax.numpy as jnp

    return (jnp.arange(size) == i).astype(dtype)


def _jacfwd(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
    import jax

    return _Derived(jax.jacfwd(f))


def _jacrev(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
    import jax

    return _Derived(jax.jacrev(f))


def _jacfwd_chunked(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
    """JVPs along e_0..e_{d_in-1}, ``chunk`` at a time (vmapped), chunks in a ``lax.map``.

    Each chunk's JVP evaluates the primal again unless XLA hoists it out of the loop;
    ``linearize`` is the variant that evaluates it once.
    """
    import jax
    import jax.numpy as jnp

    def jac(x: jax.Array) -> jax.Array:
        n = x.shape[0]

        def column(i: jax.Array) -> jax.Array:
            return jax.jvp(f, (x,), (_one_hot(i, n, x.dtype),))[1]

        return jax.lax.map(column, jnp.arange(n), batch_size=chunk).T

    return _Derived(jac)


def _jacrev_chunked(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
    """One forward pass (``jax.vjp``), then VJPs of e_0..e_{d_out-1}, ``chunk`` at a time."""
    import jax
    import jax.numpy as jnp

    def jac(x: jax.Array) -> jax.Array:
        y, pullback = jax.vjp(f, x)
        m = y.shape[0]

        def row(j: jax.Array) -> jax.Array:
            return pullback(_one_hot(j, m, y.dtype))[0]

        return jax.lax.map(row, jnp.arange(m), batch_size=chunk)

    return _Derived(jac)


def _linearize(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
    """``jax.linearize`` once (primal + residuals), its linear map vmapped over the full basis.

    Not chunked: all d_in tangents in one vmap, like ``jacfwd``; the difference is that the
    residuals are computed once, before the linear map is applied.
    """
    import jax
    import jax.numpy as jnp

    def jac(x: jax.Array) -> jax.Array:
        _, push = jax.linearize(f, x)
        n = x.shape[0]
        return jax.vmap(lambda i: push(_one_hot(i, n, x.dtype)), out_axes=1)(jnp.arange(n))

    return _Derived(jac)


def sparse_coloring(task: str, fn: Fn, x: Any) -> Any:
    """asdex's colouring of fn's Jacobian or Hessian pattern at x (d_in,): a ``ColoredPattern``.

    Jacobian: greedy column (fwd) or row (rev) colouring, whichever needs fewer colours (ties to
    fwd). Hessian: symmetric star colouring, HVPs forward-over-reverse. ``.num_colors``,
    ``.mode``, ``.sparsity.nnz`` and ``.sparsity.todense()`` describe it. asdex's warning that a
    colouring is as dense as the dense case is silenced: ``num_colors`` says so, and the measuring
    code records it.
    """
    import asdex
    import jax.numpy as jnp

    if task not in ("jacobian", "hessian"):
        raise ValueError(f"task {task!r} has no sparse strategy; choose from: jacobian, hessian")
    x = jnp.asarray(x)
    f = _normalise(task, fn, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asdex.DenseColoringWarning)
        if task == "jacobian":
            return asdex.jacobian_coloring(f, x)
        return asdex.hessian_coloring(f, x)


def _sparse(task: str) -> Builder:
    def build(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
        import asdex

        start = time.perf_counter()
        coloring = sparse_coloring(task, f, x0)
        setup_s = time.perf_counter() - start
        make = asdex.jacobian_from_coloring if task == "jacobian" else asdex.hessian_from_coloring
        # Hessian: star colouring seeds the input space, outer derivative forward: "fwd".
        mode = coloring.mode if task == "jacobian" else "fwd"
        info = {
            "colors": int(coloring.num_colors),
            "sparse_mode": mode,
            "nnz": int(coloring.sparsity.nnz),
            "coloring": "star" if coloring.symmetric else ("column" if mode == "fwd" else "row"),
        }
        return _Derived(make(f, coloring), setup_s, info, coloring)

    return build


# --- Hessian builders: f (n,) -> (); result (n, n) ----------------------------------------------


def _nested(outer: str, inner: str) -> Builder:
    """jac_outer(jac_inner(f)): "fwd" is jax.jacfwd, "rev" jax.jacrev; inner gives the gradient."""

    def build(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
        import jax

        transform = {"fwd": jax.jacfwd, "rev": jax.jacrev}
        return _Derived(transform[outer](transform[inner](f)))

    return build


# --- Laplacian builders: f (n,) -> (); result () = trace of the Hessian -------------------------


def _hessian_trace(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
    import jax
    import jax.numpy as jnp

    return _Derived(lambda x: jnp.trace(jax.hessian(f)(x)))


def _sum_over_basis(second: Callable[[Fn, jax.Array, jax.Array], jax.Array]) -> Builder:
    """sum_i second(f, x, e_i), vmapped over all n basis vectors; second(f, x, v) = v^T H(x) v.

    Not chunked: the n basis vectors are built from their indices inside one vmap.
    """

    def build(f: Fn, x0: jax.Array, chunk: int | None) -> _Derived:
        import jax
        import jax.numpy as jnp

        def laplacian(x: jax.Array) -> jax.Array:
            n = x.shape[0]
            along = jax.vmap(lambda i: second(f, x, _one_hot(i, n, x.dtype)))
            return jnp.sum(along(jnp.arange(n)))

        return _Derived(laplacian)

    return build


def _fwd_fwd(f: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    """d/dt d/ds f(x + t v + s v): the JVP of the JVP."""
    import jax

    return jax.jvp(lambda y: jax.jvp(f, (y,), (v,))[1], (x,), (v,))[1]


def _taylor(f: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    """Second coefficient of ``jet`` along x + t v: jet's series are derivatives (not divided by
    k!), so it is v^T H v itself, no factor 2 (tests/run/test_strategies.py checks it)."""
    import jax.numpy as jnp
    from jax.experimental.jet import jet

    _, (_, second) = jet(f, (x,), ((v, jnp.zeros_like(v)),))
    return second


def _hvp(f: Fn, x: jax.Array, v: jax.Array) -> jax.Array:
    """v . (H v), H v by forward-over-reverse (JVP of the gradient)."""
    import jax

    return jax.jvp(jax.grad(f), (x,), (v,))[1] @ v


# --- The registry ---------------------------------------------------------------------------


def _registry(*strategies: Strategy) -> Mapping[str, Mapping[str, Strategy]]:
    by_task: dict[str, dict[str, Strategy]] = {task: {} for task in TASKS}
    for s in strategies:
        by_task[s.task][s.name] = s
    for task, names in schema.STRATEGIES.items():
        if tuple(by_task[task]) != names:  # a name added here but not in the contract, or so
            raise RuntimeError(
                f"strategy registry for {task} {tuple(by_task[task])} differs from "
                f"schema.STRATEGIES {names}"
            )
    return MappingProxyType({t: MappingProxyType(d) for t, d in by_task.items()})


def _s(task: str, name: str, derive: Builder, summary: str) -> Strategy:
    return Strategy(
        name, task, dense=name != "sparse", chunked=False, summary=summary, derive=derive
    )


def _chunked(name: str, basis: str, derive: Builder, summary: str) -> Strategy:
    twin = name.removesuffix("_chunked")
    return Strategy(name, "jacobian", True, True, summary, basis=basis, twin=twin, derive=derive)


_J, _H, _L = TASKS
STRATEGIES: Mapping[str, Mapping[str, Strategy]] = _registry(
    _s(_J, "jacfwd", _jacfwd, "jax.jacfwd: one vmapped JVP per input"),
    _s(_J, "jacrev", _jacrev, "jax.jacrev: one vmapped VJP per output"),
    _chunked("jacfwd_chunked", "in", _jacfwd_chunked, "JVPs, chunk_size inputs at a time"),
    _chunked("jacrev_chunked", "out", _jacrev_chunked, "VJPs, chunk_size outputs at a time"),
    _s(_J, "linearize", _linearize, "jax.linearize once, its linear map vmapped over inputs"),
    _s(_J, "sparse", _sparse(_J), "asdex: detected pattern, coloured JVPs or VJPs, BCOO"),
    _s(_H, "fwd_over_rev", _nested("fwd", "rev"), "jax.hessian = jacfwd(jacrev(f))"),
    _s(_H, "rev_over_fwd", _nested("rev", "fwd"), "jacrev(jacfwd(f))"),
    _s(_H, "rev_over_rev", _nested("rev", "rev"), "jacrev(jacrev(f))"),
    _s(_H, "fwd_over_fwd", _nested("fwd", "fwd"), "jacfwd(jacfwd(f))"),
    _s(_H, "sparse", _sparse(_H), "asdex: detected pattern, star-coloured HVPs, BCOO"),
    _s(_L, "hessian_trace", _hessian_trace, "trace of jax.hessian"),
    _s(_L, "fwd_fwd", _sum_over_basis(_fwd_fwd), "JVP of JVP along each basis vector, summed"),
    _s(_L, "taylor", _sum_over_basis(_taylor), "2nd-order jet along each basis vector, summed"),
    _s(_L, "hvp", _sum_over_basis(_hvp), "e_i . H e_i by forward-over-reverse HVPs, summed"),
)


def _task_error(task: str) -> ValueError:
    return ValueError(f"unknown task {task!r}; choose from: {', '.join(TASKS)}")


def names(task: str) -> tuple[str, ...]:
    """The task's strategy names, in display order."""
    if task not in STRATEGIES:
        raise _task_error(task)
    return tuple(STRATEGIES[task])


def _name_error(task: str, name: str) -> ValueError:
    """The one message for a name that is not a strategy of ``task``."""
    owners = [t for t in TASKS if name in STRATEGIES[t]]
    if owners:
        return ValueError(
            f"strategy {name!r} belongs to task {' / '.join(owners)}, not {task!r}; "
            f"choose from: {', '.join(names(task))}"
        )
    return ValueError(f"unknown {task} strategy {name!r}; choose from: {', '.join(names(task))}")


def get(task: str, name: str) -> Strategy:
    """``STRATEGIES[task][name]``; ValueError naming the task and the valid choices."""
    if name not in STRATEGIES.get(task, {}):
        raise _task_error(task) if task not in STRATEGIES else _name_error(task, name)
    return STRATEGIES[task][name]


def check_applicable(task: str, names: Iterable[str], d_out: int) -> None:
    """Raise a one-line ValueError unless every name is a strategy of ``task`` for this d_out.

    Refused: an unknown task or name, a strategy of another task, and the scalar tasks (hessian,
    laplacian) on d_out != 1.
    """
    for name in names:
        get(task, name)
    if task in _SCALAR_TASKS and d_out != 1:
        raise ValueError(f"task {task!r} needs a scalar function (d_out = 1), got d_out = {d_out}")


def chunk_skip_reason(strategy: Strategy, d_in: int, d_out: int, chunk_size: int) -> str | None:
    """Why this chunked case would only duplicate its unchunked twin, or None to run it.

    A chunk that holds the whole basis (d_in tangents for forward, d_out cotangents for reverse)
    is one vmap over everything, i.e. the twin plus a loop of one step; measuring it would fill
    tables with twin ties.
    """
    if not strategy.chunked:
        return None
    size, label = (d_in, "d_in") if strategy.basis == "in" else (d_out, "d_out")
    if chunk_size < size:
        return None
    return (
        f"{strategy.name}: chunk {chunk_size} >= {label} = {size} holds the whole basis, "
        f"the same computation as {strategy.twin}"
    )


def chunk_candidates(basis: int) -> tuple[int, ...]:
    """Chunk sizes worth compiling: powers of two below ``basis``, then ``basis`` itself."""
    if basis < 1:
        raise ValueError(f"basis must be >= 1, got {basis}")
    sizes = []
    k = 1
    while k < basis:
        sizes.append(k)
        k *= 2
    return (*sizes, basis)


def largest_chunk(basis: int, fits: Callable[[int], bool]) -> int:
    """The largest of ``chunk_candidates(basis)`` for which ``fits(chunk)`` holds, at least 1.

    ``fits`` compiles a chunked strategy and checks its memory against a budget, so it is costly
    and assumed monotone (a chunk that fits means every smaller one does): bisection over the
    ~log2(basis) candidates calls it ceil(log2(candidates + 1)) times at most, e.g. 4 for 3000.
    If not even 1 fits, 1 is returned (the caller's run will report the failure).
    """
    candidates = chunk_candidates(basis)
    fit, no_fit = -1, len(candidates)  # candidates[: fit + 1] fit, candidates[no_fit:] do not
    while no_fit - fit > 1:
        mid = (fit + no_fit) // 2
        if fits(candidates[mid]):
            fit = mid
        else:
            no_fit = mid
    return candidates[fit] if fit >= 0 else 1
