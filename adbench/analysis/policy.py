"""A run's decisions as a small versioned JSON a project can commit, and the lookup that uses it.

Pure: no JAX; the only I/O is :func:`load` (reading one JSON file the user names). A policy holds,
per family, task, batch and device kind, the recommended strategy per size *region*:

    measured sizes (along the family's axis, ascending)   10      100     1000    10000
    timed verdicts                                        tie     jacfwd  jacfwd  jacfwd
    regions                                   (0, 31.6): tie   [31.6, inf): jacfwd

The axis is what the family's sweep varies, as in :mod:`adbench.analysis.crossover`: ``d_out``
(d_in fixed), ``d_in`` (d_out fixed), ``d_in=d_out`` (square cases only: the axis is d_in, and
a non-square case is not covered) or ``d_in/d_out`` (both vary). A boundary sits at the
geometric midpoint of two neighbouring measured sizes whose recommendations differ; the first
region reaches down to 0 and the last up to infinity, so sizes beyond the measured range follow
the nearest measurement (``explain`` says when that is an extrapolation). Two verdicts that
disagree at one size (two hosts, or a grid with one ratio twice) give ``none`` there: the policy
is silent and the caller falls back to the prediction.

A policy is used only on the device kind and jax version it was measured with; the caller
(:mod:`adbench.auto`) warns and predicts otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

POLICY_FORMAT = "adbench-policy"
POLICY_VERSION = 1  # bump when an older reader would misread a newer file
# History: 1  first format (format, version, jax_version, device_kinds, source, entries).

AXIS_D_OUT, AXIS_D_IN, AXIS_RATIO = "d_out", "d_in", "d_in/d_out"
AXIS_SQUARE = "d_in=d_out"
AXES = (AXIS_D_OUT, AXIS_D_IN, AXIS_SQUARE, AXIS_RATIO)
TIE, NONE = "tie", "none"


class PolicyError(ValueError):
    """A policy file is missing, malformed or of another version; ``str`` is one line."""


@dataclass(frozen=True)
class Region:
    """Sizes in [previous region's ``upto``, ``upto``) on the axis (``upto`` None: no bound).

    ``recommended``: a strategy, ``tie`` (``tie_set`` names the strategies the timing could not
    separate) or ``none`` (no usable verdict). ``sizes``: the measured axis values inside.
    """

    upto: float | None
    recommended: str
    tie_set: tuple[str, ...]
    sizes: tuple[float, ...]


@dataclass(frozen=True)
class Entry:
    """One family x task x batch x device kind; ``fixed`` is the dimension held constant on a
    one-axis sweep (None on ``d_in/d_out``)."""

    family: str
    task: str
    batch: int
    device_kind: str
    axis: str
    fixed: int | None
    regions: tuple[Region, ...]

    def position(self, d_in: int, d_out: int) -> float | None:
        """Where (d_in, d_out) sits on the axis, or None when the fixed dimension differs."""
        if self.axis == AXIS_D_OUT:
            return float(d_out) if d_in == self.fixed else None
        if self.axis == AXIS_D_IN:
            return float(d_in) if d_out == self.fixed else None
        if self.axis == AXIS_SQUARE:
            return float(d_in) if d_in == d_out else None
        return d_in / d_out

    @property
    def measured(self) -> tuple[float, float]:
        sizes = [s for r in self.regions for s in r.sizes]
        return min(sizes), max(sizes)


@dataclass(frozen=True)
class Lookup:
    """What a policy says about one case: ``strategies`` is the recommended one, the tie set,
    or empty when the policy does not cover the case; ``why`` is one line either way."""

    strategies: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Policy:
    version: int
    jax_version: str
    device_kinds: tuple[str, ...]
    source: str
    entries: tuple[Entry, ...]

    def unusable(self, device_kind: str, jax_version: str) -> str | None:
        """Why this policy must not decide on ``device_kind`` under ``jax_version``, or None."""
        if jax_version != self.jax_version:
            return f"the policy was measured with jax {self.jax_version}, this is jax {jax_version}"
        if device_kind not in self.device_kinds:
            kinds = ", ".join(repr(k) for k in self.device_kinds) or "no device"
            return f"the policy was measured on {kinds}, this device is {device_kind!r}"
        return None

    def lookup(
        self, family: str, task: str, device_kind: str, d_in: int, d_out: int, batch: int = 1
    ) -> Lookup:
        """The recommendation for one case (see :class:`Lookup`)."""
        name = f"family {family!r}, task {task}, batch {batch} on {device_kind!r}"
        matches = [
            e
            for e in self.entries
            if (e.family, e.task, e.batch, e.device_kind) == (family, task, batch, device_kind)
        ]
        if not matches:
            return Lookup((), f"the policy has no entry for {name}")
        entry = matches[0]
        at = entry.position(d_in, d_out)
        if at is None:
            other = "d_in" if entry.axis == AXIS_D_OUT else "d_out"
            return Lookup((), f"the policy's {name} was measured at {other} = {entry.fixed} only")
        lower = 0.0
        for region in entry.regions:
            if region.upto is None or at < region.upto:
                break
            lower = region.upto
        low, high = entry.measured
        span = f"{entry.axis} {_num(at)} in region [{_num(lower)}, {_num(region.upto)})"
        outside = "" if low <= at <= high else f", outside the measured {_num(low)}..{_num(high)}"
        if region.recommended == NONE:
            return Lookup((), f"the policy has no verdict for {name} at {span}")
        chosen = region.tie_set if region.recommended == TIE else (region.recommended,)
        what = "tie of " + "/".join(chosen) if region.recommended == TIE else chosen[0]
        return Lookup(chosen, f"policy {self.source or '(unnamed)'}: {what} at {span}{outside}")

    def to_json(self) -> str:
        data = {
            "format": POLICY_FORMAT,
            "version": self.version,
            "jax_version": self.jax_version,
            "device_kinds": list(self.device_kinds),
            "source": self.source,
            "entries": [
                {
                    "family": e.family,
                    "task": e.task,
                    "batch": e.batch,
                    "device_kind": e.device_kind,
                    "axis": e.axis,
                    "fixed": e.fixed,
                    "regions": [
                        {
                            "upto": r.upto,
                            "recommended": r.recommended,
                            "tie_set": list(r.tie_set),
                            "sizes": [int(v) if float(v).is_integer() else v for v in r.sizes],
                        }
                        for r in e.regions
                    ],
                }
                for e in self.entries
            ],
        }
        return json.dumps(data, indent=2, allow_nan=False) + "\n"


def _num(v: float | None) -> str:
    return "inf" if v is None else f"{v:.4g}"


# --- building a policy from a run -----------------------------------------------------------


def regions_of(points: Sequence[tuple[float, str, tuple[str, ...]]]) -> tuple[Region, ...]:
    """Regions from (axis value, recommended, tie_set) points, any order.

    Points at one value that disagree become ``none``; neighbours with the same recommendation
    (and tie set) share a region; a boundary is the geometric midpoint sqrt(a * b) of the two
    measured values around a change.
    """
    by_value: dict[float, tuple[str, tuple[str, ...]]] = {}
    for value, rec, ties in points:
        if value in by_value and by_value[value] != (rec, ties):
            by_value[value] = (NONE, ())
        else:
            by_value.setdefault(value, (rec, ties))
    values = sorted(by_value)
    regions: list[Region] = []
    sizes: list[float] = []
    for i, value in enumerate(values):
        sizes.append(value)
        last = i == len(values) - 1
        if last or by_value[values[i + 1]] != by_value[value]:
            rec, ties = by_value[value]
            upto = None if last else math.sqrt(value * values[i + 1])
            regions.append(Region(upto, rec, ties, tuple(sizes)))
            sizes = []
    return tuple(regions)


def _axis(pairs: set[tuple[int, int]]) -> tuple[str, int | None]:
    """The axis of a family's (d_in, d_out) cases and the fixed dimension, if any."""
    d_ins = {a for a, _ in pairs}
    d_outs = {b for _, b in pairs}
    if all(a == b for a, b in pairs):
        return AXIS_SQUARE, None
    if len(d_ins) == 1:
        return AXIS_D_OUT, next(iter(d_ins))
    if len(d_outs) == 1:
        return AXIS_D_IN, next(iter(d_outs))
    return AXIS_RATIO, None


def _recommendation(row: Mapping[Any, Any]) -> tuple[str, tuple[str, ...]]:
    rec = str(row.get("recommended", "") or "")
    if rec in ("", "nan", "n/a", NONE):
        return NONE, ()
    if rec == TIE:
        ties = str(row.get("tie_set", "") or "")
        names = tuple(sorted(t for t in ties.split("|") if t and t != "nan"))
        return (TIE, names) if names else (NONE, ())
    return rec, ()


def from_tables(
    results: pd.DataFrame, verdicts: pd.DataFrame, meta: Mapping[str, Any], source: str = ""
) -> Policy:
    """A policy from a loaded results directory (schema.RESULT_COLUMNS / VERDICT_COLUMNS, meta).

    The device kind of each verdict comes from its results rows (same case, host and device).
    Raises PolicyError when no verdict can be placed.
    """
    keys = ["case_id", "host", "device"]
    kinds = results[[*keys, "device_kind"]].drop_duplicates(subset=keys)
    table = verdicts.merge(kinds, on=keys, how="left")
    if table.empty:
        raise PolicyError(f"{source or 'results'}: no verdict to make a policy from")
    table = table.assign(
        task=table["task"].fillna("jacobian").astype(str),
        batch=table["batch"].fillna(1).astype(int),
        device_kind=table["device_kind"].fillna("").astype(str),
    )
    entries = []
    for (family, task, batch, kind), group in table.groupby(
        ["family", "task", "batch", "device_kind"], sort=True
    ):
        axis, fixed = _axis(
            {(int(a), int(b)) for a, b in zip(group["d_in"], group["d_out"], strict=True)}
        )
        points = []
        for row in group.to_dict("records"):
            d_in, d_out = int(row["d_in"]), int(row["d_out"])
            value = {AXIS_D_OUT: d_out, AXIS_D_IN: d_in, AXIS_SQUARE: d_in}.get(axis, d_in / d_out)
            points.append((float(value), *_recommendation(row)))
        entries.append(
            Entry(
                str(family), str(task), int(str(batch)), str(kind), axis, fixed, regions_of(points)
            )
        )
    return Policy(
        version=POLICY_VERSION,
        jax_version=str(meta.get("jax_version", "")),
        device_kinds=tuple(sorted({e.device_kind for e in entries})),
        source=source,
        entries=tuple(entries),
    )


# --- reading a policy file --------------------------------------------------------------------


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise PolicyError(f"{where}: key {key!r} is missing")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise PolicyError(f"{where}.{key}: expected {_kind_name(kind)}, got {value!r:.40}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def parse(text: str, where: str = "policy") -> Policy:
    """A Policy from JSON text; PolicyError naming ``where`` and the key otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{where}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("format") != POLICY_FORMAT:
        raise PolicyError(f'{where}: not an adbench policy (no "format": "{POLICY_FORMAT}")')
    version = data.get("version")
    if version != POLICY_VERSION:
        raise PolicyError(
            f"{where}: policy version {version!r}; this adbench reads version {POLICY_VERSION} "
            "(make it again with `adbench policy RESULTS_DIR`)"
        )
    jax_version = _need(data, "jax_version", str, where)
    kinds = _need(data, "device_kinds", list, where)
    entries = []
    for i, raw in enumerate(_need(data, "entries", list, where)):
        at = f"{where}: entries[{i}]"
        if not isinstance(raw, dict):
            raise PolicyError(f"{at}: expected an object")
        axis = _need(raw, "axis", str, at)
        if axis not in AXES:
            raise PolicyError(f"{at}.axis: {axis!r} is not one of {', '.join(AXES)}")
        fixed = raw.get("fixed")
        if (axis in (AXIS_RATIO, AXIS_SQUARE)) != (fixed is None) or not (
            fixed is None or isinstance(fixed, int) and not isinstance(fixed, bool)
        ):
            raise PolicyError(f"{at}.fixed: an integer on axis d_in or d_out, else null")
        regions = []
        previous = 0.0
        raw_regions = _need(raw, "regions", list, at)
        for j, reg in enumerate(raw_regions):
            rat = f"{at}.regions[{j}]"
            if not isinstance(reg, dict):
                raise PolicyError(f"{rat}: expected an object")
            upto = reg.get("upto")
            last = j == len(raw_regions) - 1
            if last != (upto is None) or not (
                upto is None or isinstance(upto, int | float) and upto > previous
            ):
                raise PolicyError(f"{rat}.upto: increasing numbers, null on the last region only")
            previous = float(upto) if upto is not None else previous
            ties = _need(reg, "tie_set", list, rat)
            sizes = _need(reg, "sizes", list, rat)
            regions.append(
                Region(
                    None if upto is None else float(upto),
                    _need(reg, "recommended", str, rat),
                    tuple(str(t) for t in ties),
                    tuple(float(s) for s in sizes),
                )
            )
        if not regions:
            raise PolicyError(f"{at}.regions: empty")
        entries.append(
            Entry(
                family=_need(raw, "family", str, at),
                task=_need(raw, "task", str, at),
                batch=_need(raw, "batch", int, at),
                device_kind=_need(raw, "device_kind", str, at),
                axis=axis,
                fixed=fixed,
                regions=tuple(regions),
            )
        )
    return Policy(
        version=POLICY_VERSION,
        jax_version=jax_version,
        device_kinds=tuple(str(k) for k in kinds),
        source=str(data.get("source", "")),
        entries=tuple(entries),
    )


def load(path: str | Path) -> Policy:
    """Read a policy file; PolicyError (a ValueError) if missing, unreadable or malformed."""
    p = Path(path)
    if not p.is_file():
        raise PolicyError(f"{p}: no such policy file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{p}: cannot be read ({exc})") from None
    policy = parse(text, str(p))
    return policy if policy.source else Policy(**{**policy.__dict__, "source": str(p)})
