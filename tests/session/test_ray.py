"""`adbench run --engine ray` on a 3-node test cluster (ray.cluster_utils.Cluster, one
`bench_slot` per node): every case measured once, never two at a time on a node, a killed node
or a killed driver loses nothing; bad input (no Ray, an unreachable address) exits 2.

The cluster is started once for the module and always shut down (ray.shutdown, then
cluster.shutdown, in the fixture's finally), so no Ray process outlives the tests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray  # a test dependency ('.[test]'): these tests run in CI, and fail where it is missing
from conftest import FAST
from ray.cluster_utils import Cluster
from typer.testing import CliRunner

from adbench.cli import app
from adbench.session import engine_ray
from adbench.store import schema

# Ray starts its node processes with subprocess and a preexec_fn (fork, then exec at once); JAX
# warns at any fork once its backends are up, as they are in this process after earlier tests
pytestmark = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
runner = CliRunner()
NODES = ("node-0", "node-1", "node-2")
ROOT = Path(__file__).resolve().parents[2]


def node_args(name: str) -> dict:
    return {
        "num_cpus": 1,
        "resources": {engine_ray.SLOT: 1},
        "labels": {engine_ray.HOST_LABEL: name},
        "object_store_memory": 80 * 2**20,
    }


@contextlib.contextmanager
def this_checkout_on_pythonpath():
    """Nodes started inside inherit PYTHONPATH: their workers then import this checkout's
    adbench, as the driver does (an installed adbench may be another copy)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved]))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture(scope="module")
def cluster():
    """Head + 2 nodes, each with one slot; yields (cluster, [the two non-head nodes])."""
    with this_checkout_on_pythonpath():
        c = Cluster(
            initialize_head=True,
            head_node_args={**node_args(NODES[0]), "include_dashboard": False},
        )
    try:
        with this_checkout_on_pythonpath():
            workers = [c.add_node(**node_args(name)) for name in NODES[1:]]
        c.wait_for_nodes()
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()


def config(tmp_path: Path, n: int, fast: str = FAST) -> Path:
    points = ", ".join(f"[{i}, {i}]" for i in range(2, 2 + n))
    path = tmp_path / "run.yaml"
    path.write_text(
        fast + f"name: many\nfamilies:\n  - {{name: lin, builtin: linear, points: [{points}]}}\n"
    )
    return path


def rows(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / schema.RESULTS_FILE, keep_default_na=False)


def assert_each_case_once(out: Path, n_cases: int) -> pd.DataFrame:
    res = rows(out)
    assert not res.duplicated(["case_id", "device", "strategy"]).any()
    assert res["case_id"].nunique() == n_cases
    assert res.groupby("case_id")["strategy"].nunique().eq(2).all()
    assert (res["status"] == "ok").all(), res[["case_id", "status", "reason"]]
    smp = pd.read_csv(out / schema.SAMPLES_FILE)
    assert not smp.duplicated(["case_id", "host", "device", "strategy", "round"]).any()
    assert len(smp) == pd.to_numeric(res["n_samples"]).sum()
    return res


def start_driver(cfg: Path, out: Path, address: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "adbench", "run", str(cfg), "--out", str(out), "--quiet"]
        + ["--engine", "ray", "--address", address, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def wait_for_cases(out: Path, n: int, proc: subprocess.Popen, limit_s: float = 90) -> None:
    """Until `n` whole cases (2 rows each) are in results.csv."""
    path = out / schema.RESULTS_FILE
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().count("\n") >= 2 * n + 1:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} cases")


# --------------------------------------------------------------------------- bad input


def test_without_ray_installed_exits_2_with_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    out = tmp_path / "out"
    r = runner.invoke(app, ["run", str(config(tmp_path, 1)), "--out", str(out), "--engine", "ray"])
    assert r.exit_code == 2 and engine_ray.PIP in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_an_unreachable_address_exits_2_at_once(tmp_path):
    with socket_closed() as port:
        out = tmp_path / "out"
        args = ["--engine", "ray", "--address", f"127.0.0.1:{port}"]
        r = runner.invoke(app, ["run", str(config(tmp_path, 1)), "--out", str(out), *args])
    assert r.exit_code == 2 and "cannot reach a Ray cluster" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()
    r = runner.invoke(app, ["run", str(config(tmp_path, 1)), "--address", "127.0.0.1:1"])
    assert r.exit_code == 2 and "--address needs --engine ray" in r.stderr
    args = ["--engine", "ray", "--case-timeout", "5", "--out", str(out)]
    r = runner.invoke(app, ["run", str(config(tmp_path, 1)), *args])
    assert r.exit_code == 2 and "not supported with --engine ray" in r.stderr
    assert not out.exists()


