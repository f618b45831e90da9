"""Everyday use: --version, readable --help, run --dry-run and --only, show, init, schema,
validate, and adbench.run() from Python."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FAST
from typer.testing import CliRunner

import adbench
from adbench.cli import app
from adbench.config.model import ConfigError
from adbench.store import schema
from adbench.store.reader import Results, load_results

runner = CliRunner()
COMMANDS = (
    "run",
    "report",
    "compare",
    "export",
    "show",
    "init",
    "schema",
    "validate",
    "predict",
    "policy",
    "merge",
)


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert r.stdout.strip() == f"adbench {adbench.__version__}"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_no_type_placeholders_and_whole_summaries(command):
    r = runner.invoke(app, ["--help"] if command is None else [command, "--help"])
    assert r.exit_code == 0, r.output
    assert "<bool>" not in r.stdout
    if command is None:
        listed = re.findall(r"^  (\w+)\s+(.*)$", r.stdout.split("Commands:")[1], re.M)
        assert {name for name, _ in listed} == set(COMMANDS)
        for name, summary in listed:
            assert summary.endswith(".") and not summary.endswith("..."), (name, summary)


@pytest.fixture
def two_families(tmp_path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(
        FAST
        + "name: two\nfamilies:\n"
        + "  - {name: power, builtin: power, d_in: [1], d_out: [10, 100000]}\n"
        + "  - {name: lin, builtin: linear, points: [[2, 3]]}\n"
    )
    return path


def test_dry_run_lists_cases_memory_and_time_and_writes_nothing(two_families, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["run", str(two_families), "--out", str(out), "--dry-run", "--max-memory", "1MiB"]
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines[2:5]}
    assert set(rows) == {"power/1x10", "power/1x100000", "lin/2x3"}
    # the Jacobian (4 B) and its three float64 host copies (24 B) per entry
    assert "280 B" in rows["power/1x10"]
    assert (
        "2.67 MiB" in rows["power/1x100000"]
        and "refused: over the memory budget" in rows["power/1x100000"]
    )
    assert "3 case(s), 2 to measure on each device: about 0.1 s of timing" in r.stdout
    assert not out.exists()


def test_dry_run_does_not_import_jax(two_families, tmp_path):
    code = (
        "import sys; from adbench.cli import app; sys.argv = ['adbench', 'run', "
        f"{str(two_families)!r}, '--dry-run', '--out', {str(tmp_path / 'o')!r}]\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "assert 'jax' not in sys.modules, 'dry run imported jax'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "power/1x100000" in proc.stdout


def test_only_runs_the_named_families_and_resume_completes(two_families, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(two_families), "--out", str(out), "-q", "--only", "lin"])
    assert r.exit_code == 0, r.output
    assert set(load_results(out).results["family"]) == {"lin"}
    r = runner.invoke(app, ["run", str(two_families), "--out", str(out), "--only", "powr"])
    assert r.exit_code == 2
    assert "--only powr: no such family" in r.stderr and "did you mean 'power'?" in r.stderr
    r = runner.invoke(app, ["run", str(two_families), "--out", str(out), "--resume", "--dry-run"])
    assert "stored on cpu:0: skipped" in r.stdout


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("show")
    (d / "run.yaml").write_text(
        FAST + "families:\n  - {name: power, builtin: power, d_in: [1], d_out: [8, 2000]}\n"
    )
    out = d / "out"
    r = runner.invoke(app, ["run", str(d / "run.yaml"), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    return out


def test_show_lists_cases_and_shows_one_in_full(measured, tmp_path):
    r = runner.invoke(app, ["show", str(measured)])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith("power/1x8 on cpu:0: jacfwd ok, jacrev ok; verdict")

    # a failed strategy's reason is shown in full
    d = tmp_path / "copy"
    import shutil

    shutil.copytree(measured, d)
    path = d / schema.RESULTS_FILE
    text = path.read_text().splitlines()
    header = text[0].split(",")
    cells = text[2].split(",")
    assert cells[header.index("strategy")] == "jacrev"
    cells[header.index("status")] = "memory"
    cells[header.index("reason")] = "jacrev needs ~149 GiB; over the memory budget"
    text[2] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    r = runner.invoke(app, ["show", str(d), "power/1x8"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "power/1x8: family power, task jacobian, d_in 1, d_out 8, batch 1" in out
    assert "  jacrev: memory: jacrev needs ~149 GiB; over the memory budget" in out
    assert "  jacfwd: ok" in out
    for part in (
        "run time   median",
        "one-off    lower",
        "compile",
        "XLA        flops",
        "verdict:",
    ):
        assert part in out, part


def test_show_an_unknown_case(measured):
    r = runner.invoke(app, ["show", str(measured), "power/1x80"])
    assert r.exit_code == 2
    assert "no case 'power/1x80'; did you mean power/1x8" in r.stderr


def test_init_writes_files_that_run_as_they_are(tmp_path):
    d = tmp_path / "start"
    r = runner.invoke(app, ["init", str(d)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in d.iterdir()) == ["my_functions.py", "run.yaml"]
    assert "RUNS THE CODE OF THAT FILE" in (d / "run.yaml").read_text()
    r = runner.invoke(app, ["validate", str(d / "run.yaml")])
    assert r.exit_code == 0, r.output
    assert "valid; 2 families, 4 cases" in r.stdout
    # run it as written (only the timing budget shortened, to keep the test quick)
    text = (d / "run.yaml").read_text().replace("time_budget_s: 0.5", "time_budget_s: 0.05")
    (d / "run.yaml").write_text(text)
    r = runner.invoke(app, ["run", str(d / "run.yaml"), "--out", str(tmp_path / "out"), "-q"])
    assert r.exit_code == 0, r.output
    assert set(load_results(tmp_path / "out").results["status"]) <= {"ok", "skipped"}
    # a second init does not overwrite
    r = runner.invoke(app, ["init", str(d)])
    assert r.exit_code == 2 and "exists; use --force" in r.stderr


def test_schema_is_the_run_file_json_schema():
    r = runner.invoke(app, ["schema"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["$schema"].startswith("https://json-schema.org/")
    assert "families" in doc["required"]
    assert {"name", "dtype", "time_budget_s", "families"} <= set(doc["properties"])


def test_validate_a_good_and_a_bad_file(tmp_path):
    good = Path(__file__).resolve().parent.parent / "configs" / "seed.yaml"
    r = runner.invoke(app, ["validate", str(good)])
    assert r.exit_code == 0 and "valid" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("dtype: f16\nfamilies: [{name: p, builtin: powr, points: [[1, 2]]}]\n")
    r = runner.invoke(app, ["validate", str(bad)])
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 2


def test_python_api_returns_what_load_results_gives(tmp_path):
    import jax.numpy as jnp

    def factory(d_in, d_out, scale=1.0):
        return lambda x: scale * jnp.tanh(x[: min(d_in, d_out)].sum()) * jnp.ones(d_out)

    fast = dict(time_budget_s=0.05, min_sample_s=0.0005, min_rounds=3, max_rounds=6)
    res = adbench.run(factory, sizes=[(2, 3), (3, 2)], params={"scale": 2.0}, **fast)
    assert isinstance(res, Results)
    assert set(res.results["case_id"]) == {"factory/2x3", "factory/3x2"}
    assert set(res.results["status"]) == {"ok"}
    again = load_results(res.path)
    assert list(again.results["case_id"]) == list(res.results["case_id"])
    assert len(res.verdicts) == 2
    assert res.meta["config"]["families"][0]["params"] == {"scale": 2.0}

    # into a given directory, and a grid
    out = tmp_path / "api"
    res = adbench.run(factory, sizes={"d_in": [2], "d_out": [2, 4]}, out=out, name="grid", **fast)
    assert res.path == out and set(res.results["case_id"]) == {"grid/2x2", "grid/2x4"}

    # bad input is a ConfigError before anything runs
    with pytest.raises(ConfigError, match="sizes must be positive integers"):
        adbench.run(factory, sizes=[(0, 2)], **fast)
    with pytest.raises(ConfigError, match="no parameter 'scael'; did you mean 'scale'"):
        adbench.run(factory, sizes=[(1, 2)], params={"scael": 1}, **fast)


def test_python_api_with_a_run_file(two_families, tmp_path):
    res = adbench.run(two_families, out=tmp_path / "o", only=["lin"])
    assert set(res.results["case_id"]) == {"lin/2x3"}
    with pytest.raises(TypeError):
        adbench.run(two_families, sizes=[(1, 2)])
