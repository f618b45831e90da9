"""Faults found by trying adbench as an attacker would (issue 11): a factory that exits or
changes directory, two runs at once, absurd sizes, a huge run file, a comparison of nothing,
config errors that hid each other, functions that call back into Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.config.model import ConfigError, load_config, parse_config
from adbench.store import schema
from adbench.store.reader import load_results

runner = CliRunner()

EXITING = """\
import os
import sys


def exits(d_in, d_out):
    sys.exit(0)


def exits_inside(d_in, d_out):
    def f(x):
        raise SystemExit(3)
    return f


def wanders(d_in, d_out):
    os.chdir(os.environ["ADBENCH_TEST_ELSEWHERE"])
    return lambda x: 2.0 * x
"""


@pytest.fixture
def user_file(tmp_path) -> Path:
    (tmp_path / "user.py").write_text(EXITING)
    return tmp_path / "user.py"


def exiting_config(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        FAST
        + textwrap.dedent(
            """\
            name: exits
            families:
              - {name: quits, callable: "user.py:exits", points: [[2, 2]]}
              - {name: quits_in_fn, callable: "user.py:exits_inside", points: [[2, 2]]}
              - {name: lin, builtin: linear, points: [[3, 3]]}
            """
        )
    )
    return path


@pytest.mark.parametrize("timeout", [[], ["--case-timeout", "120"]], ids=["in-process", "child"])
def test_sys_exit_in_a_case_is_that_cases_error(user_file, tmp_path, timeout):
    config, out = exiting_config(tmp_path), tmp_path / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet", *timeout])
    assert r.exit_code == 1, r.output  # a case failed; the run went on
    res = load_results(out)
    by = res.results.set_index(["case_id", "strategy"])
    for case in ("quits/2x2", "quits_in_fn/2x2"):
        assert set(by.loc[case, "status"]) == {"error"}
        assert all("SystemExit" in why for why in by.loc[case, "reason"])
    assert set(by.loc["lin/3x3", "status"]) == {"ok"}, "later families still run"
    assert json.loads((out / schema.META_FILE).read_text())["finished_at"]


def test_a_factory_that_changes_directory_cannot_move_the_results(user_file, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("ADBENCH_TEST_ELSEWHERE", str(elsewhere))
    (tmp_path / "run.yaml").write_text(
        FAST + 'families:\n  - {name: w, callable: "user.py:wanders", points: [[2, 2], [3, 3]]}\n'
    )
    monkeypatch.chdir(tmp_path)  # relative paths below, as a user types them
    r = runner.invoke(app, ["run", "run.yaml", "--out", "out", "--quiet"])
    assert r.exit_code == 0, r.output
    assert list(elsewhere.iterdir()) == []
    assert len(load_results(tmp_path / "out").results) == 4
    meta = json.loads((tmp_path / "out" / schema.META_FILE).read_text())
    assert meta["config_path"] == str(tmp_path / "run.yaml")


def test_two_real_runs_into_one_directory(user_file, tmp_path):
    go = tmp_path / "go"
    user_file.write_text(
        EXITING
        + textwrap.dedent(
            f"""
            def waits(d_in, d_out):  # holds the first run inside its first case until `go`
                import pathlib, time
                deadline = time.monotonic() + 120
                while not pathlib.Path({str(go)!r}).exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                return lambda x: 2.0 * x
            """
        )
    )
    config = tmp_path / "run.yaml"
    config.write_text(
        FAST + 'name: two\nfamilies:\n  - {name: w, callable: "user.py:waits", '
        "points: [[2, 2], [3, 3]]}\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "adbench", "run", str(config), "--out", str(out), "--quiet"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    first = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (out / schema.META_FILE).is_file():  # the first run holds the lock by now
            assert first.poll() is None and time.monotonic() < deadline, "first run ended early"
            time.sleep(0.05)
        second = subprocess.run(
            [*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=120, check=False
        )
    finally:
        go.touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    assert second.stderr.count("\n") == 1
    assert f"another adbench run is writing into it (pid {first.pid} on " in second.stderr
    rows = pd.read_csv(out / schema.RESULTS_FILE)
    assert not rows.duplicated(["case_id", "device", "strategy"]).any()
    assert len(rows) == 4


def test_sizes_are_capped(tmp_path):
    with pytest.raises(ConfigError, match=r"sizes are at most 2\*\*40"):
        parse_config(
            "families: [{name: p, builtin: power, d_in: [1], d_out: [1099511627777]}]\n",
            tmp_path / "x.yaml",
        )
    ok = "families: [{name: p, builtin: linear, points: [[1099511627776, 1]]}]\n"
    assert parse_config(ok, tmp_path / "x.yaml").config.families[0].sizes() == [(2**40, 1)]


def test_a_huge_plain_run_file_is_refused_for_its_size_not_for_aliases(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(
        "families:\n"
        + "".join(
            f"  - {{name: f{i}, builtin: linear, d_in: [2], d_out: [3]}}\n" for i in range(10_000)
        )
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "alias" not in msg
    assert msg.startswith(f"{path}: holds 110003 values (10000 families); a run file may hold at")
    assert "at most 100000 values" in msg


def test_every_config_error_is_listed_at_once(tmp_path):
    text = textwrap.dedent(
        """\
        time_budget: 1
        dtype: float16
        families:
          - {name: a, builtin: power, d_in: [1], d_out: [0]}
          - {name: b, builtin: nope, points: [[1, 2]]}
          - {name: c, builtin: linear, points: [[1, 2]], d_inn: [3]}
        """
    )
    path = tmp_path / "x.yaml"
    with pytest.raises(ConfigError) as err:
        parse_config(text, path)
    assert err.value.problems == (
        f"{path}:1: time_budget: unknown key; did you mean 'time_budget_s'?",
        f"{path}:6: families[2].d_inn: unknown key; did you mean 'd_in'?",
        f"{path}:2: dtype: Input should be 'float32' or 'float64'",
        f"{path}:4: families[0].d_out: sizes must be positive integers (got 0)",
        f"{path}:5: families[1]: unknown builtin 'nope'; valid: power, mean_squares, linear, "
        "elementwise, softmax, mlp_loss, scan, broyden, rosenbrock, mlp_u",
    )
    path.write_text(text)
    r = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [f"error: {p}" for p in err.value.problems]
    assert not (tmp_path / "out").exists()


def test_callable_and_params_errors_of_every_family_at_once(tmp_path):
    (tmp_path / "fns.py").write_text(
        "def residuals(d_in, d_out, scale=1.0):\n    return lambda x: scale * x\n"
        "def needs(d_in, d_out, *, k):\n    return lambda x: k * x\n"
        "def one(n):\n    return lambda x: x\n"
    )
    path = tmp_path / "run.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            families:
              - name: a
                callable: "fns.py:residual"
                points: [[2, 2]]
              - name: b
                callable: "fns.py:residuals"
                points: [[2, 2]]
                params: {scael: 2}
              - name: c
                callable: "fns.py:needs"
                points: [[2, 2]]
              - name: d
                callable: "fns.py:one"
                points: [[2, 2]]
            """
        )
    )
    r = runner.invoke(app, ["validate", str(path)])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert lines == [
        f"error: {path}:3: families[0].callable: callable 'fns.py:residual': fns.py has no "
        "attribute 'residual'; did you mean 'residuals'?",
        f"error: {path}:8: families[1].params: residuals(d_in, d_out, scale=1.0) has no "
        "parameter 'scael'; did you mean 'scale'? (it takes scale)",
        f"error: {path}:10: families[2].params: needs(d_in, d_out, *, k) cannot be called as "
        "needs(d_in, d_out, **params): missing a required argument: 'k'",
    ]  # one(n) cannot take the sizes: that is each case's error when it runs (test_case_errors)


