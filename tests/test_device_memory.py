"""GPU-ready memory budget, checked on a stand-in device (no GPU in CI): the budget is what the
accelerator's allocator can still hand out, and meta records the JAX settings behind it."""

from __future__ import annotations

from dataclasses import dataclass

from adbench.measure import memory

GIB = 2**30


@dataclass
class FakeDevice:
    platform: str
    stats: dict | None
    id: int = 0

    def memory_stats(self):
        if self.stats is None:
            raise RuntimeError("memory_stats is not implemented for this backend")
        return self.stats


def test_gpu_budget_is_the_pool_left_not_the_pool():
    # JAX preallocated a 60 GiB pool and 20 GiB of it hold live arrays: 40 GiB are left
    gpu = FakeDevice("gpu", {"bytes_limit": 60 * GIB, "bytes_in_use": 20 * GIB})
    assert memory.for_device(100 * GIB, gpu) == 40 * GIB
    assert memory.for_device(10 * GIB, gpu) == 10 * GIB  # the host budget is smaller
    assert memory.for_device(None, gpu) is None  # --max-memory off


def test_cpu_and_backends_without_stats_keep_the_host_budget():
    assert memory.for_device(8 * GIB, FakeDevice("cpu", {"bytes_limit": 1})) == 8 * GIB
    assert memory.for_device(8 * GIB, FakeDevice("tpu", None)) == 8 * GIB
    assert memory.for_device(8 * GIB, FakeDevice("gpu", {})) == 8 * GIB


def test_device_report_states_preallocation():
    devices = [
        FakeDevice("cpu", {}),
        FakeDevice("gpu", {"bytes_limit": 60 * GIB, "bytes_in_use": GIB}, id=1),
    ]
    report = memory.device_report(devices, {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"})
    assert report == [
        {
            "device": "gpu:1",
            "bytes_limit": 60 * GIB,
            "bytes_in_use": GIB,
            "preallocate": "false",
            "mem_fraction": "unset (JAX's pool: 75% of the device)",
        }
    ]
    assert memory.device_report([FakeDevice("cpu", {})], {}) == []
