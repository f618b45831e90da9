"""Arguments as JAX's own transforms take them, seen as one flat problem.

``adbench.jacobian(f, argnums=..., has_aux=...)(*args)`` takes what ``jax.jacfwd`` takes: any
positional arguments, each a pytree (dicts, lists, tuples, NamedTuples, Equinox modules) of
arrays of any shape. The registry's strategies differentiate a function of one flat vector, so a
call is split here into

- ``diff``: the differentiated arguments (``args[argnums]``, or the tuple of them for a tuple
  ``argnums``), whose leaves are raveled, in ``jax.flatten_util.ravel_pytree`` order (leaves in
  ``jax.tree_util`` order, each in C order), into x of shape (d_in,) — or (B, d_in) when
  ``batched``: every differentiated leaf then has a leading axis of B points;
- ``dynamic``: the array leaves of the other arguments (passed to the compiled program, never
  baked in as constants);
- static leaves of the other arguments (Python numbers, strings, functions, ``None``): closed
  over, as ``jax.jacfwd`` closes over them, and part of the decision's key.

:class:`Frame` is what is fixed per key (tree structures, static values, argnums); :class:`Layout`
adds the output's structure (from ``jax.eval_shape``) and maps a flat derivative back to JAX's
nested structure: a Jacobian of shape (d_out, d_in) becomes the output's tree with each leaf
replaced by the differentiated tree, leaf (o, i) of shape ``out_o.shape + in_i.shape``, exactly
as ``jax.jacfwd`` returns it.

Longer than ~400 lines on purpose: splitting a call (:func:`split`) and mapping its flat
derivative back (:class:`Layout`) are the two halves of one convention (the ravel order of the
differentiated leaves and of the output); kept together, a change to that order cannot reach one
half only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Argnums = int | tuple[int, ...]


class _ById:
    """A static leaf that cannot be hashed, keyed by identity (and kept alive by the key)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ById) and other.obj is self.obj