def test_compare_of_runs_with_nothing_in_common(tmp_path):
    for name, family in (("a", "lin"), ("b", "other")):
        (tmp_path / f"{name}.yaml").write_text(
            FAST + f"families: [{{name: {family}, builtin: linear, points: [[2, 2]]}}]\n"
        )
        r = runner.invoke(
            app, ["run", str(tmp_path / f"{name}.yaml"), "--out", str(tmp_path / name), "-q"]
        )
        assert r.exit_code == 0, r.output
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    r = runner.invoke(app, ["compare", a, b, "--strict"])
    assert r.exit_code == 1, r.output
    r = runner.invoke(app, ["compare", a, b])
    assert r.exit_code == 0, r.output
    assert "warning: the two runs have no case in common: nothing was compared" in r.stderr
    r = runner.invoke(app, ["compare", a, b, "--format", "json"])
    doc = json.loads(r.stdout)
    assert doc["checked"]["cases"] == 0
    assert any("nothing was compared" in f["message"] for f in doc["findings"])
    r = runner.invoke(app, ["compare", a, a, "--strict"])  # a real comparison still passes
    assert r.exit_code == 0, r.output


def test_python_callbacks_are_found_in_the_traced_program():
    import jax
    import jax.numpy as jnp
    import numpy as np

    from adbench.measure.callbacks import callback_warning, python_callbacks

    x = jnp.ones(3)

    def printing(v):
        jax.debug.print("v = {}", v)
        return jnp.sin(v)

    def pure(v):
        host = jax.pure_callback(np.cos, jax.ShapeDtypeStruct(v.shape, v.dtype), v)
        return v * host

    def nested(v):  # inside a scan inside a jit
        def body(c, _):
            jax.debug.callback(lambda t: None, c)
            return c * 2.0, None

        return jax.jit(lambda w: jax.lax.scan(body, w, None, length=2)[0])(v)

    assert python_callbacks(jnp.sin, x) == ()
    assert python_callbacks(printing, x) in (("debug_print",), ("debug_callback",))
    assert python_callbacks(pure, x) == ("pure_callback",)
    assert python_callbacks(nested, x) == ("debug_callback",)
    assert python_callbacks(lambda v: v.undefined, x) == ()  # untraceable: reported elsewhere
    assert "timings include" in callback_warning(("pure_callback",))
