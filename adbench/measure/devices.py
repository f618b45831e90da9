"""Which JAX devices a run measures on (`--device`). A module of its own, light to import: JAX
loads only when it is called, and `adbench predict` picks devices without the measuring code
(whose import pulls in scipy, seconds of the few that prediction takes)."""

from __future__ import annotations

from typing import Any


def select_devices(which: str | None) -> list[Any]:
    """JAX devices for --device: None -> the default backend's first device; 'cpu', 'gpu',
    'tpu' -> that platform's devices; 'all' -> every device of every platform.

    Raises ValueError naming what is available when the platform is absent.
    """
    import jax

    if which is None:
        return [jax.devices()[0]]
    if which == "all":
        devices = []
        for platform in ("cpu", "gpu", "tpu"):
            try:
                devices.extend(jax.devices(platform))
            except RuntimeError:
                continue
        return devices
    try:
        return list(jax.devices(which))
    except RuntimeError:
        have = sorted({d.platform for d in jax.devices()})
        raise ValueError(
            f"--device {which}: no such device here; available: {', '.join(have)}"
        ) from None
