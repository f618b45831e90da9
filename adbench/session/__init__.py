"""A whole run, from the options to the stored results.

request (RunRequest: every option, frozen) -> checks.prepare (every check; Prepared) ->
runner.execute (the engine, the caller's hooks, the writer, the lock) -> the results
directory. Below them: sweep
(every case, the writer, resume), resume (the one resume rule), shard, derived tables, worker
(the child process behind --case-timeout), engine_ray, interrupt (Ctrl-C).

Names are imported lazily, so ``import adbench.session`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Hooks", "Prepared", "RequestError", "RunRequest", "execute", "prepare"]


def __getattr__(name: str) -> Any:
    if name in ("Hooks", "RequestError", "RunRequest"):
        from adbench.session import request

        return getattr(request, name)
    if name in ("Prepared", "prepare"):
        from adbench.session import prepare as module

        return getattr(module, name)
    if name == "execute":
        from adbench.session.runner import execute

        return execute
    raise AttributeError(name)