def check_argnums(argnums: Any, where: str) -> Argnums:
    """``argnums`` as given (an int or a tuple of distinct ints); ValueError otherwise."""
    if isinstance(argnums, bool) or not isinstance(argnums, int | tuple | list):
        raise ValueError(f"{where}: argnums must be an int or a tuple of ints, got {argnums!r}")
    if isinstance(argnums, int):
        return argnums
    items = tuple(argnums)
    if not items or any(isinstance(a, bool) or not isinstance(a, int) for a in items):
        raise ValueError(f"{where}: argnums must be an int or a tuple of ints, got {argnums!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"{where}: argnums {items} repeats an argument")
    return items


def _positions(argnums: Argnums, nargs: int, where: str) -> tuple[int, ...]:
    """argnums as non-negative positions; ValueError naming the one out of range."""
    items = (argnums,) if isinstance(argnums, int) else argnums
    out = []
    for a in items:
        if not -nargs <= a < nargs:
            raise ValueError(
                f"{where}: argnums={argnums!r} names argument {a}, but f was called with "
                f"{nargs} positional argument{'s' if nargs != 1 else ''}"
            )
        out.append(a % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: argnums {argnums!r} names one argument twice")
    return tuple(out)


def _is_array(leaf: Any) -> bool:
    return hasattr(leaf, "shape") and hasattr(leaf, "dtype")


def _abstract(leaf: Any) -> Any:
    """The ``jax.ShapeDtypeStruct`` of an array leaf (a tracer, array or ShapeDtypeStruct)."""
    import jax

    weak = bool(getattr(leaf, "weak_type", False))
    return jax.ShapeDtypeStruct(tuple(leaf.shape), leaf.dtype, weak_type=weak)


@dataclass(frozen=True, eq=False)
class Frame:
    """What is fixed for one decision key: where the differentiated arguments sit and what the
    other arguments hold.

    ``argnums``: as the user gave it (int or tuple: it decides the result's structure);
    ``positions``: the differentiated positions; ``others``: per other position, its treedef and
    per leaf either ``None`` (a dynamic array leaf) or ``("static", value)``.
    """

    nargs: int
    argnums: Argnums
    positions: tuple[int, ...]
    others: tuple[tuple[int, Any, tuple[Any, ...]], ...]
    diff_tree: Any
    diff_shapes: tuple[tuple[int, ...], ...]
    diff_dtypes: tuple[Any, ...]
    batch: int | None

    def merge(self, diff: Any, dynamic: Sequence[Any]) -> tuple[Any, ...]:
        """The full positional arguments from the differentiated ones and the dynamic leaves."""
        import jax

        args: list[Any] = [None] * self.nargs
        if isinstance(self.argnums, int):
            args[self.positions[0]] = diff
        else:
            for pos, tree in zip(self.positions, diff, strict=True):
                args[pos] = tree
        k = 0
        for pos, treedef, slots in self.others:
            leaves = []
            for slot in slots:
                if slot is None:
                    leaves.append(dynamic[k])
                    k += 1
                else:
                    value = slot[1]
                    leaves.append(value.obj if isinstance(value, _ById) else value)
            args[pos] = jax.tree_util.tree_unflatten(treedef, leaves)
        return tuple(args)


@dataclass(frozen=True, eq=False)
class Call:
    """One call split: ``diff`` (the differentiated tree), ``dynamic`` (the other arguments'
    array leaves), the decision ``key``, the ``frame`` and the ``device`` to decide for."""

    diff: Any
    dynamic: tuple[Any, ...]
    key: tuple[Any, ...]
    frame: Frame
    device: Any

    def abstract(self) -> tuple[Any, tuple[Any, ...]]:
        """(diff, dynamic) as ``jax.ShapeDtypeStruct`` trees (on the decision's device)."""
        import jax

        def put(leaf: Any) -> Any:
            a = _abstract(leaf)
            sharding = jax.sharding.SingleDeviceSharding(self.device)
            return jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type, sharding=sharding)

        return jax.tree_util.tree_map(put, self.diff), tuple(put(d) for d in self.dynamic)


def split(
    args: tuple[Any, ...],
    argnums: Argnums,
    *,
    batched: bool,
    holomorphic: bool,
    where: str,
    extra_key: tuple[Any, ...] = (),
) -> Call:
    """Split a call's positional arguments (see the module docstring); ValueError naming the
    argument and the leaf path (``jax.tree_util.keystr``) for what cannot be differentiated."""
    import jax
    import jax.numpy as jnp

    ktr = jax.tree_util.keystr
    nargs = len(args)
    if nargs == 0:
        raise ValueError(f"{where}: f needs at least one positional argument to differentiate")
    positions = _positions(argnums, nargs, where)
    key: list[Any] = [nargs, argnums, batched, *extra_key]
    others = []
    dynamic: list[Any] = []
    device = None
    diff_parts: dict[int, Any] = {}
    for pos in range(nargs):
        with_path, treedef = jax.tree_util.tree_flatten_with_path(args[pos])
        key.append(treedef)
        if pos in positions:
            leaves = []
            for path, leaf in with_path:
                name = f"argument {pos}{ktr(path)}"
                if isinstance(leaf, bool) or not (
                    _is_array(leaf) or isinstance(leaf, int | float | complex)
                ):
                    raise ValueError(
                        f"{where}: {name} is a {type(leaf).__name__}, not an array: a "
                        f"differentiated argument (argnums={argnums!r}) holds arrays only "
                        "(for an Equinox module, differentiate eqx.filter(model, eqx.is_array))"
                    )
                if not _is_array(leaf):
                    leaf = jnp.asarray(leaf)
                dtype = np.dtype(leaf.dtype)
                ok = jnp.issubdtype(dtype, jnp.complexfloating if holomorphic else jnp.floating)
                if not ok:
                    want = "complex (holomorphic=True)" if holomorphic else "floating"
                    raise ValueError(
                        f"{where}: {name} has dtype {dtype.name}; a differentiated argument "
                        f"(argnums={argnums!r}) needs {want} leaves"
                    )
                if batched and len(leaf.shape) == 0:
                    raise ValueError(
                        f"{where}: {name} is 0-d; with batched=True every differentiated leaf "
                        "has a leading axis of points"
                    )
                device = device or _device_of(leaf)
                key.append((tuple(int(s) for s in leaf.shape), dtype.name, _weak(leaf)))
                leaves.append(leaf)
            diff_parts[pos] = jax.tree_util.tree_unflatten(treedef, leaves)
        else:
            slots: list[Any] = []
            for _, leaf in with_path:
                if _is_array(leaf):
                    slots.append(None)
                    dynamic.append(leaf)
                    device = device or _device_of(leaf)
                    dtype = np.dtype(leaf.dtype)
                    key.append((tuple(int(s) for s in leaf.shape), dtype.name, _weak(leaf)))
                else:
                    try:
                        hash(leaf)
                        value: Any = leaf
                    except TypeError:
                        value = _ById(leaf)
                    slots.append(("static", value))
                    key.append(("static", type(leaf), value))
            others.append((pos, treedef, tuple(slots)))
    # in argnums order, as jax.jacfwd(f, argnums=(1, 0)) returns it
    ordered = tuple(diff_parts[p] for p in positions)
    diff = ordered[0] if isinstance(argnums, int) else ordered
    leaves, diff_tree = jax.tree_util.tree_flatten(diff)
    if not leaves:
        raise ValueError(
            f"{where}: the differentiated argument{'s' if len(positions) > 1 else ''} "
            f"(argnums={argnums!r}) hold no array to differentiate"
        )
    batch = None
    if batched:
        sizes = {int(leaf.shape[0]) for leaf in leaves}
        if len(sizes) != 1:
            paths = jax.tree_util.tree_flatten_with_path(diff)[0]
            seen = ", ".join(f"{ktr(p)}: {int(v.shape[0])}" for p, v in paths)
            raise ValueError(
                f"{where}: with batched=True every differentiated leaf has the same leading "
                f"axis of points; got {seen}"
            )
        batch = sizes.pop()
    lead = 1 if batched else 0
    frame = Frame(
        nargs=nargs,
        argnums=argnums,
        positions=positions,
        others=tuple(others),
        diff_tree=diff_tree,
        diff_shapes=tuple(tuple(int(s) for s in leaf.shape[lead:]) for leaf in leaves),
        diff_dtypes=tuple(np.dtype(leaf.dtype) for leaf in leaves),
        batch=batch,
    )
    if device is None:
        device = jax.devices()[0]
    key.append((device.id, str(device.device_kind), device.platform))
    return Call(diff, tuple(dynamic), tuple(key), frame, device)


def _weak(leaf: Any) -> bool:
    return bool(getattr(leaf, "weak_type", False))


def _device_of(leaf: Any) -> Any:
    """The one device of a concrete jax.Array, else None."""
    import jax

    if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer):
        try:
            devices = leaf.devices()
        except Exception:  # a deleted or donated array
            return None
        return next(iter(devices)) if len(devices) == 1 else None
    return None