class socket_closed:
    """A local port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc: object) -> None:
        pass


def test_the_default_engine_never_imports_ray(tmp_path):
    cfg, out = config(tmp_path, 1), tmp_path / "out"
    code = (
        "import sys; from adbench.cli import app\n"
        f"try: app(['run', {str(cfg)!r}, '--out', {str(out)!r}, '--quiet'])\n"
        "except SystemExit as e: assert not e.code, e.code\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr


# --------------------------------------------------------------------------- on a cluster


def test_task_environment(cluster):
    """CPU cases see only the CPU backend and OMP_NUM_THREADS = the node's CPUs, not Ray's 1."""
    c, _ = cluster

    def probe() -> tuple[str | None, str | None, int]:
        return (
            os.environ.get("JAX_PLATFORMS"),
            os.environ.get("OMP_NUM_THREADS"),
            len(os.sched_getaffinity(0)),
        )

    engine = engine_ray.RayEngine(c.address)  # connects as `adbench run` does
    try:
        task = ray.remote(probe).options(**engine_ray.task_options("cpu"))
        platforms, omp, cpus = ray.get(task.remote(), timeout=60)
    finally:
        engine.close()
    assert platforms == "cpu" and omp == str(cpus)


def test_every_case_once_and_never_two_at_a_time_on_a_node(cluster, tmp_path):
    c, _ = cluster
    out = tmp_path / "out"
    args = ["--out", str(out), "--quiet", "--engine", "ray", "--address", c.address]
    r = runner.invoke(app, ["run", str(config(tmp_path, 6)), *args])
    assert r.exit_code == 0, r.output
    res = assert_each_case_once(out, 6)
    assert set(res["host"]) <= set(NODES) and res["host"].nunique() >= 2  # really spread
    cases = res.groupby("case_id").agg(
        host=("host", "first"), start=("started_at", "first"), end=("ended_at", "first")
    )
    assert (cases["end"] > cases["start"]).all()
    for host, on_node in cases.sort_values("start").groupby("host"):
        starts, ends = on_node["start"].to_numpy(), on_node["end"].to_numpy()
        assert (starts[1:] >= ends[:-1]).all(), f"two cases overlapped on {host}"
    import json

    meta = json.loads((out / schema.META_FILE).read_text())
    assert meta["engine"]["name"] == "ray" and len(meta["engine"]["nodes"]) == 3


def test_driver_killed_then_resume_completes_without_duplicates(cluster, tmp_path):
    c, _ = cluster
    slower = (
        "modes: [jacfwd, jacrev]\ntime_budget_s: 0.3\nmin_sample_s: 0.0005\n"
        "min_rounds: 3\nmax_rounds: 1000\nstop_early: false\n"  # the whole budget: slow enough
    )
    cfg, out = config(tmp_path, 6, slower), tmp_path / "out"
    proc = start_driver(cfg, out, c.address)
    try:
        wait_for_cases(out, 1, proc)
    finally:
        proc.kill()  # SIGKILL: the driver runs no handler
        proc.communicate()
    kept = (out / schema.RESULTS_FILE).read_bytes()
    assert 2 <= kept.count(b"\n") - 1 < 12
    args = ["--out", str(out), "--quiet", "--engine", "ray", "--address", c.address, "--resume"]
    r = runner.invoke(app, ["run", str(cfg), *args])
    assert r.exit_code == 0, r.output
    assert (out / schema.RESULTS_FILE).read_bytes().startswith(kept[: kept.rfind(b"\n") + 1])
    assert_each_case_once(out, 6)


def test_a_node_killed_mid_run_and_the_sweep_completes(cluster, tmp_path):
    c, workers = cluster
    slower = (
        "modes: [jacfwd, jacrev]\ntime_budget_s: 0.4\nmin_sample_s: 0.0005\n"
        "min_rounds: 3\nmax_rounds: 1000\nstop_early: false\n"  # the whole budget: slow enough
    )
    cfg, out = config(tmp_path, 6, slower), tmp_path / "out"
    proc = start_driver(cfg, out, c.address)
    try:
        wait_for_cases(out, 1, proc)
        c.remove_node(workers[0], allow_graceful=False)  # its case in flight dies with it
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    res = assert_each_case_once(out, 6)
    assert set(res["host"]) <= set(NODES)
