"""`adbench run CONFIG --engine ray [--address ADDR]`: measure cases on the nodes of a Ray cluster.

Ray is an optional extra (``pip install 'jax-adbench[ray]'``); only this module imports it, and
only `--engine ray` imports this module.

What is guaranteed, and how:

* **One timed case per node at a time.** Every case holds one unit of the custom resource
  ``bench_slot`` while it runs, and each measuring node offers one (``ray start
  --resources='{"bench_slot": 1}'``; the embedded local Ray gets one), so Ray never runs two
  cases on a node together: interference would corrupt the very thing measured. A GPU case also
  holds ``num_gpus=1`` (Ray then sets CUDA_VISIBLE_DEVICES, so JAX in the task sees that one GPU
  as ``gpu:0``). A node given more slots runs that many cases at once; that is only sound for
  GPU cases on a node with as many GPUs, and gives up node exclusivity.
* **The driver is the only writer.** Tasks return their measurement; the driver appends each
  case to the results files as ``ray.wait`` hands it back (adbench.session.sweep), so killing the
  driver (even with kill -9) loses only the cases in flight, and ``--resume`` measures them.
* **A node that dies costs nothing but time.** Ray re-runs a task whose node or worker died
  (``max_retries``), on another node when that one is gone. The driver keeps the first result
  per (case, device) and drops any later one, so a re-run case is never stored twice; a case
  whose every try died is stored as status ``error`` with the reason.

The task rebuilds its case from the config (factories may not pickle): the driver puts the
validated config in Ray's object store once and sends each task a case id. Built-in families
need nothing on the node but adbench; a ``callable: file.py:name`` must exist at the same path
on every node (or be an importable module there).

Environment of a task, set explicitly because Ray changes it: CPU cases run with
``JAX_PLATFORMS=cpu`` (a task without a GPU may still see one), and every adbench worker process
sets ``OMP_NUM_THREADS`` to the CPUs it may run on, as an unset variable gives in a plain
``adbench run`` (Ray sets it to 1 for tasks that reserve no CPU, which would slow NumPy's BLAS in
the correctness check and any OpenMP code in a user's function). XLA's own CPU thread pool is
sized from the process's CPU affinity, which Ray leaves alone. Rows record the node's host name:
its Ray label ``adbench-host`` when set (``ray start --labels adbench-host=NAME``, for nodes whose
host names are not stable, e.g. containers), else its host name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the module stays light: Ray imports it in every worker before NumPy loads
    from adbench.config.model import LoadedConfig
    from adbench.measure.case import CaseResult, Settings
    from adbench.session.sweep import Engine, Planned, StartHook

from adbench.errors import first_line

PIP = "pip install 'jax-adbench[ray]'"
SLOT = "bench_slot"
HOST_LABEL = "adbench-host"
MAX_RETRIES = 2  # re-runs of a case whose node or worker process died
OBJECT_STORE_BYTES = 128 * 2**20  # the embedded Ray: results are small
# Job-wide: Ray runs the hook in each new worker process before any task (a hook given per task
# is ignored), so the thread setting is in place before NumPy loads.
JOB_RUNTIME_ENV = {"worker_process_setup_hook": f"{__name__}.setup_node_process"}
PROBE_TIMEOUT_S = 30.0  # seconds for the reachability probe of --address
_PROBE_ENV = {  # Ray's client retried a closed port for over 3 minutes (Ray 2.x, measured here)
    "RAY_gcs_rpc_server_connect_timeout_s": "2",
    "RAY_gcs_rpc_server_reconnect_timeout_s": "2",
    "RAY_gcs_server_request_timeout_seconds": "3",
}
_PROBE = (
    "import sys, ray\n"
    "ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False)\n"
    "print(ray.cluster_resources().get(sys.argv[2], 0))\n"
    "ray.shutdown()\n"
)


class EngineError(Exception):
    """Ray is missing, unreachable or unusable: one line for the user (exit 2)."""


@dataclass(frozen=True)
class NodeDevice:
    """A device on whichever node runs the case: JAX's ``platform:id`` as the task sees it."""

    platform: str
    id: int = 0
    device_kind: str = ""  # known only once a node measured on it; rows carry the real kind