# --- the output side and the flat <-> nested maps ------------------------------------------------


@dataclass(frozen=True, eq=False)
class Layout:
    """The flat problem of one key: x (d_in,) -> y (d_out,), and the maps back to JAX's trees.

    ``in_*``: the differentiated leaves (per point when batched); ``out_*``: f's output leaves
    (the first element of f's pair when ``has_aux``); ``dtype``: x's dtype (the differentiated
    leaves' dtypes promoted, as ``ravel_pytree`` does); ``lead``: (B,) when batched, else ().
    """

    in_tree: Any
    in_shapes: tuple[tuple[int, ...], ...]
    in_dtypes: tuple[Any, ...]
    out_tree: Any
    out_shapes: tuple[tuple[int, ...], ...]
    out_dtypes: tuple[Any, ...]
    lead: tuple[int, ...]

    @property
    def d_in(self) -> int:
        return sum(math.prod(s) for s in self.in_shapes)

    @property
    def d_out(self) -> int:
        return sum(math.prod(s) for s in self.out_shapes)

    @property
    def dtype(self) -> Any:
        return np.result_type(*self.in_dtypes)

    @property
    def trivial_in(self) -> bool:
        """One differentiated leaf, already 1-D of x's dtype: x is that leaf itself."""
        return len(self.in_shapes) == 1 and len(self.in_shapes[0]) == 1

    def ravel(self, diff: Any) -> Any:
        """The differentiated tree -> x, shape lead + (d_in,)."""
        import jax
        import jax.numpy as jnp

        leaves = jax.tree_util.tree_leaves(diff)
        if self.trivial_in:
            return leaves[0]
        n = len(self.lead)
        flat = [jnp.reshape(leaf, (*leaf.shape[:n], -1)).astype(self.dtype) for leaf in leaves]
        return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=-1)

    def unravel(self, x: Any) -> Any:
        """x (d_in,) -> the differentiated tree (one point), each leaf in its own dtype."""
        import jax

        if self.trivial_in:
            return jax.tree_util.tree_unflatten(self.in_tree, [x])
        leaves, start = [], 0
        for shape, dtype in zip(self.in_shapes, self.in_dtypes, strict=True):
            size = math.prod(shape)
            leaves.append(x[start : start + size].reshape(shape).astype(dtype))
            start += size
        return jax.tree_util.tree_unflatten(self.in_tree, leaves)

    def ravel_out(self, out: Any) -> Any:
        """f's output tree (one point) -> y; one leaf is returned as it is (the strategies
        reshape it)."""
        import jax
        import jax.numpy as jnp

        leaves = jax.tree_util.tree_leaves(out)
        if len(leaves) == 1:
            return leaves[0]
        dtype = np.result_type(*self.out_dtypes)
        return jnp.concatenate([jnp.ravel(leaf).astype(dtype) for leaf in leaves])

    def _block(self, d: Any, rows: slice, cols: slice, shape: tuple[int, ...], dtype: Any) -> Any:
        whole_rows = rows == slice(0, d.shape[-2])
        whole_cols = cols == slice(0, d.shape[-1])
        if not (whole_rows and whole_cols):
            d = d[..., rows, cols]
        if tuple(d.shape) != shape:
            d = d.reshape(shape)
        return d if d.dtype == dtype else d.astype(dtype)

    def _slices(self, shapes: Sequence[tuple[int, ...]]) -> list[slice]:
        out, start = [], 0
        for s in shapes:
            out.append(slice(start, start + math.prod(s)))
            start += math.prod(s)
        return out

    def jacobian(self, d: Any) -> Any:
        """d, shape lead + (d_out, d_in) -> ``jax.jacfwd``'s structure: the output's tree of
        the differentiated tree, leaf (o, i) of shape lead + out_o + in_i."""
        import jax

        rows, cols = self._slices(self.out_shapes), self._slices(self.in_shapes)
        per_out = []
        for r, oshape, odt in zip(rows, self.out_shapes, self.out_dtypes, strict=True):
            blocks = [
                self._block(d, r, c, (*self.lead, *oshape, *ishape), odt)
                for c, ishape in zip(cols, self.in_shapes, strict=True)
            ]
            per_out.append(jax.tree_util.tree_unflatten(self.in_tree, blocks))
        return jax.tree_util.tree_unflatten(self.out_tree, per_out)

    def hessian(self, d: Any) -> Any:
        """d, shape lead + (d_in, d_in) -> ``jax.hessian``'s structure: the output's tree of the
        differentiated tree of itself, leaf (i, j) of shape lead + out + in_i + in_j."""
        import jax

        cols = self._slices(self.in_shapes)
        (oshape,), (odt,) = self.out_shapes, self.out_dtypes
        rows = []
        for ri, ishape in zip(cols, self.in_shapes, strict=True):
            blocks = [
                self._block(d, ri, cj, (*self.lead, *oshape, *ishape, *jshape), odt)
                for cj, jshape in zip(cols, self.in_shapes, strict=True)
            ]
            rows.append(jax.tree_util.tree_unflatten(self.in_tree, blocks))
        inner = jax.tree_util.tree_unflatten(self.in_tree, rows)
        return jax.tree_util.tree_unflatten(self.out_tree, [inner])

    def like_output(self, d: Any) -> Any:
        """d, shape lead + () -> the output's tree, its one leaf of shape lead + out."""
        import jax

        (oshape,), (odt,) = self.out_shapes, self.out_dtypes
        want = (*self.lead, *oshape)
        if tuple(d.shape) != want:
            d = d.reshape(want)
        d = d if d.dtype == odt else d.astype(odt)
        return jax.tree_util.tree_unflatten(self.out_tree, [d])


