"""The memory guard: a case whose Jacobian would not fit is refused from XLA's numbers, in
seconds and without allocating, while the rest of the sweep is measured."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.measure import memory
from adbench.store import schema

CALLABLES = Path(__file__).resolve().parent / "data" / "bad_callables.py"
runner = CliRunner()

# jacrev of power at d_out = 200000 builds 200000 cotangent rows of 200000 float32: ~160 GB
OVERSIZED = FAST + (
    "name: oversized\nfamilies:\n"
    "  - {name: power, builtin: power, d_in: [1], d_out: [10, 200000]}\n"
    "  - {name: ms, builtin: mean_squares, d_in: [100], d_out: [1]}\n"
)


def results(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / schema.RESULTS_FILE, keep_default_na=False).set_index(
        ["case_id", "strategy"]
    )


@pytest.fixture(scope="module")
def oversized(tmp_path_factory):
    """The oversized sweep run with the *default* budget, on a machine said to have 16 GiB
    available (so the test means the same on a machine with 1 TB)."""
    tmp_path = tmp_path_factory.mktemp("oversized")
    config = tmp_path / "oversized.yaml"
    config.write_text(OVERSIZED)
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(memory, "available_bytes", lambda: 16 * 2**30)
        t0 = time.monotonic()
        r = runner.invoke(app, ["run", str(config), "--out", str(out)])
        elapsed = time.monotonic() - t0
    return r, out, elapsed


def test_a_160_gb_case_is_refused_in_seconds_and_the_rest_is_measured(oversized):
    r, out, elapsed = oversized
    assert r.exit_code == 1, r.output
    df = results(out)
    refused = df.loc[("power/1x200000", "jacrev")]
    assert refused["status"] == "memory"
    assert "needs ~149 GiB, over the memory budget of 8 GiB (--max-memory)" in refused["reason"]
    assert float(refused["temp_bytes"]) > 150e9, "XLA's own estimate is recorded"
    assert float(refused["compile_s"]) < 10
    # compiling the 160 GB program allocated none of it
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 8 * 2**20  # KiB: < 8 GiB
    for key in [("power/1x10", "jacfwd"), ("power/1x10", "jacrev"), ("ms/100x1", "jacrev")]:
        assert df.loc[key, "status"] == "ok"
    assert elapsed < 60
    line = [x for x in r.stderr.splitlines() if "power/1x200000" in x and "memory" in x]
    assert len(line) == 1 and "jacrev" in line[0]


def test_the_fine_mode_of_a_refused_case_is_timed_and_recommended(oversized):
    """Policy: jacfwd of the oversized case fits, so it is measured (its time and compile cost
    are worth knowing); with a memory budget the recommendation is the fastest strategy that
    fits, here the only one, and its reason names the refusal. XLA counts more flops for the
    refused jacrev, so it is not named as a faster strategy that did not fit."""
    _, out, _ = oversized
    df = results(out)
    fwd = df.loc[("power/1x200000", "jacfwd")]
    assert fwd["status"] == "ok" and int(fwd["n_samples"]) >= 2
    verdicts = pd.read_csv(out / schema.VERDICTS_FILE, keep_default_na=False)
    verdicts = verdicts.set_index("case_id")
    v = verdicts.loc["power/1x200000"]
    assert v["recommended"] == "jacfwd" and v["fastest_unfit"] == ""
    assert v["reason"].startswith("jacfwd: the only strategy that ran; jacrev memory: ")


def test_the_budget_is_recorded_in_meta(oversized):
    _, out, _ = oversized
    meta = json.loads((out / schema.META_FILE).read_text())
    assert meta["settings"]["max_memory_bytes"] == 8 * 2**30


def test_a_jacobian_too_big_to_hold_is_refused_before_its_factory_runs(tmp_path):
    config = tmp_path / "huge.yaml"
    config.write_text(
        FAST + "name: huge\nfamilies:\n"
        f'  - {{name: huge, callable: "{CALLABLES}:huge_factory", points: [[100000, 100000]]}}\n'
        "  - {name: ok, builtin: linear, points: [[2, 2]]}\n"
    )
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--max-memory", "4GiB"])
    assert r.exit_code == 1, r.output
    df = results(out)
    for mode in ("jacfwd", "jacrev"):
        reason = df.loc[("huge/100000x100000", mode), "reason"]
        assert df.loc[("huge/100000x100000", mode), "status"] == "memory"
        assert "the 100000 x 100000 Jacobian alone needs ~" in reason  # not "factory raised"
    assert set(df.loc["ok/2x2", "status"]) == {"ok"}


def test_max_memory_option_sets_and_disables_the_budget(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text(FAST + "families:\n  - {name: lin, builtin: linear, points: [[300, 300]]}\n")
    out = tmp_path / "tight"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--max-memory", "1MiB"])
    assert r.exit_code == 1
    assert set(results(out)["status"]) == {"memory"}
    assert "over the memory budget of 1 MiB" in results(out)["reason"].iloc[0]
    out = tmp_path / "off"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--max-memory", "off"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / schema.META_FILE).read_text())["settings"]["max_memory_bytes"] is None


# --------------------------------------------------------------------------- adbench.memory


def test_available_memory_is_read():
    avail = memory.available_bytes()
    assert avail is not None and avail > 0
    assert memory.default_budget() == pytest.approx(avail * memory.DEFAULT_FRACTION, rel=0.2)


def test_estimates_count_the_jacobian_and_skip_missing_numbers():
    assert memory.host_bytes(3, 5) == memory.HOST_COPIES * 8 * 15
    assert memory.mode_bytes(100.0, float("nan"), 20.0, 3, 5) == 120 + memory.host_bytes(3, 5)
    assert memory.case_bytes(1, 200000, 4) == 800000 + memory.host_bytes(1, 200000)


def test_refusal_reason_and_units():
    assert memory.refusal(10, 10, "x") is None
    assert memory.refusal(160e9, 8 * 2**30, "jacrev") == (
        "jacrev needs ~149 GiB, over the memory budget of 8 GiB (--max-memory)"
    )
    assert [memory.gib(v) for v in (float("nan"), 512, 1.5 * 2**20, 2**40)] == [
        "?",
        "512 B",
        "1.50 MiB",
        "1 TiB",
    ]


def test_an_accelerator_caps_the_budget_by_its_own_memory():
    gpu = SimpleNamespace(platform="gpu", memory_stats=lambda: {"bytes_limit": 80 * 2**30})
    assert memory.for_device(100 * 2**30, gpu) == 80 * 2**30
    assert memory.for_device(10 * 2**30, gpu) == 10 * 2**30
    assert memory.for_device(None, gpu) is None
    cpu = SimpleNamespace(platform="cpu")
    assert memory.for_device(5, cpu) == 5
    broken = SimpleNamespace(platform="tpu", memory_stats=lambda: 1 / 0)
    assert memory.for_device(5, broken) == 5
