"""A run's decisions as a small versioned JSON a project can commit, and the lookup that uses it.

Pure: no JAX; the only I/O is :func:`load` (reading one JSON file the user names). A policy holds,
per family, task, batch and device kind, the recommended strategy per size *region*:

    measured sizes (along the family's axis, ascending)   10      100     1000    10000
    timed verdicts                                        tie     jacfwd  jacfwd  jacfwd
    regions                                   (0, 31.6): tie   [31.6, inf): jacfwd

The axis is what the family's sweep varies, decided by the one axis rule,
:func:`adbench.analysis.axis.axis_of` (the crossover's): ``d_out`` (d_in fixed), ``d_in`` (d_out
fixed), ``d_in=d_out`` (square cases only: the axis is d_in, and a non-square case is not
covered) or ``d_in/d_out`` (anything else, a single non-square case included). A boundary sits at
the geometric midpoint of two neighbouring measured sizes whose recommendations differ; a region
is half-open, [lower, upto), so a size exactly at a boundary belongs to the region *above* it
(sizes 100 -> jacrev and 10000 -> jacfwd put 1000 = sqrt(100 * 10000) on jacfwd's side). The
first region reaches down to 0 and the last up to infinity, so sizes beyond the measured range
follow the nearest measurement (``explain`` says when that is an extrapolation). Two verdicts that
disagree at one size (two hosts, or a grid with one ratio twice) give ``none`` there: the policy
is silent and the caller falls back to the prediction. A size whose verdict is ``undecided`` (the
sequential rule stopped before a decision) or names no strategy of the task is left out: a policy
never encodes an undecided size, its neighbours' regions meet across it.

A policy is used only on the device kind it was measured on, and with the jax release it was
measured with up to the patch number: 0.10.2 -> 0.10.3 is used, with a note in ``explain`` (patch
releases fix bugs, they do not re-plan programs as a rule); 0.10.x -> 0.11.0 is not (the caller,
:mod:`adbench.auto`, warns and predicts). A jax version that is not of the form X.Y[.Z...] must
match exactly.

Reading a file checks every value (:func:`parse`): a wrong type, an empty or non-numeric
``sizes``, a size outside its region, an unknown task or strategy name, a boolean where a number
belongs, two entries for one family x task x batch x device kind: a :class:`PolicyError` naming
the key.

Longer than ~400 lines for now: the file's format is written three times here (built from
verdicts, serialised, parsed back with its checks) and a field added to one must reach the
others. The parsing half (``parse`` and its ``_need`` / ``_regions`` / ``_strategy`` /
``_number`` helpers, ~150 lines) is the piece that would move out first, into its own module.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adbench.analysis import axis as ax
from adbench.analysis import decision
from adbench.store import schema

if TYPE_CHECKING:
    import pandas as pd

POLICY_FORMAT = "adbench-policy"
POLICY_VERSION = 1  # bump when an older reader would misread a newer file
# History: 1  first format (format, version, jax_version, device_kinds, source, entries).

AXIS_D_OUT, AXIS_D_IN, AXIS_RATIO, AXIS_SQUARE = (
    ax.AXIS_D_OUT,
    ax.AXIS_D_IN,
    ax.AXIS_RATIO,
    ax.AXIS_SQUARE,
)
AXES = (AXIS_D_OUT, AXIS_D_IN, AXIS_SQUARE, AXIS_RATIO)
TIE, NONE = decision.TIE, decision.NONE
UNDECIDED = decision.UNDECIDED  # a verdict the sequential rule left open: never in a policy


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
        """Where (d_in, d_out) sits on the axis, or None when the entry does not cover it (the
        fixed dimension differs, or a non-square case on a square family)."""
        if self.axis == AXIS_D_OUT and d_in != self.fixed:
            return None
        if self.axis == AXIS_D_IN and d_out != self.fixed:
            return None
        if self.axis == AXIS_SQUARE and d_in != d_out:
            return None
        return float(ax.position(self.axis, d_in, d_out))

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
        """Why this policy must not decide on ``device_kind`` under ``jax_version``, or None.

        Another patch release of the same jax X.Y is usable (see :meth:`version_note`); another
        minor or major release is not."""
        if not same_release(self.jax_version, jax_version):
            return f"the policy was measured with jax {self.jax_version}, this is jax {jax_version}"
        if device_kind not in self.device_kinds:
            kinds = ", ".join(repr(k) for k in self.device_kinds) or "no device"
            return f"the policy was measured on {kinds}, this device is {device_kind!r}"
        return None

    def version_note(self, jax_version: str) -> str | None:
        """A note when the policy is used across patch releases (0.10.2 -> 0.10.3), else None."""
        if jax_version == self.jax_version or not same_release(self.jax_version, jax_version):
            return None
        return (
            f"the policy was measured with jax {self.jax_version}, this is jax {jax_version}: "
            "used across patch releases (remeasure if the release notes touch autodiff or XLA)"
        )

    @property
    def families(self) -> tuple[str, ...]:
        """The family names the policy has entries for, sorted."""
        return tuple(sorted({e.family for e in self.entries}))

    def check_family(self, family: str) -> None:
        """PolicyError (with a did-you-mean) unless the policy has an entry for ``family``."""
        if family in self.families:
            return
        close = difflib.get_close_matches(family, self.families, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        have = ", ".join(self.families) or "none"
        where = self.source or "policy"
        raise PolicyError(f"{where}: no family {family!r} in the policy{hint} (families: {have})")

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
        src = self.source or "(unnamed)"
        return Lookup(chosen, f"policy {src}: {what} for {name} at {span}{outside}")

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


def same_release(a: str, b: str) -> bool:
    """Whether jax versions ``a`` and ``b`` share major and minor (``0.10.2``, ``0.10.3.dev1``);
    versions not of the form X.Y... must be equal."""
    ma, mb = _RELEASE.match(a), _RELEASE.match(b)
    if ma is None or mb is None:
        return a == b
    return ma.groups() == mb.groups()


_RELEASE = re.compile(r"^(\d+)\.(\d+)(?:\.|$)")


def _recommendation(row: Mapping[Any, Any], task: str) -> tuple[str, tuple[str, ...]] | None:
    """(recommended, tie_set) of a verdict row; None when the size must be left out: an
    ``undecided`` verdict, or a recommendation that names no strategy of the task."""
    rec = str(row.get("recommended", "") or "")
    known = schema.STRATEGIES.get(task, ())
    if str(row.get("outcome", "") or "") == UNDECIDED:
        return None
    if rec in ("", "nan", "n/a", NONE):
        return NONE, ()
    if rec == TIE:
        ties = str(row.get("tie_set", "") or "")
        names = tuple(sorted(t for t in ties.split("|") if t and t != "nan"))
        if any(t not in known for t in names):
            return None
        return (TIE, names) if names else (NONE, ())
    return (rec, ()) if rec in known else None


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
        points = []
        for row in group.to_dict("records"):
            rec = _recommendation(row, str(task))
            if rec is not None:
                points.append((int(row["d_in"]), int(row["d_out"]), *rec))
        if not points:
            continue
        axis, fixed_f = ax.axis_of([p[0] for p in points], [p[1] for p in points])
        fixed = None if math.isnan(fixed_f) else int(fixed_f)
        placed = [(float(ax.position(axis, a, b)), rec, ties) for a, b, rec, ties in points]
        entries.append(
            Entry(
                str(family), str(task), int(str(batch)), str(kind), axis, fixed, regions_of(placed)
            )
        )
    if not entries:
        raise PolicyError(f"{source or 'results'}: no decided verdict to make a policy from")
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


def _number(value: Any) -> bool:
    """A JSON number (not a boolean), finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _strategy(name: Any, task: str, key: str) -> str:
    """``name`` if it is a strategy of ``task``; an unknown task is checked by the caller."""
    if task not in schema.STRATEGIES:
        return str(name)
    known = schema.STRATEGIES[task]
    if not isinstance(name, str) or name not in known:
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PolicyError(
            f"{key}: {name!r:.40} is not a {task} strategy{hint}; one of {', '.join(known)}"
        )
    return name


