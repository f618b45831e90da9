"""Families written as ordinary JAX code: a function of several pytree arguments (see
configs/your_code.yaml and docs/your-code.md).

A factory takes named sizes (``sizes: {width: [...], n_points: [...]}`` in the run file) and
returns ``(f, args)``: the function and a tuple of example arguments. adbench differentiates the
arguments named by ``argnums`` (raveled with ``jax.flatten_util.ravel_pytree``), measures d_in and
d_out from them, and with ``per_example: K`` knows that argument K's leading axis enumerates
independent points.
"""

import jax.numpy as jnp
import numpy as np


def _mlp_params(rng, sizes):
    """A dict of tanh-MLP weights: layer i has w{i} (fan_out, fan_in) ~ N(0, 1/fan_in), b{i}."""
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        params[f"w{i}"] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=(fan_out, fan_in))
        params[f"b{i}"] = rng.normal(0.0, 0.1, size=fan_out)
    return params


def _mlp(params, x):
    """x (n, d) -> (n, out): tanh hidden layers, a linear last layer."""
    layers = len(params) // 2
    h = x
    for i in range(layers):
        h = h @ params[f"w{i}"].T + params[f"b{i}"]
        if i < layers - 1:
            h = jnp.tanh(h)
    return h


def ntk(width: int, n_points: int, depth: int = 1, seed: int = 0):
    """The NTK Jacobian of a [1, width x depth, 1] tanh network: d u(x_i) / d params at n_points
    points on [-1, 1]. f(params, points) -> (n_points,); params a dict, points (n_points, 1).
    Output i depends on the parameters and on point i only: per_example 1.
    """
    rng = np.random.default_rng(seed)
    params = _mlp_params(rng, [1] + [width] * depth + [1])
    points = np.linspace(-1.0, 1.0, n_points)[:, None]

    def u(params, points):
        return _mlp(params, points)[:, 0]

    return u, (params, points)


def residual(width: int, n_points: int, seed: int = 0):
    """A Gauss-Newton Jacobian: residuals r_i = u(x_i) - sin(pi x_i) of a [1, width, width, 1]
    tanh network at n_points points, differentiated w.r.t. the parameters (a dict)."""
    rng = np.random.default_rng(seed)
    params = _mlp_params(rng, [1, width, width, 1])
    points = rng.uniform(-1.0, 1.0, size=(n_points, 1))

    def r(params, points):
        return _mlp(params, points)[:, 0] - jnp.sin(jnp.pi * points[:, 0])

    return r, (params, points)
