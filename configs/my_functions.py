"""An example of user-defined families for adbench (see configs/example.yaml).

A factory is called as ``factory(d_in, d_out, **params)`` and returns either a function mapping
an array of shape (d_in,) to shape (d_out,), or a pair ``(function, example_input)``, or
``(function, args)`` with args a tuple of example arguments (pytrees; see ``gauss_newton``
below and configs/your_code.py, where sizes are the factory's own named parameters).
"""

import jax.numpy as jnp
import numpy as np


def residuals(d_in: int, d_out: int, scale: float = 1.0):
    """Least-squares residuals of a small nonlinear model: r = scale * (tanh(T x) - y).

    x: shape (d_in,) -> r: shape (d_out,). T and y are fixed per case (seeded), so every run
    measures the same function.
    """
    rng = np.random.default_rng(0)
    t = rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
    y = rng.uniform(-0.5, 0.5, d_out)

    def fn(x):
        return scale * (jnp.tanh(jnp.asarray(t, x.dtype) @ x) - jnp.asarray(y, x.dtype))

    return fn


def rosenbrock(d_in: int, d_out: int):
    """The Rosenbrock function's residual form, R^n -> R^(2(n-1)); d_out must be 2 * (d_in - 1).

    Returns (function, example_input): the classic starting point x = (-1.2, 1, -1.2, 1, ...).
    """
    if d_out != 2 * (d_in - 1):
        raise ValueError(f"rosenbrock needs d_out = 2 * (d_in - 1) = {2 * (d_in - 1)}")

    def fn(x):
        return jnp.concatenate([10.0 * (x[1:] - x[:-1] ** 2), 1.0 - x[:-1]])

    x0 = np.where(np.arange(d_in) % 2 == 0, -1.2, 1.0)
    return fn, x0


def gauss_newton(d_in: int, d_out: int):
    """Residuals of a linear model with d_in coefficients at d_out data points, as user code
    writes them: r(theta, data) with theta a dict and data a tuple (t, y) of (d_out,) arrays.

    Returns (function, args); a run file's ``argnums: 0`` differentiates theta (its leaves hold
    d_in values in all, checked against the family's d_in), ``per_example: 1`` says that
    residual i depends on data point i only.
    """
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1.0, d_out)
    y = np.sin(3 * t) + 0.1 * rng.standard_normal(d_out)
    theta = {"slope": np.ones(1), "powers": np.zeros(d_in - 1)}

    def r(theta, data):
        t, y = data
        basis = t[:, None] ** jnp.arange(1, d_in, dtype=t.dtype)
        return theta["slope"][0] * jnp.sin(t) + basis @ theta["powers"] - y

    return r, (theta, (t, y))