def _check_reachable(address: str) -> None:
    """Fail fast on a closed port or an unknown host, then ask a throwaway process to connect
    with short timeouts: on an address that does not answer as Ray, Ray's client retries for
    minutes, and with short timeouts it ends the whole process, so not this one."""
    if address.startswith(("http://", "https://")):
        raise EngineError(
            f"--address {address}: that is a web (dashboard) address; give the cluster's "
            "address as HOST:PORT (port 6379 by default), or ray://HOST:10001"
        )
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if sep and port.isdigit():
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise EngineError(
                f"--address {address}: cannot reach a Ray cluster there ({why})"
            ) from None
    env = {**os.environ, **_PROBE_ENV}
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, address, SLOT],
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"--address {address}: no Ray cluster answered within {PROBE_TIMEOUT_S:g} s"
        ) from None
    if out.returncode != 0:
        raise EngineError(f"--address {address}: no Ray cluster answers there")


def require_ray() -> None:
    """EngineError naming the pip command when Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EngineError(f"--engine ray needs Ray, which is not installed: {PIP}") from None


def setup_node_process() -> None:
    """Ray's worker_process_setup_hook: runs in every adbench worker process before any task
    (before NumPy loads, so its BLAS reads the setting). See the module docstring."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    os.environ["OMP_NUM_THREADS"] = str(cpus)


def task_options(platform: str) -> dict[str, Any]:
    """Ray options of a case measured on `platform`: the node's slot (and a GPU), retries on
    node death only, and the environment of the module docstring."""
    env = {"JAX_PLATFORMS": "cpu"} if platform == "cpu" else {}
    return {
        "num_cpus": 0,
        "num_gpus": 1 if platform == "gpu" else 0,
        "resources": {SLOT: 1},
        "max_retries": MAX_RETRIES,
        "retry_exceptions": False,
        "runtime_env": {"env_vars": env},
    }


_CASES: dict[tuple[str, str], dict[str, Any]] = {}  # per worker process: config -> cases


def measure_on_node(
    loaded: LoadedConfig,
    case_id: str,
    platform: str,
    settings: Settings,
    node_budget: bool,
) -> CaseResult:
    """The Ray task: rebuild the case from the config, measure it on this node's `platform`
    device, and return the result without its case (whose factory may not pickle); the driver
    puts its own case back. With `node_budget`, the memory budget is this node's default."""
    import jax
    import ray

    from adbench.config.cases import expand
    from adbench.measure import memory
    from adbench.measure.case import measure_case
    from adbench.measure.devices import use_cpu_dispatch

    use_cpu_dispatch(loaded.config.cpu_dispatch)  # a node's worker: as the run asks, if fresh
    if settings.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    key = (str(loaded.path), loaded.text_hash)
    if key not in _CASES:
        _CASES[key] = {c.case_id: c for c in expand(loaded)}
    if node_budget:
        settings = replace(settings, max_memory_bytes=memory.default_budget())
    device = jax.devices(platform)[0]
    with jax.default_device(device):
        result = measure_case(_CASES[key][case_id], device, settings)
    label = ray.get_runtime_context().get_node_labels().get(HOST_LABEL)
    return replace(result, case=None, host=label or result.host)  # type: ignore[arg-type]


