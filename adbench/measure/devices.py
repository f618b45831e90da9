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


# How the CPU client runs a computation: "inline", in the calling thread, or "async", handed to
# XLA's worker threads (JAX's default). XLA runs a computation under 1000 flops inline whatever
# the setting, and hands every other one over; on this 2-core machine that hand-over costs a few
# microseconds whose size depends on where the scheduler put the two threads, so a 10-20 us
# strategy's time moved by x2.5 from process to process and a near-tie's verdict with it (power
# 1 -> 100: jacfwd/jacrev 0.17-0.85 over five default runs; inline, 0.72-0.76; docs/evidence.md,
# "Issue 17, round 5"). Inside a user's jitted program a derivative is no hand-over of its own,
# so inline is also the nearer measure of what a strategy costs there.
CPU_DISPATCH = ("inline", "async")


def use_cpu_dispatch(mode: str) -> str:
    """Ask JAX's CPU client for `mode` ("inline" or "async"); returns the mode in effect.

    The setting is read once, when JAX creates its CPU client: before that it is set here;
    after (a notebook that has already computed something), it cannot change, and what is
    returned is the mode that client was created with. Only the CPU client: accelerators
    dispatch as they always do.
    """
    if mode not in CPU_DISPATCH:
        raise ValueError(f"cpu_dispatch must be one of {', '.join(CPU_DISPATCH)}, got {mode!r}")
    import jax
    from jax._src import xla_bridge  # no public way to ask whether the clients exist yet

    started = getattr(xla_bridge, "backends_are_initialized", lambda: True)()
    if not started:
        jax.config.update("jax_cpu_enable_async_dispatch", mode == "async")
    return cpu_dispatch_in_effect()


def cpu_dispatch_in_effect() -> str:
    """The CPU client's dispatch, "inline" or "async", as JAX's setting reads now (the one the
    client was created with unless someone changed the setting after; adbench does not)."""
    import jax

    return "async" if jax.config.read("jax_cpu_enable_async_dispatch") else "inline"
