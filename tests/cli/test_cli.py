"""The command line end to end, through Typer's CliRunner and (for --help) a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
from typer.testing import CliRunner

from adbench import load_results
from adbench.cli import app
from adbench.store import schema

runner = CliRunner()


def test_help_does_not_import_jax():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from adbench.cli import app\n"
        "r = CliRunner().invoke(app, ['run', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'jax' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_classic_experiment_end_to_end(classic_config, tmp_path):
    """R^1 -> R^2000 recommends jacfwd and R^2000 -> R^1 recommends jacrev, with evidence."""
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(classic_config), "--out", str(out)])
    assert r.exit_code == 0, r.output
    for name in (
        schema.RESULTS_FILE,
        schema.SAMPLES_FILE,
        schema.VERDICTS_FILE,
        schema.META_FILE,
        schema.CROSSOVER_FILE,
    ):
        assert (out / name).is_file(), name
    cross = pd.read_csv(out / schema.CROSSOVER_FILE)
    assert list(cross.columns) == list(schema.CROSSOVER_COLUMNS)
    assert sorted(cross["family"]) == ["mean_squares", "power"]
    results = pd.read_csv(out / schema.RESULTS_FILE)
    assert list(results.columns) == list(schema.RESULT_COLUMNS)
    assert len(results) == 4 and set(results["status"]) == {"ok"}
    verdicts = pd.read_csv(out / schema.VERDICTS_FILE).set_index("case_id")
    assert list(verdicts.reset_index().columns) == list(schema.VERDICT_COLUMNS)
    assert verdicts.loc["power/1x2000", "recommended"] == "jacfwd"
    assert verdicts.loc["mean_squares/2000x1", "recommended"] == "jacrev"
    assert verdicts.loc["power/1x2000", "fwd_rev_ci_high"] < 1 / 1.1
    samples = pd.read_csv(out / schema.SAMPLES_FILE)
    assert len(samples) == results["n_samples"].sum()
    meta = json.loads((out / schema.META_FILE).read_text())
    for key in schema.META_KEYS:
        assert key in meta, key
    assert meta["schema_version"] == schema.SCHEMA_VERSION and meta["finished_at"]
    assert meta["devices"][0]["platform"] == "cpu"
    # the verdict table is shown at the end
    assert "jacfwd" in r.output and "mean_squares" in r.output

    # report renders the stored results again, in every format
    table = runner.invoke(app, ["report", str(out)])
    assert table.exit_code == 0 and "power" in table.output
    md = runner.invoke(app, ["report", str(out), "--format", "md"])
    assert md.exit_code == 0 and "| power | 1 → 2000 |" in md.output
    js = runner.invoke(app, ["report", str(out), "--format", "json"])
    doc = json.loads(js.output)
    assert {v["case_id"]: v["recommended"] for v in doc["verdicts"]}["power/1x2000"] == "jacfwd"
    csv_path = tmp_path / "v.csv"
    c = runner.invoke(app, ["report", str(out), "--format", "csv", "--output", str(csv_path)])
    assert c.exit_code == 0
    assert pd.read_csv(csv_path)["recommended"].tolist() == verdicts["recommended"].tolist()

    # the notebook API gives the same tables
    res = load_results(out)
    assert len(res.results) == 4 and len(res.verdicts) == 2


def test_existing_out_dir_is_never_overwritten(classic_config, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = runner.invoke(app, ["run", str(classic_config), "--out", str(out)])
    assert r.exit_code == 2
    assert "--resume" in r.output
    assert (out / "keep.txt").read_text() == "mine" and len(list(out.iterdir())) == 1


def test_bad_config_exits_2_with_one_line(write_config, tmp_path):
    path = write_config("families:\n  - {name: p, builtin: nope, d_in: [1], d_out: [2]}\n")
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert r.exit_code == 2
    assert "unknown builtin 'nope'" in r.output and "power" in r.output
    assert not out.exists()


def test_failed_case_is_recorded_and_run_goes_on(write_config, tmp_path):
    (tmp_path / "funcs.py").write_text(
        "import jax.numpy as jnp\n"
        "def boom(d_in, d_out):\n    raise RuntimeError('no such model')\n"
        "def ok(d_in, d_out):\n    return lambda x: jnp.tile(x, d_out // d_in)\n"
    )
    path = write_config(
        """\
        families:
          - {name: boom, callable: "funcs.py:boom", points: [[2, 2]]}
          - {name: ok, callable: "funcs.py:ok", points: [[2, 4]]}
        """
    )
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert r.exit_code == 1
    assert "factory raised RuntimeError: no such model" in r.output
    df = pd.read_csv(out / schema.RESULTS_FILE).set_index(["case_id", "strategy"])
    assert df.loc[("boom/2x2", "jacfwd"), "status"] == "error"
    assert df.loc[("ok/2x4", "jacrev"), "status"] == "ok"


def test_report_on_missing_dir_exits_2(tmp_path):
    r = runner.invoke(app, ["report", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no such results directory" in r.output


def test_python_dash_m_adbench():
    r = subprocess.run(
        [sys.executable, "-m", "adbench", "--help"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0
    for command in ("run", "report", "compare", "export"):
        assert command in r.stdout


def test_absent_device_platform_is_a_usage_error(classic_config, tmp_path):
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        import pytest

        pytest.skip("this machine has a GPU")
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(classic_config), "--out", str(out), "--device", "gpu"])
    assert r.exit_code == 2
    assert "--device gpu: no such device here; available: cpu" in r.output
    assert not out.exists()
