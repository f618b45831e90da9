"""adbench: should this Jacobian use forward mode (jax.jacfwd) or reverse mode (jax.jacrev)?

Measures both on your functions, sizes and devices, and turns the measurements into a verdict
with its evidence. Importing this package does not import JAX.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "hessian", "jacobian", "laplacian", "load_results"]


def __getattr__(name: str):  # lazy, so `import adbench` and `adbench --help` stay light
    if name == "load_results":
        from adbench.store.results import load_results

        return load_results
    if name in ("jacobian", "hessian", "laplacian"):
        from adbench import auto

        return getattr(auto, name)
    raise AttributeError(name)
