"""Measuring: config -> cases -> strategies -> measure -> sweep.

``adbench.run`` is this package *and* the notebook entry point ``adbench.run(factory,
sizes=...)`` (:func:`adbench.api.run`): Python binds a package's submodule to its parent's
attribute on import, so a function named ``adbench.run`` would be replaced by this package the
moment anything imported ``adbench.run.config``. The package is made callable instead.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from adbench.api import run

        return run(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
