"""A function of pytree arguments, seen as the flat map every strategy differentiates.

Real JAX code takes several arguments, each a pytree (dicts of weights, tuples of arrays, Equinox
modules): ``f(params, points) -> out``. The registry's strategies take one flat vector, so
:func:`flatten` ravels the differentiated arguments (``argnums``) into x of shape (d_in,) with
``jax.flatten_util.ravel_pytree``, closes over the other arguments, and ravels the output into
(d_out,): the Jacobian of that flat map is ``jax.jacrev(f, argnums)`` with its leaves
concatenated (output leaves in ``tree_flatten`` order, each row-major, by input leaves likewise).

*Per-example structure* (:class:`PerExample`): argument K's leading axis enumerates n independent
data points and output row block i depends on the differentiated arguments and on point i only
(NTK and Gauss-Newton Jacobians, per-example gradients). The strategy ``per_example``
(adbench.strategies.per_example) then takes one point's derivative, ``jax.vmap``-ed over the n
points, instead of the whole batch's. It is declared (``per_example=K``) or detected here from the
jaxpr (:func:`detect_per_example`, asdex's sparsity detection of the map argument K -> output).

Every fault of the arguments or the output is a :class:`StructureError` (a ValueError) naming the
argument and the leaf path, e.g. ``argument 0, leaf ['w1']: dtype int32 is not floating point``;
an exception raised inside the user's ``f`` is not caught here, so it keeps its own type and
traceback. Importing this module does not import JAX.

Longer than ~400 lines on purpose: flattening, the argument and output checks with their leaf-path
messages, and the per-example detection and weighting all read one description of the arguments
(which are differentiated, their leaf paths, shapes, dtypes: :class:`Structured`); a split would
pass that description across modules for no reader's benefit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adbench.errors import first_line


class StructureError(ValueError):
    """The arguments or the output of a function do not fit what was declared: one line naming
    the argument (``argument 1``) or the output, and the leaf path (``['w1']``)."""


@dataclass(frozen=True)
class PerExample:
    """Argument ``argnum`` holds ``n`` independent points along its leading axis.

    ``point_fn(x, xi)``: x the flat differentiated vector (d_in,), xi one point (argument
    ``argnum``'s leaves without their leading axis) -> the point's output leaves, each raveled,
    shapes ``(k_l,)`` for ``leaf_sizes`` = (k_1, ...); for a scalar function (hessian task) one
    leaf of size 1, and the whole function is ``weight`` x the sum over points (1 for a sum,
    1/n for a mean; found by :func:`point_weight`). ``points``: argument ``argnum`` itself,
    leaves (n, ...). ``how``: "declared" or "detected".
    """

    argnum: int
    n: int
    how: str
    point_fn: Callable[..., tuple[Any, ...]]
    points: Any
    leaf_sizes: tuple[int, ...]
    scalar: bool = False


@dataclass(frozen=True)
class Structured:
    """``fn``: the flat map x (d_in,) -> (d_out,) (a scalar function: (1,)); ``x``: the
    differentiated arguments raveled, (d_in,); ``call(x)``: f's own output (a pytree) at x.
    ``in_tree`` / ``out_tree``: the leaf shapes in words (``p['b'] f32[16]; p['w'] f32[16,1]``),
    stored with the results; ``per_example``: when argument K is known to hold points."""

    fn: Callable[[Any], Any]
    call: Callable[[Any], Any]
    x: Any
    d_in: int
    d_out: int
    in_tree: str
    out_tree: str
    argnums: tuple[int, ...]
    per_example: PerExample | None = None
    out_shape: tuple[int, ...] = ()
    call_with: Callable[..., Any] | None = None  # call_with(x, {k: arg_k}): f with args replaced


_SHORT = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}


def is_numeric(leaf: Any) -> bool:
    """An array or a number (differentiable if floating); anything else is a static leaf (an
    Equinox module's activation function, a string) that is kept as it is, as
    ``equinox.filter_jacrev`` keeps it."""
    if hasattr(leaf, "dtype") and hasattr(leaf, "shape"):
        return True
    return isinstance(leaf, int | float | complex) and not isinstance(leaf, bool)


def _leaf_text(leaf: Any) -> str:
    if not is_numeric(leaf):
        return f"static {type(leaf).__name__}"
    dtype = np.dtype(getattr(leaf, "dtype", np.asarray(leaf).dtype))
    shape = tuple(np.shape(leaf))
    return f"{_SHORT.get(dtype.name, dtype.name)}[{','.join(map(str, shape))}]"


def leaves_with_paths(tree: Any) -> list[tuple[str, Any]]:
    """(path, leaf) of every leaf: ``"['w1']"``, ``"[0]"``, ``".weight"`` ('' for a bare array)."""
    import jax

    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def describe(tree: Any, prefix: str = "") -> str:
    """The leaf shapes of a pytree in one line, e.g. ``p['b1'] f32[16]; p['w1'] f32[16,1]``."""
    parts = [f"{prefix}{path} {_leaf_text(leaf)}".strip() for path, leaf in leaves_with_paths(tree)]
    return "; ".join(parts)


def normalise_argnums(argnums: int | Sequence[int], n_args: int) -> tuple[int, ...]:
    """``argnums`` as a tuple of distinct argument indices (negative ones counted from the end,
    as JAX does); StructureError when one is out of range or not an integer."""
    given: tuple[Any, ...] = (
        tuple(argnums)
        if isinstance(argnums, Sequence) and not isinstance(argnums, str)
        else (argnums,)
    )
    if not given:
        raise StructureError("argnums is empty: name at least one argument to differentiate")
    out: list[int] = []
    for a in given:
        if isinstance(a, bool) or not isinstance(a, int | np.integer):
            raise StructureError(f"argnums must be integers, got {a!r}")
        if not -n_args <= int(a) < n_args:
            raise StructureError(
                f"argnums {int(a)} is out of range: the function is given {n_args} "
                f"argument{'s' if n_args != 1 else ''} (argnums 0 to {n_args - 1})"
            )
        i = int(a) % n_args
        if i in out:
            raise StructureError(f"argnums lists argument {i} twice")
        out.append(i)
    return tuple(out)


def _check_leaves(tree: Any, what: str) -> None:
    """Every numeric leaf of a differentiated argument (or of the output) is a real floating
    array, and there is at least one; static leaves are skipped (see is_numeric)."""
    leaves = [(path, leaf) for path, leaf in leaves_with_paths(tree) if is_numeric(leaf)]
    if not leaves:
        raise StructureError(f"{what} holds no array: nothing to differentiate")
    for path, leaf in leaves:
        where = f"{what}, leaf {path}" if path else what
        dtype = np.dtype(getattr(leaf, "dtype", None) or np.asarray(leaf).dtype)
        if np.issubdtype(dtype, np.complexfloating):
            raise StructureError(f"{where}: dtype {dtype} is complex; adbench measures real ones")
        if not np.issubdtype(dtype, np.floating):
            hint = " (cast it to float, or leave this argument out of argnums)"
            raise StructureError(
                f"{where}: dtype {dtype} is not floating point, so it cannot be differentiated"
                + (hint if "argument" in what else "")
            )


def _cast(tree: Any, dtype: Any) -> Any:
    """Floating arrays (numpy or JAX) as jax arrays of ``dtype``; every other leaf (Python
    numbers, integer arrays, static values such as functions) kept as it is."""
    import jax
    import jax.numpy as jnp

    def one(leaf: Any) -> Any:
        kind = getattr(leaf, "dtype", None)
        if kind is None or not np.issubdtype(np.dtype(kind), np.floating):
            return leaf
        return jnp.asarray(leaf, dtype=dtype)

    return jax.tree_util.tree_map(one, tree)


def flatten(
    f: Callable[..., Any],
    args: tuple[Any, ...],
    argnums: int | Sequence[int] = 0,
    *,
    per_example: int | None = None,
    has_aux: bool = False,
    dtype: Any = None,
    scalar: bool = False,
) -> Structured:
    """``f(*args)`` as a flat map of its differentiated arguments; see the module docstring.

    ``dtype``: cast every floating leaf of every argument to it (a run file's ``dtype``); None
    keeps the arguments as given (``adbench.bench``). ``scalar``: the task needs a scalar output
    (hessian). ``has_aux``: f returns (output, aux); aux is dropped. Raises StructureError for a
    fault of the arguments or the output; what f itself raises propagates unchanged.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    if not isinstance(args, tuple):
        raise StructureError(f"args must be a tuple of arguments, got a {type(args).__name__}")
    if not args:
        raise StructureError("the function is given no argument to differentiate")
    nums = normalise_argnums(argnums, len(args))
    if dtype is not None:
        args = tuple(_cast(a, dtype) for a in args)
    for i in nums:
        _check_leaves(args[i], f"argument {i}")
    diff = tuple(args[i] for i in nums)
    in_leaves, treedef = jax.tree_util.tree_flatten(diff)
    numeric = [is_numeric(leaf) for leaf in in_leaves]
    x, unravel_numeric = ravel_pytree(
        [leaf for leaf, n in zip(in_leaves, numeric, strict=True) if n]
    )

    def unravel(x: Any) -> Any:
        """x (d_in,) -> the differentiated arguments, static leaves put back."""
        values = iter(unravel_numeric(x))
        return jax.tree_util.tree_unflatten(
            treedef,
            [next(values) if n else leaf for leaf, n in zip(in_leaves, numeric, strict=True)],
        )

    def call_with(x: Any, replaced: dict[int, Any] | None = None) -> Any:
        a = list(args)
        for i, part in zip(nums, unravel(x), strict=True):
            a[i] = part
        for i, v in (replaced or {}).items():
            a[i] = v
        out = f(*a)
        if has_aux:
            if not isinstance(out, tuple) or len(out) != 2:
                raise StructureError(
                    f"has_aux=True: the function must return (output, aux), got a "
                    f"{type(out).__name__}"
                )
            out = out[0]
        return out

    def call(x: Any) -> Any:
        return call_with(x)

    out = jax.eval_shape(call, x)  # an exception inside f propagates as the user's own
    _check_leaves(out, "the output")
    d_out = int(sum(int(np.prod(leaf.shape)) for _, leaf in leaves_with_paths(out)))
    if scalar and d_out != 1:
        raise StructureError(
            f"the task needs a scalar function, but the output holds {d_out} values "
            f"({describe(out, 'out')})"
        )

    def fn(x: Any) -> Any:
        return ravel_pytree(call(x))[0]

    prefixes = [f"args[{i}]" for i in nums]
    in_tree = "; ".join(describe(a, p) for a, p in zip(diff, prefixes, strict=True))
    pe = None
    if per_example is not None:
        k = _per_example_index(per_example, len(args), nums)
        pe = _per_example(call_with, args, k, x, out, "declared", scalar)
    leaves = [leaf for _, leaf in leaves_with_paths(out)]
    shape = tuple(leaves[0].shape) if len(leaves) == 1 else (d_out,)
    return Structured(
        fn=fn,
        call=call,
        x=jnp.asarray(x),
        d_in=int(x.size),
        d_out=d_out,
        in_tree=in_tree,
        out_tree=describe(out, "out"),
        argnums=nums,
        per_example=pe,
        out_shape=shape,
        call_with=call_with,
    )


def _per_example_index(k: Any, n_args: int, nums: tuple[int, ...]) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise StructureError(f"per_example must be an argument index, got {k!r}")
    if not -n_args <= int(k) < n_args:
        raise StructureError(
            f"per_example {int(k)} is out of range: the function is given {n_args} "
            f"argument{'s' if n_args != 1 else ''}"
        )
    k = int(k) % n_args
    if k in nums:
        raise StructureError(
            f"per_example {k} names a differentiated argument (argnums {list(nums)}); it names "
            "the data argument whose points the derivative is taken at (for points of the "
            "differentiated input use `batch`)"
        )
    return k


def _leading(tree: Any, what: str) -> int:
    """The common leading axis of a tree's leaves; StructureError naming the leaf that differs."""
    leaves = leaves_with_paths(tree)
    if not leaves:
        raise StructureError(f"{what} holds no array, so it holds no points")
    first_path, first = leaves[0]
    n = None
    for path, leaf in leaves:
        shape = np.shape(leaf)
        where = f"{what}, leaf {path}" if path else what
        if len(shape) == 0:
            raise StructureError(f"{where}: a 0-d leaf has no leading axis of points")
        if n is None:
            n = int(shape[0])
        elif int(shape[0]) != n:
            raise StructureError(
                f"{where}: leading axis {shape[0]}, but leaf {first_path or '(the first)'} has "
                f"{n}; every leaf of a per-example argument enumerates the same points"
            )
    assert n is not None
    if n < 1:
        raise StructureError(f"{what}: no points (leading axis 0)")
    return n


def _per_example(
    call_with: Callable[..., Any],
    args: tuple[Any, ...],
    k: int,
    x: Any,
    out: Any,
    how: str,
    scalar: bool,
) -> PerExample:
    """Argument k's points and the per-point function; StructureError when the shapes do not
    follow (the output's leading axis must be k's, and one point must give one row)."""
    import jax
    import jax.numpy as jnp

    n = _leading(args[k], f"argument {k} (per_example)")
    one = jax.tree_util.tree_map(lambda leaf: leaf[:1], args[k])
    try:
        out_one = jax.eval_shape(lambda x: call_with(x, {k: one}), x)
    except StructureError:
        raise
    except Exception as exc:
        raise StructureError(
            f"argument {k} (per_example): the function fails on a single point "
            f"({first_line(exc)}), so it cannot be taken point by point"
        ) from exc
    out_leaves = leaves_with_paths(out)
    one_leaves = leaves_with_paths(out_one)
    if scalar:
        if sum(int(np.prod(leaf.shape)) for _, leaf in one_leaves) != 1:
            raise StructureError(f"argument {k} (per_example): one point gives a non-scalar output")
        sizes: tuple[int, ...] = (1,)
    else:
        sizes_list = []
        for (path, leaf), (_, leaf1) in zip(out_leaves, one_leaves, strict=True):
            where = f"the output, leaf {path}" if path else "the output"
            if len(leaf.shape) == 0 or leaf.shape[0] != n:
                raise StructureError(
                    f"{where}: shape {tuple(leaf.shape)}, but argument {k} (per_example) holds "
                    f"{n} points; each output leaf's leading axis must enumerate them"
                )
            if len(leaf1.shape) == 0 or leaf1.shape[0] != 1 or leaf1.shape[1:] != leaf.shape[1:]:
                raise StructureError(
                    f"{where}: at one point it has shape {tuple(leaf1.shape)}, not "
                    f"{(1, *leaf.shape[1:])}; its leading axis does not follow argument {k}'s "
                    "points"
                )
            sizes_list.append(int(np.prod(leaf.shape[1:], dtype=np.int64)))
        sizes = tuple(sizes_list)

    def point_fn(x: Any, xi: Any) -> tuple[Any, ...]:
        row = jax.tree_util.tree_map(lambda leaf: leaf[None], xi)
        got = call_with(x, {k: row})
        return tuple(jnp.reshape(leaf, (-1,)) for leaf in jax.tree_util.tree_leaves(got))

    return PerExample(k, n, how, point_fn, args[k], sizes, scalar)


def detect_per_example(args: tuple[Any, ...], structured: Structured) -> PerExample | None:
    """A non-differentiated argument whose points the output rows depend on one by one, or None.

    Candidates: arguments not in ``argnums`` whose leaves share a leading axis n >= 2 that every
    output leaf's leading axis matches. For each, asdex detects the sparsity pattern of the map
    argument -> output from the jaxpr (no derivative is evaluated; the pattern holds for every
    value); the structure holds when every non-zero (output entry j, input entry c) has
    point(j) == point(c). Jacobian tasks only (a scalar output has no rows). A candidate whose
    detection fails (asdex cannot trace a primitive) is not offered.
    """
    import jax

    leaves = leaves_with_paths(jax.eval_shape(structured.call, structured.x))
    if structured.per_example is not None or not leaves:
        return None
    if any(len(leaf.shape) == 0 for _, leaf in leaves):
        return None
    n_out = {int(leaf.shape[0]) for _, leaf in leaves}
    if len(n_out) != 1 or min(n_out) < 2:
        return None
    n = n_out.pop()
    for k, arg in enumerate(args):
        if k in structured.argnums:
            continue
        try:
            if _leading(arg, "") != n:
                continue
            _check_leaves(arg, f"argument {k}")
        except StructureError:
            continue
        try:
            found = _depends_row_by_row(args, structured, k, n)
        except Exception:  # noqa: S112 - asdex cannot read this function: not offered
            continue
        if found:
            assert structured.call_with is not None
            out = jax.eval_shape(structured.call, structured.x)
            try:
                return _per_example(
                    structured.call_with, args, k, structured.x, out, "detected", False
                )
            except StructureError:
                continue
    return None


def _depends_row_by_row(args: tuple[Any, ...], structured: Structured, k: int, n: int) -> bool:
    """Does output point i depend on argument k's point i only (asdex's pattern)?"""
    import asdex
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    data, unravel_k = ravel_pytree(args[k])
    if not jnp.issubdtype(data.dtype, jnp.floating):
        return False

    call_with = structured.call_with
    assert call_with is not None

    def of_data(v: Any) -> Any:
        return ravel_pytree(call_with(structured.x, {k: unravel_k(v)}))[0]

    pattern = asdex.jacobian_sparsity(of_data, data)
    rows = np.asarray(pattern.rows)
    cols = np.asarray(pattern.cols)
    out_point = _points_of(jax.eval_shape(structured.call, structured.x), n)
    in_point = _points_of(args[k], n)
    return bool(np.all(out_point[rows] == in_point[cols]))


def _points_of(tree: Any, n: int) -> np.ndarray:
    """For every entry of the raveled tree, the point (leading-axis index) it belongs to."""
    parts = []
    for _, leaf in leaves_with_paths(tree):
        size = int(np.prod(np.shape(leaf), dtype=np.int64))
        parts.append(np.repeat(np.arange(n), size // n))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def point_weight(structured_fn: Callable[[Any], Any], pe: PerExample, x: Any) -> float:
    """The weight w with f(x) = w * sum over points of f at one point: 1 (a sum) or 1/n (a mean).

    A scalar function's per-example form needs it; found by evaluating both sides at x (in
    float64 terms, relative 1e-4 for float32). StructureError when neither fits: the function is
    not a sum or a mean over the points (a regulariser added once, say).
    """
    import jax
    import jax.numpy as jnp

    whole = float(jnp.reshape(structured_fn(x), ()))
    per = jax.vmap(lambda xi: pe.point_fn(x, xi)[0][0])(pe.points)
    total = float(jnp.sum(per))
    tol = 1e-4 if jnp.asarray(x).dtype == jnp.float32 else 1e-9
    for w in (1.0, 1.0 / pe.n):
        if abs(whole - w * total) <= tol * max(abs(whole), abs(w * total), 1e-30):
            return w
    raise StructureError(
        f"argument {pe.argnum} (per_example): the scalar function is neither the sum nor the "
        f"mean of its values at single points ({whole:.6g} against sum {total:.6g}), so its "
        "Hessian is not a sum of per-point Hessians"
    )


# The auto API (adbench.auto.per_example) builds the same structure from each call's points.
per_example_of = _per_example
