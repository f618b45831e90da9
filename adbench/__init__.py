"""adbench: should this Jacobian use forward mode (jax.jacfwd) or reverse mode (jax.jacrev)?

Measures both on your functions, sizes and devices, and turns the measurements into a verdict
with its evidence. Importing this package does not import JAX: ``adbench.run`` and
``adbench.load_results`` (see :mod:`adbench.api`) load what they need when first used.
"""

from __future__ import annotations

from typing import Any

from adbench.version import __version__

__all__ = ["__version__", "load_results", "run"]


def __getattr__(name: str) -> Any:  # lazy, so `import adbench` and `adbench --help` stay light
    if name == "load_results":
        from adbench.api import load_results

        return load_results
    if name == "run":  # the package adbench.run, callable as adbench.api.run (see its docstring)
        import adbench.run

        return adbench.run
    raise AttributeError(name)
