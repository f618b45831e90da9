"""The fallback for a function that cannot be traced (Python control flow on values).

``jax.eval_shape`` of such an f raises a ``ConcretizationTypeError`` (or one of its kin); JAX's
own transforms still run it eagerly, op by op, because their primal values are concrete there.
So the decision becomes "run JAX's transform un-jitted": ``jax.jacfwd`` (``jax.jacrev`` when that
was forced) for a Jacobian, ``jax.hessian`` for a Hessian, the trace of ``jax.hessian`` of the
raveled function for a Laplacian, each with the user's argnums, has_aux and holomorphic; with
``batched`` a Python loop over the points, stacked. If f fails eagerly too (called under
``jax.jit``, say), that error is the user's own and propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adbench.auto import choice as ch
from adbench.auto import signature
from adbench.errors import first_line

if TYPE_CHECKING:
    from adbench.auto.derivative import AutoDerivative

EAGER_STRATEGY = {"jacobian": "jacfwd", "hessian": "fwd_over_rev", "laplacian": "hessian_trace"}


def choice(
    owner: AutoDerivative, call: signature.Call, exc: Exception, kind: str, platform: str
) -> ch.Choice:
    """The eager Choice for ``owner`` at ``call``; re-raises ``exc`` for a task that has no
    eager form."""
    task = owner.task
    if task not in EAGER_STRATEGY:
        raise exc
    name = EAGER_STRATEGY[task]
    if owner.forced and task == "jacobian" and owner.candidates[0] == "jacrev":
        name = "jacrev"
    run = _runner(owner, name)
    frame = call.frame
    batched = frame.batch is not None

    def eager(args: tuple[Any, ...]) -> Any:
        if not batched:
            return run(args)
        return _stacked(run, owner, args, frame)

    transform = {"jacfwd": "jax.jacfwd", "jacrev": "jax.jacrev"}.get(name, "jax.hessian")
    why = (
        f"f cannot be traced ({first_line(exc)}): {transform} runs it eagerly, un-jitted "
        "(op by op: slower than a compiled strategy; it fails under jax.jit as f does)"
    )
    return ch.Choice(
        strategy=name,
        source=ch.EAGER,
        why=why,
        key=call.key,
        what=f"argnums={frame.argnums!r} of {frame.nargs} argument(s)",
        device_kind=kind,
        platform=platform,
        eager=eager,
    )


def _runner(owner: AutoDerivative, name: str) -> Callable[[tuple[Any, ...]], Any]:
    import jax

    f, argnums = owner.f, owner.argnums
    aux, holo = owner.has_aux, owner.holomorphic
    if owner.task == "jacobian":
        jac = jax.jacrev if name == "jacrev" else jax.jacfwd
        transform = jac(f, argnums=argnums, has_aux=aux, holomorphic=holo)
        return lambda args: transform(*args)
    if owner.task == "hessian":
        hess = jax.hessian(f, argnums=argnums, has_aux=aux, holomorphic=holo)
        return lambda args: hess(*args)
    return lambda args: _laplacian(owner, args)


def _laplacian(owner: AutoDerivative, args: tuple[Any, ...]) -> Any:
    """The trace of jax.hessian of f raveled over its differentiated leaves, shaped like f's
    output (one point, eagerly)."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    positions = (owner.argnums,) if isinstance(owner.argnums, int) else owner.argnums
    nargs = len(args)
    positions = tuple(p % nargs for p in positions)
    diff = tuple(args[p] for p in positions)
    x, unravel = ravel_pytree(diff)

    def flat(v: Any) -> Any:
        full = list(args)
        for p, tree in zip(positions, unravel(v), strict=True):
            full[p] = tree
        out = owner.f(*full)
        return out[0] if owner.has_aux else out

    hess = jax.hessian(flat)(x)
    lap = jnp.trace(hess, axis1=-2, axis2=-1)
    if not owner.has_aux:
        return lap
    return lap, owner.f(*args)[1]


def _stacked(
    run: Callable[[tuple[Any, ...]], Any],
    owner: AutoDerivative,
    args: tuple[Any, ...],
    frame: signature.Frame,
) -> Any:
    """Per point (a Python loop over the leading axis of the differentiated leaves), stacked."""
    import jax
    import jax.numpy as jnp

    assert frame.batch is not None
    results = []
    for i in range(frame.batch):
        point = list(args)
        for p in frame.positions:
            point[p] = jax.tree_util.tree_map(lambda leaf: leaf[i], args[p])  # noqa: B023
        results.append(run(tuple(point)))
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *results)