def _regions(raw_regions: list[Any], task: str, at: str) -> tuple[Region, ...]:
    """The regions of one entry, every value checked (see :func:`parse`)."""
    regions = []
    previous = 0.0
    for j, reg in enumerate(raw_regions):
        rat = f"{at}.regions[{j}]"
        if not isinstance(reg, dict):
            raise PolicyError(f"{rat}: expected an object")
        upto = reg.get("upto")
        last = j == len(raw_regions) - 1
        if last != (upto is None) or not (upto is None or _number(upto) and upto > previous):
            raise PolicyError(
                f"{rat}.upto: increasing positive numbers, null on the last region only; "
                f"got {upto!r:.40}"
            )
        rec = _need(reg, "recommended", str, rat)
        ties = _need(reg, "tie_set", list, rat)
        if rec == TIE:
            if len(ties) < 2:
                raise PolicyError(f"{rat}.tie_set: a tie names two or more strategies")
            ties = [_strategy(t, task, f"{rat}.tie_set") for t in ties]
        elif ties:
            raise PolicyError(f"{rat}.tie_set: only a tie has a tie_set")
        elif rec != NONE:
            _strategy(rec, task, f"{rat}.recommended")
        sizes = _need(reg, "sizes", list, rat)
        if not sizes or not all(_number(v) and v > 0 for v in sizes):
            raise PolicyError(f"{rat}.sizes: positive numbers, at least one; got {sizes!r:.40}")
        inside = all(previous <= v and (upto is None or v < upto) for v in sizes)
        if not inside:
            raise PolicyError(f"{rat}.sizes: {sizes!r:.40} lie outside the region's bounds")
        previous = float(upto) if upto is not None else previous
        regions.append(
            Region(
                None if upto is None else float(upto),
                rec,
                tuple(str(t) for t in ties),
                tuple(float(v) for v in sizes),
            )
        )
    if not regions:
        raise PolicyError(f"{at}.regions: empty")
    return tuple(regions)


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
    if not all(isinstance(k, str) for k in kinds):
        raise PolicyError(f"{where}.device_kinds: a list of names, got {kinds!r:.40}")
    entries = []
    seen: dict[tuple[str, str, int, str], int] = {}
    for i, raw in enumerate(_need(data, "entries", list, where)):
        at = f"{where}: entries[{i}]"
        if not isinstance(raw, dict):
            raise PolicyError(f"{at}: expected an object")
        axis = _need(raw, "axis", str, at)
        if axis not in AXES:
            raise PolicyError(f"{at}.axis: {axis!r} is not one of {', '.join(AXES)}")
        fixed = raw.get("fixed")
        if (axis in (AXIS_RATIO, AXIS_SQUARE)) != (fixed is None) or not (
            fixed is None or isinstance(fixed, int) and not isinstance(fixed, bool) and fixed > 0
        ):
            raise PolicyError(f"{at}.fixed: a positive integer on axis d_in or d_out, else null")
        raw_task = raw.get("task")
        regions = _regions(_need(raw, "regions", list, at), str(raw_task), at)
        task = _need(raw, "task", str, at)
        if task not in schema.TASKS:
            raise PolicyError(f"{at}.task: {task!r} is not one of {', '.join(schema.TASKS)}")
        batch = _need(raw, "batch", int, at)
        if batch < 1:
            raise PolicyError(f"{at}.batch: a positive integer, got {batch!r}")
        entry = Entry(
            family=_need(raw, "family", str, at),
            task=task,
            batch=batch,
            device_kind=_need(raw, "device_kind", str, at),
            axis=axis,
            fixed=fixed,
            regions=regions,
        )
        ident = (entry.family, entry.task, entry.batch, entry.device_kind)
        if ident in seen:
            raise PolicyError(
                f"{at}: a second entry for family {entry.family!r}, task {task}, batch {batch} "
                f"on {entry.device_kind!r} (first: entries[{seen[ident]}])"
            )
        seen[ident] = i
        entries.append(entry)
    return Policy(
        version=POLICY_VERSION,
        jax_version=jax_version,
        device_kinds=tuple(kinds),
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
