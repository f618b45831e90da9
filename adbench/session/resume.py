"""The one rule of `--resume`: what a run may add to a results directory it did not start.

A resumed run appends rows to the stored ones, and a reader then judges them together, so
everything that makes two measurements comparable must be what the stored run used:

* the run file's settings (dtype, budgets, stopping rule, margins, ...) and each stored family's
  definition; only the run's name and which families and sizes are listed may change (new ones
  are measured, stored ones kept);
* what was measured: a timed directory takes no instruction counts, and the other way round;
* the shard: resuming shard 2/3 into shard 1/3's directory would mix two shards' cases, and the
  merge would see a case twice.

:func:`refusal` is the whole rule (the command line, ``adbench.run`` and the sweep call it);
the three parts are exposed for their own tests. Directories from before ``--measure`` were
timed; from before ``--shard``, unsharded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adbench.config.model import RunConfig
from adbench.session.shard import Shard
from adbench.store import schema

# What may change between a run and its --resume (see the module docstring).
_RESUME_FREE_KEYS = ("name", "families")
_FAMILY_FREE_KEYS = ("d_in", "d_out", "points", "sizes")


def config_conflict(previous: Mapping[str, Any], current: RunConfig) -> str | None:
    """Why results made with config `previous` (a RunConfig dumped to JSON, as stored in
    meta.json) cannot be extended with `current`, or None if they can."""
    now = current.model_dump(mode="json")
    for key, value in now.items():
        if key not in _RESUME_FREE_KEYS and previous.get(key, value) != value:
            return f"{key} was {previous.get(key)!r}, the run file now says {value!r}"
    before = {f.get("name"): f for f in previous.get("families", []) if isinstance(f, dict)}
    for fam in now["families"]:
        old = before.get(fam["name"])
        if old is None:
            continue
        for key, value in fam.items():
            if key not in _FAMILY_FREE_KEYS and old.get(key, value) != value:
                return (
                    f"family {fam['name']!r}: {key} was {old.get(key)!r}, "
                    f"the run file now says {value!r}"
                )
    return None


def stored_measure(meta: Mapping[str, Any]) -> str:
    """What a stored run measured; directories from before --measure were timed."""
    return str(meta.get(schema.META_MEASURE) or "time")


def measure_conflict(meta: Mapping[str, Any], measure: str) -> str | None:
    """Why a run measuring ``measure`` may not resume into a directory with this meta.json."""
    stored = stored_measure(meta)
    if stored == measure:
        return None
    return f"its results were measured with --measure {stored}, not {measure}"


def shard_conflict(meta: Mapping[str, Any], shard: Shard | None) -> str | None:
    """Why a results directory cannot be resumed with `shard`, or None."""
    before = meta.get("shard")
    was = f"{before.get('index')}/{before.get('count')}" if isinstance(before, dict) else None
    now = str(shard) if shard else None
    if was == now:
        return None
    return (
        f"it holds {'shard ' + was if was else 'an unsharded run'}, and this run is "
        f"{'shard ' + now if now else 'unsharded'}"
    )


def refusal(
    out_dir: Path,
    meta: Mapping[str, Any],
    *,
    config: RunConfig,
    measure: str = "time",
    shard: Shard | None = None,
) -> str | None:
    """The one-line refusal of resuming into `out_dir` (whose meta.json is `meta`), or None.

    The shard is checked first: its advice differs (use that shard), and a wrong shard's config
    is usually the same."""
    why = shard_conflict(meta, shard)
    if why:
        return f"{out_dir}: cannot resume: {why}; use that --shard, or another --out"
    why = measure_conflict(meta, measure)
    if why:
        return f"{out_dir}: cannot resume: {why}; use --force, or another --out"
    previous = meta.get("config")
    why = config_conflict(previous, config) if isinstance(previous, dict) else None
    if why:
        return f"{out_dir}: cannot resume: {why}; use --force to start over, or another --out"
    return None
