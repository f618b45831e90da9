"""adbench: for this function, at these sizes, on this hardware, what is the fastest way to get
its derivative, and how sure is that?

Measures every practical strategy (jacfwd, jacrev, chunked, linearize, sparse colouring, Hessian
compositions, Laplacians) on your functions, sizes and devices, and turns the measurements into a
verdict with its evidence. Importing this package does not import JAX: ``adbench.run``,
``adbench.load_results`` (see :mod:`adbench.api`) and ``adbench.jacobian`` / ``hessian`` /
``laplacian`` (see :mod:`adbench.auto`) load what they need when first used.
"""

from __future__ import annotations

from typing import Any

from adbench.version import __version__

__all__ = [
    "__version__",
    "bench",
    "biharmonic",
    "derivative",
    "hessian",
    "jacobian",
    "laplacian",
    "load_results",
    "ntk",
    "run",
]


def __getattr__(name: str) -> Any:  # lazy, so `import adbench` and `adbench --help` stay light
    if name == "load_results":
        from adbench.api import load_results

        return load_results
    if name == "bench":
        from adbench.benchmark import bench

        return bench
    if name == "run":
        from adbench.api import run

        return run
    if name in ("jacobian", "hessian", "laplacian"):  # any task: adbench.auto.derivative(task, f)
        from adbench import auto

        return getattr(auto, name)
    if name in ("derivative", "biharmonic", "ntk"):  # the operators of PINNs
        from adbench.auto import operators

        return getattr(operators, name)
    raise AttributeError(name)
