"""The physics-informed loss of issue 17's racing case, as a run-file factory.

``pde_loss(d_in=67)`` returns theta (67,) -> (): the mean squared residual of the 1-D Poisson
problem u''(x) = -pi^2 sin(pi x) on [-1, 1] at ``n_points`` collocation points plus the two
boundary values, for u(x; theta) = w2 . tanh(w1 x + b1) + b2 with a hidden width of 22 (3 x 22 + 1
= 67 parameters, flattened as [w1, b1, w2, b2]). Its Hessian w.r.t. theta nests two derivatives
in x inside the two in theta, so the four compositions differ by orders of magnitude
(rev_over_fwd far behind): the case where one hopeless strategy ate the budget of the
contenders (benchmarks/sequential.py part 6).
"""

from __future__ import annotations

from typing import Any

import numpy as np

WIDTH = 22


def pde_loss(d_in: int = 3 * WIDTH + 1, d_out: int = 1, n_points: int = 24) -> Any:
    """theta (3 * width + 1,) -> () with width = (d_in - 1) / 3: the Poisson residual loss."""
    import jax
    import jax.numpy as jnp

    if d_out != 1 or (d_in - 1) % 3:
        raise ValueError(f"pde_loss needs d_in = 3 * width + 1 and d_out = 1 (got {d_in}, {d_out})")
    width = (d_in - 1) // 3
    xs = jnp.asarray(np.linspace(-1.0, 1.0, n_points), jnp.float32)
    rhs = -(np.pi**2) * jnp.sin(np.pi * xs)

    def loss(theta: Any) -> Any:
        w1, b1, w2 = theta[:width], theta[width : 2 * width], theta[2 * width : 3 * width]
        b2 = theta[3 * width]

        def u(x: Any) -> Any:
            return jnp.dot(w2, jnp.tanh(w1 * x + b1)) + b2

        uxx = jax.vmap(jax.grad(jax.grad(u)))(xs)
        edges = jnp.stack([u(jnp.float32(-1.0)), u(jnp.float32(1.0))])
        return jnp.mean((uxx - rhs) ** 2) + jnp.sum(edges**2)

    return loss
