"""The memory guard: how much a case may use, and how much it would use, before it runs.

A Jacobian can need far more memory than the function: jacrev of x -> x**arange(n) builds n
cotangent rows of n entries, 4 n^2 bytes (40 GB at n = 10^5). Running such a case would swap or
get the whole process killed, losing the sweep. XLA's ``memory_analysis()`` of the compiled
Jacobian knows its temporary, argument and output bytes *before* anything runs, and compiling
allocates none of them, so a case is refused from numbers alone.

The estimate of one mode (see :func:`mode_bytes`) is

    XLA temp + argument + output bytes       the compiled Jacobian on the device
    + HOST_COPIES x 8 x d_in x d_out         on the host: the Jacobian converted to float64 for
                                             the jacfwd-vs-jacrev check, plus that check's
                                             temporaries (|a - b|, max(|a|, |b|), ...)

and before the factory is even called, :func:`case_bytes` refuses a case whose Jacobian alone
(device copy + host copies) is over the budget, so a factory that would allocate a matrix of the
Jacobian's size is never called either.

The default budget is half of the memory available when the run starts (Linux: MemAvailable in
/proc/meminfo; elsewhere free physical pages), leaving room for the process itself, the OS and
what estimates miss. ``--max-memory`` sets it; ``--max-memory off`` disables the guard. On an
accelerator the budget is further capped by what the device's allocator can still hand out
(:func:`for_device`; not yet exercised on a real GPU: tests use a stand-in device).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from adbench import fmt

DEFAULT_FRACTION = 0.5
HOST_COPIES = 3  # float64 copy of the Jacobian + ~2 same-sized temporaries of the check


def available_bytes() -> int | None:
    """Memory available to new allocations now, in bytes, or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the value is in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def default_budget(fraction: float = DEFAULT_FRACTION) -> int | None:
    """The default --max-memory: `fraction` of the available memory, or None if unknown."""
    avail = available_bytes()
    return None if avail is None else int(avail * fraction)


def _stats(device: object) -> dict[str, int]:
    try:
        return dict(device.memory_stats() or {})  # type: ignore[attr-defined]
    except Exception:  # not every backend implements memory_stats
        return {}


def for_device(budget: int | None, device: object) -> int | None:
    """The budget on `device`: capped by what an accelerator's allocator can still hand out,
    ``memory_stats()["bytes_limit"] - ["bytes_in_use"]``, since XLA's temporaries live there.

    ``bytes_limit`` is the allocator's pool, not the device's size: JAX takes 75% of a GPU
    (XLA_PYTHON_CLIENT_MEM_FRACTION) and, by default, reserves it all at the first use
    (XLA_PYTHON_CLIENT_PREALLOCATE); arrays alive in the process count in ``bytes_in_use``
    either way, so the difference is what one more case may use. None stays None (off)."""
    if budget is None or getattr(device, "platform", "cpu") == "cpu":
        return budget
    stats = _stats(device)
    limit = stats.get("bytes_limit")
    if not limit:
        return budget
    return min(budget, max(0, int(limit) - int(stats.get("bytes_in_use", 0))))


def device_report(
    devices: Sequence[object], env: Mapping[str, str] = os.environ
) -> list[dict[str, object]]:
    """meta.json's record of each accelerator's memory at the start: the allocator's pool and
    use, and the JAX settings (from `env`, the environment the cases run in) behind them."""
    out: list[dict[str, object]] = []
    for d in devices:
        if getattr(d, "platform", "cpu") == "cpu":
            continue
        stats = _stats(d)
        out.append(
            {
                "device": f"{getattr(d, 'platform', '?')}:{getattr(d, 'id', '?')}",
                "bytes_limit": stats.get("bytes_limit"),
                "bytes_in_use": stats.get("bytes_in_use"),
                "preallocate": env.get(
                    "XLA_PYTHON_CLIENT_PREALLOCATE", "unset (JAX reserves the pool at first use)"
                ),
                "mem_fraction": env.get(
                    "XLA_PYTHON_CLIENT_MEM_FRACTION", "unset (JAX's pool: 75% of the device)"
                ),
            }
        )
    return out


def gib(n: float) -> str:
    """Bytes as a short human number: '149 GiB', '1.50 GiB', '12 MiB'; '?' for NaN."""
    return fmt.nbytes(n, missing="?")


def host_bytes(d_in: int, d_out: int) -> int:
    """Host memory for one mode's Jacobian during the correctness check."""
    return HOST_COPIES * 8 * d_in * d_out


def case_bytes(d_in: int, d_out: int, itemsize: int) -> int:
    """A lower bound for any mode of a case: its Jacobian on the device plus on the host."""
    return d_in * d_out * itemsize + host_bytes(d_in, d_out)


def mode_bytes(temp: float, argument: float, output: float, d_in: int, d_out: int) -> int:
    """One mode's estimate from XLA's memory analysis (NaN where the backend gives none)."""
    xla = sum(v for v in (temp, argument, output) if v == v)  # skip NaN
    return int(xla) + host_bytes(d_in, d_out)


def refusal(estimate: float, budget: int, what: str) -> str | None:
    """The one-line reason to refuse `estimate` bytes, or None when it fits the budget."""
    if estimate <= budget:
        return None
    return f"{what} needs ~{gib(estimate)}, over the memory budget of {gib(budget)} (--max-memory)"
