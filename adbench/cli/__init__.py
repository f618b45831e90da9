"""The `adbench` command: the only package that imports typer.

One module per group of commands: run (measure), results (report, show, export, policy), merge,
compare, files (validate, schema, init), predict; _common holds the consoles, the `error:` exit,
the help format and the output-path rule. A command parses its options, calls one step below
(adbench.session for a run, adbench.store / render / compare for stored results), renders and
maps errors to exit codes. Heavy imports (jax, pandas) happen inside the commands, so `--help`
is instant. Exit codes: 0 success; 1 some case failed (run) or a regression was found
(compare); 2 bad input (config, options, results directory); 130 Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated

import typer

from adbench.cli import compare, files, merge, predict, results, run
from adbench.cli._common import PlainCommand

_ABOUT = (
    "Which way of differentiating this function is fastest: jax.jacfwd, jax.jacrev, chunked, "
    "linearize or sparse colouring (and Hessian and Laplacian compositions)? Measure them on "
    "your functions, sizes and devices, and get a verdict with its evidence."
)

app = typer.Typer(
    name="adbench",
    help=_ABOUT,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: typer's rich panels print a `<bool>` placeholder beside every flag
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from adbench import __version__

        typer.echo(f"adbench {__version__}")
        raise typer.Exit()


@app.callback(help=_ABOUT)
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    pass


# (command, short help), in the order `adbench --help` lists them: a run, then reading results
for _command, _short in (
    (run.run, "Measure every case of a run file and store the results."),
    (results.report, "Show stored verdicts and crossovers again, as a table or a file."),
    (merge.merge, "Join results directories of one config from shards or machines."),
    (compare.compare, "Judge a run against a baseline run: exit 1 on a regression."),
    (results.export, "Write stored results in another tool's format."),
    (files.validate, "Check a run file and list every problem, without running it."),
    (files.schema, "Print the run file's JSON Schema (for editors and checkers)."),
    (files.init, "Write a commented run file and a factory stub to start from."),
    (results.show, "Show one stored case in full, or list the stored cases."),
    (predict.predict, "Predict each case's fastest strategy from XLA's costs alone."),
    (results.policy, "Turn stored verdicts into a policy file for adbench.jacobian."),
):
    app.command(short_help=_short, cls=PlainCommand)(_command)


def main() -> None:
    """The console entry point: the command, then a hard exit with its code.

    Once a command has returned, everything it keeps is written and closed; what remains is the
    interpreter's teardown, which for a process that has loaded JAX frees XLA's runtime and every
    module (0.2-0.3 s measured after a run, most of it JAX's: ``benchmarks/floor.py`` and
    docs/evidence.md). The streams are flushed and the process ends with the command's code.
    A bug's exception is not caught here: it keeps its traceback and the normal exit. Under a
    tracer or profiler (coverage, pdb, cProfile) the normal exit stays, so their exit hooks
    run."""
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - typer's app always ends with SystemExit
        code = 0
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)
    _leave(code)


def _leave(code: object) -> None:
    """End the process now with SystemExit's `code` (None: 0; a message: printed, 1)."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (| head): nothing more can be said
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status & 0xFF)  # as the interpreter maps sys.exit(n)


__all__ = ["app", "main"]