class RayEngine:
    """A connection to Ray (embedded or a cluster) that measures planned cases on its nodes."""

    def __init__(self, address: str | None) -> None:
        require_ray()
        import ray

        self.address = address
        if address is not None:
            _check_reachable(address)
        try:
            if address is None:
                ray.init(
                    num_cpus=os.cpu_count() or 1,
                    resources={SLOT: 1},
                    include_dashboard=False,
                    object_store_memory=OBJECT_STORE_BYTES,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    runtime_env=JOB_RUNTIME_ENV,
                )
            else:
                ray.init(
                    address=address,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    runtime_env=JOB_RUNTIME_ENV,
                )
        except Exception as exc:  # Ray's own failure to start or connect: one line
            where = f"at {address}" if address else "locally"
            raise EngineError(f"could not start Ray {where}: {first_line(exc)}") from None
        if not ray.cluster_resources().get(SLOT):
            self.close()
            raise EngineError(
                f"the Ray cluster at {address} offers no {SLOT!r} resource, so no node may "
                f"measure: start each measuring node with ray start --resources="
                f"'{{\"{SLOT}\": 1}}'"
            )

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's live measuring nodes, for meta.json."""
        import ray

        out = []
        for n in ray.nodes():
            res = n.get("Resources", {})
            if n.get("Alive") and res.get(SLOT):
                host = (n.get("Labels") or {}).get(HOST_LABEL) or n.get("NodeManagerHostname")
                out.append(
                    {"host": host, "slots": res[SLOT], "cpus": res.get("CPU", 0),
                     "gpus": res.get("GPU", 0)}
                )  # fmt: skip
        return out

    def devices(self, which: str | None) -> list[NodeDevice]:
        """Platforms to measure on, for --device: None -> gpu when the cluster has GPUs, else
        cpu; 'all' -> cpu and gpu when present. EngineError for a platform it lacks."""
        import ray

        gpus = ray.cluster_resources().get("GPU", 0) > 0
        if which == "tpu":
            raise EngineError("--device tpu is not supported with --engine ray yet")
        if which == "gpu" and not gpus:
            raise EngineError("--device gpu: the Ray cluster has no GPU")
        if which is None:
            which = "gpu" if gpus else "cpu"
        if which == "all":
            return [NodeDevice("cpu"), *([NodeDevice("gpu")] if gpus else [])]
        return [NodeDevice(which)]

    def describe(self, *, node_budget: bool) -> dict[str, Any]:
        """meta.json's `engine` entry."""
        return {
            "name": "ray",
            "address": self.address or "embedded",
            "slot_resource": SLOT,
            "max_retries": MAX_RETRIES,
            "nodes": self.nodes(),
            "task_env": {
                "OMP_NUM_THREADS": "the CPUs of the node process",
                "JAX_PLATFORMS": "cpu for CPU cases",
            },
            "max_memory_bytes": "each node: its default (half of its available memory)"
            if node_budget
            else "as settings.max_memory_bytes",
        }

    def engine(self, loaded: LoadedConfig, settings: Settings, *, node_budget: bool) -> Engine:
        """An engine for adbench.session.sweep.run_sweep (see the module docstring)."""
        import ray

        def run(
            todo: Sequence[Planned], on_start: StartHook
        ) -> Generator[tuple[Planned, CaseResult], None, None]:
            config_ref = ray.put(loaded)
            task = ray.remote(measure_on_node)
            pending: dict[Any, Planned] = {}
            for p in todo:
                fn = task.options(**task_options(p.device.platform))
                ref = fn.remote(
                    config_ref, p.case.case_id, p.device.platform, settings, node_budget
                )
                pending[ref] = p
            kept: set[tuple[str, str]] = set()
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        p = pending.pop(ref)
                        key = (p.case.case_id, p.device_id)
                        if key in kept:  # never store a case twice
                            continue
                        kept.add(key)
                        result = self._collect(ref, p, settings)
                        if on_start:
                            on_start(p, len(kept) - 1, len(todo))
                        yield p, result
            finally:
                for ref in pending:  # interrupted: stop what still runs or waits
                    with contextlib.suppress(Exception):
                        ray.cancel(ref, force=True)

        return run

    @staticmethod
    def _collect(ref: Any, p: Planned, settings: Settings) -> CaseResult:
        """The task's result with the driver's case put back, or the case's error."""
        import ray
        from ray.exceptions import RayError, RayTaskError

        from adbench.measure.outcome import failed_case
        from adbench.store import schema

        try:
            result = ray.get(ref)
            return replace(result, case=p.case)
        except RayTaskError as exc:  # adbench raised on the node: this case's error
            why = f"adbench failed on this case: {first_line(exc.cause or exc)}"
        except RayError as exc:  # every try's node or worker died
            why = f"its node or worker died in each of {MAX_RETRIES + 1} tries: {first_line(exc)}"
        return failed_case(
            p.case,
            schema.STATUS_ERROR,
            why,
            device=p.device_id,
            device_kind="",
            platform=p.device.platform,
            dtype=settings.dtype,
            jit=settings.jit,
            host="",
        )

    def close(self) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.shutdown()
