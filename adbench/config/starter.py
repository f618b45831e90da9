"""`adbench init`: a commented run file and a factory stub that run as they are.

The two files are a working example of every part of a run file a new user needs first (a
built-in family, their own factory with params, a grid and explicit points); `adbench schema`
lists the rest. tests/test_everyday.py runs them, so they cannot rot.
"""

from __future__ import annotations

from pathlib import Path

RUN_FILE = "run.yaml"
FACTORY_FILE = "my_functions.py"

RUN_TEXT = """\
# An adbench run file. `adbench run run.yaml` measures every family below and prints the
# verdicts; `adbench run run.yaml --dry-run` lists the cases first, `adbench validate run.yaml`
# checks this file, `adbench schema` prints every key with its meaning and default.
# Every key but `families` has a default.

name: my-run             # names the default results directory: ASCII letters, digits, _ - .
dtype: float32           # or float64
time_budget_s: 0.5       # timing seconds per case, all strategies together (default 2.0)

families:
  # a built-in family: x -> [x^0, x^1, ..., x^(d_out-1)]; `adbench schema` lists the others
  - name: power
    builtin: power
    d_in: [1]
    d_out: [10, 1000]    # a grid: every d_in with every d_out

  # your own function. `callable` RUNS THE CODE OF THAT FILE: adbench imports it, then calls
  # my_factory(d_in, d_out, **params) for each size. Paths are relative to this run file.
  - name: mine
    callable: "my_functions.py:my_factory"
    points: [[100, 10], [10, 100]]   # explicit (d_in, d_out) pairs
    params: {scale: 0.5}             # keyword arguments of the factory, checked before running
"""

FACTORY_TEXT = '''\
"""Factories for adbench: each builds one function to differentiate, at given sizes.

adbench calls `factory(d_in, d_out, **params)` and differentiates what it returns: a function
mapping an array of shape (d_in,) to shape (d_out,) (a scalar output counts as d_out = 1), or a
pair (function, example_input) when the function needs a particular input.
"""

import jax.numpy as jnp
import numpy as np


def my_factory(d_in, d_out, scale=1.0):
    """x -> tanh(scale * A x), A of shape (d_out, d_in): change it into your own function."""
    a = np.random.default_rng(0).standard_normal((d_out, d_in)) / np.sqrt(d_in)  # built once

    def f(x):  # x: shape (d_in,) -> shape (d_out,)
        return jnp.tanh(scale * (jnp.asarray(a, dtype=x.dtype) @ x))

    return f
'''


def starter_files(directory: Path) -> dict[Path, str]:
    """The files `adbench init DIRECTORY` writes: path -> text."""
    return {directory / RUN_FILE: RUN_TEXT, directory / FACTORY_FILE: FACTORY_TEXT}
