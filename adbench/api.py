"""What notebooks and user code import: :func:`run` a quick sweep, :func:`load_results` a stored
one. Nothing here imports JAX at module level.

``adbench.run(factory, sizes=[(1, 100), (100, 1)])`` measures through exactly the path
``adbench run`` takes: it builds the same :class:`~adbench.session.request.RunRequest` and
hands it to :func:`adbench.session.checks.prepare` (every check of the command line, with the
same messages) and :func:`adbench.session.runner.execute` (a locked results directory, the
sweep, the writer); it returns the same :class:`~adbench.store.reader.Results` that
:func:`load_results` gives. This module checks nothing itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from adbench.analysis.results import load_results
from adbench.session.checks import select_families
from adbench.session.request import DEFAULT
from adbench.store.reader import Results

__all__ = ["Results", "load_results", "run", "select_families"]


def run(
    target: Callable[..., Any] | str | os.PathLike[str] | Mapping[str, Any],
    *,
    sizes: Sequence[tuple[int, int]] | Mapping[str, Sequence[int]] | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    out: str | os.PathLike[str] | None = None,
    device: str | None = None,
    resume: bool = False,
    force: bool = False,
    max_memory: int | str | None = DEFAULT,
    case_timeout: float | None = None,
    only: Sequence[str] = (),
    shard: str | None = None,
    engine: str = "local",
    address: str | None = None,
    measure: str = "time",
    on_note: Callable[[str], None] | None = None,
    **settings: Any,
) -> Results:
    """Measure and return the results, as ``adbench run`` would store them.

    target: a factory ``factory(d_in, d_out, **params) -> fn | (fn, x0)`` with `sizes`
    (``[(d_in, d_out), ...]`` or ``{"d_in": [...], "d_out": [...]}``) and `params`; or a run
    file's path; or a run file's content as a dict. `settings` are run-file keys (``modes``,
    ``dtype``, ``time_budget_s``, ...) for a factory. `out`: the results directory (default: a
    new temporary one, kept: ``results.path``). `max_memory`: bytes, a size such as ``"8GiB"``,
    ``None`` for no guard, or the default (half the available memory). `case_timeout` needs a
    run file, or a factory importable by ``module:name`` (the child process that enforces it
    must load the factory). `shard` (``"I/N"``), `engine` (``"local"`` or ``"ray"``, with
    `address`) and `measure` (``"time"`` or ``"instructions"``) are the command line's
    ``--shard``, ``--engine``, ``--address`` and ``--measure``. `on_note` hears each note as
    the run goes (they are also in ``results.notes``).

    Raises RequestError (adbench.session.request; a ValueError) for options that cannot run,
    ConfigError listing every problem of the config, and ResultsError; a failing case is
    recorded in its rows (``status``, ``reason``), as on the command line. Ctrl-C raises
    KeyboardInterrupt (the notebook's kernel lives on; the finished cases are kept).
    """
    from adbench.session import inline
    from adbench.session.checks import prepare
    from adbench.session.request import Hooks, RunRequest
    from adbench.session.runner import execute

    loaded, cases = None, None
    if callable(target):
        loaded, cases = inline.from_factory(target, sizes, params, name, settings)
    elif sizes is not None or params is not None or settings:
        raise TypeError("sizes, params and run-file keys go with a factory, not a run file")
    elif isinstance(target, Mapping):
        loaded = inline.from_mapping(target)
    notes: list[str] = []

    def heard(text: str) -> None:
        notes.append(text)
        if on_note is not None:
            on_note(text)

    request = RunRequest(
        config=None if loaded is not None else Path(target),  # type: ignore[arg-type]
        loaded=loaded,
        cases=tuple(cases) if cases is not None else None,
        out=Path(out) if out is not None else None,
        default_out="temporary",
        device=device,
        resume=resume,
        force=force,
        only=tuple(only),
        max_memory=max_memory,
        case_timeout=case_timeout,
        shard=shard,
        engine=engine,
        address=address,
        measure=measure,
        hooks=Hooks(on_note=heard),
    )
    res = load_results(execute(prepare(request)))
    res.notes[:0] = notes
    return res
