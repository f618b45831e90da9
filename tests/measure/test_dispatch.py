"""The CPU client's dispatch (run file key `cpu_dispatch`, adbench.measure.devices).

Which mode a client really has is seen from outside: right after a call of a computation that
takes tens of milliseconds (two 1000 x 1000 matrix products), its result is ready when the
client ran it inline, in the calling thread, and not yet when the call only handed it to XLA's
worker threads. Each check runs in a fresh process, since the mode is fixed when JAX makes its
CPU client (this test process made its own long ago).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adbench.measure.devices import CPU_DISPATCH, use_cpu_dispatch

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}

# prints whether a ~50 ms computation's result is ready as soon as the call returns
PROBE = """
import jax, jax.numpy as jnp
_f = jax.jit(lambda a: (a @ a) @ a)
_x = jnp.ones((1000, 1000), jnp.float32)
jax.block_until_ready(_f(_x))
def ready_at_return():
    return bool(_f(_x).is_ready())
"""


def _python(*parts: str) -> str:
    """Run the parts (each dedented) as one fresh Python program; its last line of output."""
    code = "\n".join(textwrap.dedent(p) for p in parts)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=ENV, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("mode", CPU_DISPATCH)
def test_the_mode_is_set_before_jax_makes_its_client(mode: str) -> None:
    out = _python(
        f"from adbench.measure.devices import use_cpu_dispatch\ngot = use_cpu_dispatch({mode!r})",
        PROBE,
        "print(got, ready_at_return())",
    )
    assert out == f"{mode} {mode == 'inline'}"


def test_a_client_already_made_keeps_its_mode_and_says_so() -> None:
    out = _python(
        PROBE,
        "from adbench.measure.devices import use_cpu_dispatch",
        'print(use_cpu_dispatch("inline"), ready_at_return())',
    )
    assert out == "async False"  # JAX's default client, made by the probe's first call


def test_an_unknown_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cpu_dispatch must be one of inline, async, got 'sync'"):
        use_cpu_dispatch("sync")


# the probe made inside the factory, where the case is measured
FACTORY = """
import os, jax, jax.numpy as jnp
def probed(d_in, d_out):
    f = jax.jit(lambda a: (a @ a) @ a)
    x = jnp.ones((1000, 1000), jnp.float32)
    jax.block_until_ready(f(x))
    with open(os.environ["PROBE_FILE"], "a") as fh:
        fh.write(f"{os.getpid()} {bool(f(x).is_ready())}\\n")
    return lambda x: jnp.tile(x, d_out // d_in)
"""


# a module that computes as it is imported: JAX makes its CPU client while the cases are
# expanded, so the run must have chosen its mode before it imports the user's module
AT_IMPORT = "import jax.numpy as _jnp\n_ONE = float(_jnp.ones(3).sum())\n"


@pytest.mark.parametrize(
    ("mode", "options", "prelude"),
    [
        ("inline", [], ""),
        ("async", [], ""),
        ("inline", ["--case-timeout", "120"], ""),
        ("inline", [], AT_IMPORT),
        ("async", [], AT_IMPORT),
    ],
    ids=["inline", "async", "inline-child", "inline-at-import", "async-at-import"],
)
def test_a_run_measures_in_the_mode_its_file_names(
    tmp_path, mode: str, options, prelude: str
) -> None:
    """The factory runs where the case is measured (this process, or the --case-timeout child):
    its probe sees the client the measurement used; meta.json records the same mode."""
    (tmp_path / "probed.py").write_text(prelude + FACTORY, encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text(
        f"name: probe\ncpu_dispatch: {mode}\nstrategies: [jacfwd, jacrev]\ntime_budget_s: 0.05\n"
        "families:\n  - {name: p, callable: 'probed.py:probed', d_in: [2], d_out: [4]}\n",
        encoding="utf-8",
    )
    probe = tmp_path / "probe.txt"
    done = subprocess.run(
        [sys.executable, "-m", "adbench", "run", str(config), "--out", str(tmp_path / "out"),
         "--quiet", *options],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**ENV, "PROBE_FILE": str(probe)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = probe.read_text(encoding="utf-8").split()
    assert lines and set(lines[1::2]) == {str(mode == "inline")}
    meta = json.loads((tmp_path / "out" / "meta.json").read_text(encoding="utf-8"))
    assert meta["cpu_dispatch"] == mode
