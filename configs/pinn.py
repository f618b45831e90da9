"""Physics-informed models for configs/pinn.yaml and benchmarks/operators.py.

Factories are called as ``factory(d_in, d_out, **params)`` (adbench's run-file contract) and
return the network u: (d_in,) -> () (the operator tasks are of a scalar field), or for the NTK
``(f, (params, X))``: f(params, X (N, d)) -> (N, 1) with the parameters a pytree and the points
an argument (issue 15's families with real arguments). Weights are seeded, so every run measures
the same function; tanh, as PINNs use (ReLU has no second derivative).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def mlp_params(sizes: list[int], seed: int = 0) -> list[dict[str, Any]]:
    """Glorot-scaled dense layers [{"w": (a, b), "b": (b,)}, ...] for widths ``sizes``."""
    rng = np.random.default_rng(seed)
    return [
        {
            "w": jnp.asarray(rng.normal(size=(a, b)) / np.sqrt(a), jnp.float32),
            "b": jnp.asarray(rng.normal(size=b) * 0.1, jnp.float32),
        }
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def mlp_apply(params: list[dict[str, Any]], x: jax.Array) -> jax.Array:
    """x (..., d) -> (..., out): tanh hidden layers, linear output."""
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def pinn_u(d_in: int, d_out: int = 1, width: int = 64, depth: int = 2, seed: int = 0):
    """u: (d_in,) -> (), an MLP [d_in, width x depth, 1]: the field a PINN learns."""
    if d_out != 1:
        raise ValueError(f"pinn_u is a scalar field (d_out = 1), got d_out = {d_out}")
    params = mlp_params([d_in, *([width] * depth), 1], seed)

    def u(x: jax.Array) -> jax.Array:
        return mlp_apply(params, x)[0]

    return u


def ntk_mlp(d_in: int = 1, d_out: int = 1, width: int = 512, n_points: int = 200, seed: int = 0):
    """(f, (params, X)): the NTK network [d_in, width, d_out] of the PINN course; X (n_points,
    d_in).

    f(params, X) -> (n_points, d_out), row i depending on the parameters and X[i] only.
    """
    params = mlp_params([d_in, width, d_out], seed)
    x = jnp.asarray(np.linspace(-1.0, 1.0, n_points * d_in).reshape(n_points, d_in), jnp.float32)
    return mlp_apply, (params, x)