def layout_of(
    f: Callable[..., Any], call: Call, *, has_aux: bool, where: str
) -> tuple[Layout, Any]:
    """The Layout of ``call`` and f's abstract aux (None without ``has_aux``), by
    ``jax.eval_shape`` at one point. Whatever f raises propagates unchanged."""
    import jax

    frame = call.frame
    diff_abs, dyn_abs = call.abstract()
    if frame.batch is not None:
        diff_abs = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype, weak_type=a.weak_type), diff_abs
        )
    out = jax.eval_shape(lambda d, o: f(*frame.merge(d, o)), diff_abs, dyn_abs)
    aux = None
    if has_aux:
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise ValueError(
                f"{where}: has_aux=True needs f to return a pair (output, aux), got "
                f"{type(out).__name__}"
            )
        out, aux = out
    out_leaves, out_tree = jax.tree_util.tree_flatten(out)
    if not out_leaves:
        raise ValueError(f"{where}: f returned no array")
    layout = Layout(
        in_tree=frame.diff_tree,
        in_shapes=frame.diff_shapes,
        in_dtypes=frame.diff_dtypes,
        out_tree=out_tree,
        out_shapes=tuple(tuple(int(s) for s in leaf.shape) for leaf in out_leaves),
        out_dtypes=tuple(np.dtype(leaf.dtype) for leaf in out_leaves),
        lead=() if frame.batch is None else (frame.batch,),
    )
    return layout, aux


def describe(call: Call, layout: Layout) -> str:
    """The differentiated arguments in a few words: ``x float32[1]`` for one leaf, else the
    leaf count, d_in and dtype; ``B points of`` when batched."""
    frame = call.frame
    lead = f"{frame.batch} points of " if frame.batch is not None else ""
    if len(layout.in_shapes) == 1:
        shape = list(layout.in_shapes[0])
        what = f"x {np.dtype(layout.in_dtypes[0]).name}{shape}"
    else:
        what = (
            f"{len(layout.in_shapes)} leaves of argnums={frame.argnums!r} "
            f"(d_in {layout.d_in}, {np.dtype(layout.dtype).name})"
        )
    return f"{lead}{what} -> d_out {layout.d_out}"
