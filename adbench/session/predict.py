"""`adbench predict` without the command line: every case's prediction from XLA's costs, and the
record stored beside them (adbench.store.predictions). Compile only, run nothing."""

from __future__ import annotations

import datetime as dt
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adbench.config.cases import Case
from adbench.config.model import LoadedConfig


@dataclass(frozen=True)
class Predicted:
    """One row per case x device (adbench.measure.costs' Prediction.row()), the strategies any
    case is predicted for (first-seen order: the table's columns), and predictions.json's meta."""

    rows: tuple[dict[str, object], ...]
    names: tuple[str, ...]
    meta: dict[str, Any]


def predict_all(loaded: LoadedConfig, cases: Sequence[Case], device: str | None) -> Predicted:
    """Predict every case on every device of `device` (as --device; ValueError naming what is
    available when absent)."""
    import jax

    from adbench.analysis.predict import machine_for
    from adbench.measure import costs

    started = dt.datetime.now(dt.timezone.utc).isoformat()
    devices = costs.devices_for(device)
    cfg = loaded.config
    names = tuple(dict.fromkeys(n for case in cases for n in case.strategies))
    host = socket.gethostname() or "localhost"  # as adbench run records it
    start = time.perf_counter()
    rows = []
    for case in cases:
        for dev in devices:
            with jax.default_device(dev):
                p = costs.predict_case(
                    case,
                    dev,
                    task=case.task,
                    strategies=case.strategies,
                    dtype=cfg.dtype,
                    margin=cfg.tie_margin,
                    host=host,
                )
            rows.append(p.row())
    meta = {
        "host": host,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [
            {"id": f"{d.platform}:{d.id}", "kind": str(d.device_kind), "platform": d.platform}
            for d in devices
        ],
        "config_path": str(loaded.path),
        "config_hash": loaded.text_hash,
        "config": cfg.model_dump(mode="json"),
        "cost_model": {d.platform: vars(machine_for(d.platform)) for d in devices},
        "started_at": started,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "wall_s": time.perf_counter() - start,
        "command": " ".join(sys.argv),
    }
    return Predicted(tuple(rows), names, meta)
