"""What every command shares: the consoles, the one `error:` exit, the choices, the help
format, and the one rule for output paths.

Exit codes: 0 success; 1 some case failed (run) or a regression was found (compare); 2 bad input
(config, options, results directory); 130 Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
NATURAL_WIDTH = 1000  # "as wide as the content": tables take their natural width, no padding
PLAIN: dict[str, Any] = {"markup": False, "highlight": False, "soft_wrap": True}


def console(stderr: bool = False) -> Console:
    """stdout's (or stderr's) console. On a terminal (as Rich sees it: a TTY, or FORCE_COLOR):
    its width and styles. Elsewhere (a pipe, a file, a CI log): COLUMNS when set, else each table
    at its natural width (the reasons wrapped at terminal.PROSE_MAX), never cut to a guessed
    width nor padded to one. NO_COLOR (any non-empty value): no ANSI styles at all, bold and
    italic included, not only colours (Rich alone drops only the colours)."""
    plain = os.environ.get("NO_COLOR", "") != ""
    out = Console(stderr=stderr, highlight=False, color_system=None if plain else "auto")
    if not out.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        out.width = NATURAL_WIDTH
    return out


def note(text: str) -> None:
    """One line on stderr, as is (paths and YAML keys are never markup)."""
    console(stderr=True).print(text, **PLAIN)


def fail(
    message: str | Sequence[str], code: int = EXIT_USAGE, *, then: str | None = None
) -> NoReturn:
    """Print the message (or each of several, e.g. every problem of a run file) as one `error:`
    line on stderr, then `then` as is, and exit."""
    from rich.markup import escape

    err = console(stderr=True)
    # the message is the user's text (paths, YAML keys like [d_in, d_out]): never markup
    for line in [message] if isinstance(message, str) else message:
        err.print(f"[bold red]error:[/] {escape(line)}", soft_wrap=True)
    if then:
        err.print(then, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class Device(str, Enum):
    cpu = "cpu"
    gpu = "gpu"
    tpu = "tpu"
    all = "all"


class EngineName(str, Enum):
    local = "local"
    ray = "ray"


class Measure(str, Enum):
    time = "time"
    instructions = "instructions"


# --------------------------------------------------------------------------- help text


class _PlainArgument(TyperArgument):
    """An argument shown by its metavar alone: `CONFIG`, `[CONFIG]`, `DIR...`, never a Python
    type (`<path>`, `<list[Path]>`) nor typer's `{name}` and doubled brackets."""

    def _name(self) -> str:
        return (self.metavar or self.name or "").strip("[]").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:
        return self._usage_display_name()

    def _usage_display_name(self) -> str:
        name = self._name()
        if self.nargs != 1:
            name += "..."
        return name if self.required else f"[{name}]"


class PlainCommand(TyperCommand):
    """A command whose arguments are shown as `_PlainArgument`s (usage line and help)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = _PlainArgument


# --------------------------------------------------------------------------- outputs


def refuse_results_file(path: Path, inputs: Sequence[Path] = ()) -> str | None:
    """Why `path` may not be an output, or None: one rule for every command's --output/-o.

    A results directory's own files (results.csv, meta.json, the lock, their temporaries) are
    never an output, whichever directory they are in and whatever the command read: the
    directory is a results directory when it holds meta.json or is one of `inputs`. The
    path is judged as given and as resolved, so a symbolic link cannot smuggle it in."""
    from adbench.store import schema
    from adbench.store.writer import is_own_file

    candidates = [path.absolute()]
    with contextlib.suppress(OSError):
        candidates.append(path.resolve())
    given = set()
    for d in inputs:
        try:
            given.add(d.resolve())
        except OSError:
            continue
    for p in candidates:
        if not is_own_file(p.name):
            continue
        try:
            parent = p.parent.resolve()
        except OSError:
            continue
        if parent in given or (parent / schema.META_FILE).is_file():
            return (
                f"{path}: is a file of the results directory {p.parent}; refusing to "
                "overwrite it; write the output elsewhere"
            )
    return None


def check_output(output: Path | None, inputs: Sequence[Path] = ()) -> None:
    """Refuse a results directory's own file as --output (exit 2) before any work is done."""
    why = refuse_results_file(output, inputs) if output is not None else None
    if why:
        fail(why)


def write_output(path: Path, data: str | bytes, *, inputs: Sequence[Path] = ()) -> None:
    """An output file (report, compare, export, policy): written whole, or one error line and
    exit 2 (a results directory's own file, a missing directory, a directory, a full disk)."""
    from adbench.store.results import ResultsError
    from adbench.store.writer import write_output as store_write

    why = refuse_results_file(path, inputs)
    if why:
        fail(why)
    try:
        store_write(path, data)
    except ResultsError as exc:
        fail(str(exc))


def plain_text(*renderables: Any) -> str:
    """Rich tables as plain text for a file: no ANSI codes, each at its natural width."""
    import io

    buf = io.StringIO()
    out = Console(file=buf, width=NATURAL_WIDTH, color_system=None)
    for r in renderables:
        out.print(r)
    return buf.getvalue()


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 directory`, `2 directories`."""
    return f"{n} {word if n == 1 else many or word + 's'}"
