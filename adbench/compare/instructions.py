"""The instructions tier of `adbench compare`: did a case x strategy execute more instructions per
call than in the baseline? Pure: rows and meta in, findings out.

The counts come from ``adbench run --measure instructions`` (adbench.count.engine): instructions
per call under valgrind's callgrind, the median over >= 3 repetitions, with their spread. They
see what XLA's flops miss (a loop body is counted once by XLA, executed N times here: a
``lax.scan`` with 1.5x the steps counts +45% with identical flops, bytes and temp memory) and,
unlike wall time, hardly move between processes: <= 0.85% for the same code
(benchmarks/instructions_check.py). So a plain threshold decides, with no drift correction or
test: a regression when the count grows by more than the threshold (default
``instructions:5%``) AND by more than either side's own spread over its repetitions (a count
whose repetitions disagree by more than the change cannot vouch for it: "inconclusive").

Counts are compared only between runs whose ``instructions_fingerprint`` (meta.json) agree on
:data:`adbench.store.schema.INSTRUCTIONS_COMPARABLE`: valgrind, the CPU valgrind presents (what XLA
compiles for under it), Python, jax, jaxlib, glibc and XLA_FLAGS. Otherwise the tier says "not
comparable" once, naming what differs, and ``--strict`` fails the comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adbench import fmt
from adbench.compare.model import (
    ROW_IDENTITY,
    Finding,
    Key,
    Kind,
    Settings,
    Tier,
    cell_number,
    cell_text,
)
from adbench.store import schema

COMPARABLE_KEYS = schema.INSTRUCTIONS_COMPARABLE


@dataclass(frozen=True)
class Judged:
    """The tier's findings; ``checked``: case x strategies compared; ``fingerprint``: key ->
    (baseline, current); ``comparable``: None when the tier did not apply."""

    findings: tuple[Finding, ...] = ()
    checked: int = 0
    fingerprint: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    comparable: bool | None = None


def counted(rows: Mapping[Key, Mapping[str, Any]]) -> bool:
    """Whether any row holds an instruction count (the run was made with --measure instructions)."""
    return any(math.isfinite(cell_number(r.get("instructions"))) for r in rows.values())


def fingerprint(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that must agree, from meta.json; None for each when the run has none."""
    fp = meta.get(schema.META_INSTRUCTIONS_FINGERPRINT)
    fp = fp if isinstance(fp, Mapping) else {}
    return {k: fp.get(k) for k in COMPARABLE_KEYS}


def judge(
    common: Sequence[Key],
    b_rows: Mapping[Key, Mapping[str, Any]],
    c_rows: Mapping[Key, Mapping[str, Any]],
    b_meta: Mapping[str, Any],
    c_meta: Mapping[str, Any],
    s: Settings,
    *,
    required: bool,
) -> Judged:
    """Instruction findings for the ``common`` keys. The tier applies when both runs hold counts;
    when ``required`` (``--tier instructions``) a side without counts is "not comparable"."""
    has_b, has_c = counted(b_rows), counted(c_rows)
    if not (has_b and has_c):
        if not required and not (has_b or has_c):
            return Judged()
        sides = [name for name, has in (("baseline", has_b), ("current", has_c)) if not has]
        kind = Kind.NOT_COMPARABLE if required else Kind.NOTE
        which = "neither run holds" if len(sides) > 1 else f"the {sides[0]} run holds no"
        msg = f"{which} instruction counts: record them with adbench run --measure instructions"
        return Judged((Finding(kind, Tier.INSTRUCTIONS, msg),), comparable=False)
    fb, fc = fingerprint(b_meta), fingerprint(c_meta)
    pairs = {k: (fb[k], fc[k]) for k in COMPARABLE_KEYS}
    if not all(fb[k] is not None and fb[k] == fc[k] for k in COMPARABLE_KEYS):
        diff = "; ".join(f"{k} {fb[k]} -> {fc[k]}" for k in COMPARABLE_KEYS if fb[k] != fc[k])
        msg = (
            f"environment differs ({diff or 'fingerprint missing'}): instruction counts are only "
            "comparable for the same valgrind, CPU under valgrind, Python, jax, jaxlib, glibc and "
            "XLA_FLAGS; record a new baseline here"
        )
        return Judged((Finding(Kind.NOT_COMPARABLE, Tier.INSTRUCTIONS, msg),), 0, pairs, False)
    out, n = [], 0
    t = s.threshold("instructions")
    for key in common:
        b, c = b_rows[key], c_rows[key]
        if not (cell_text(b.get("status")) == cell_text(c.get("status")) == schema.STATUS_OK):
            continue  # the status tier has said what happened
        vb, vc = cell_number(b.get("instructions")), cell_number(c.get("instructions"))
        differs = [k for k in ROW_IDENTITY if cell_text(b.get(k)) != cell_text(c.get(k))]
        if differs or math.isnan(vb) != math.isnan(vc):
            why = (
                ", ".join(f"{k} {cell_text(b.get(k))} -> {cell_text(c.get(k))}" for k in differs)
                or f"counted in the {'current' if math.isnan(vb) else 'baseline'} run only"
            )
            out.append(Finding(Kind.NOT_COMPARABLE, Tier.INSTRUCTIONS, why, *key, "instructions"))
            continue
        if math.isnan(vb):
            continue
        n += 1
        ratio = vc / vb if vb else (1.0 if vc == 0 else math.inf)
        spreads = (
            cell_number(b.get("instructions_spread")),
            cell_number(c.get("instructions_spread")),
        )
        spread = max((x for x in spreads if math.isfinite(x)), default=0.0)
        if t.exceeded(vc, vb):
            if ratio - 1.0 > spread:
                kind, msg = Kind.REGRESSION, f"instructions up x{ratio:.4g} (limit {t})"
            else:
                kind = Kind.INCONCLUSIVE
                msg = (
                    f"instructions up x{ratio:.4g}, within the repetitions' own spread "
                    f"({fmt.num(spread * 100, 2)}%): rerun to know"
                )
        elif t.improved(vc, vb):
            kind, msg = Kind.IMPROVEMENT, f"instructions down x{ratio:.4g}"
        else:
            continue
        out.append(
            Finding(
                kind,
                Tier.INSTRUCTIONS,
                msg,
                *key,
                "instructions",
                baseline=vb,
                current=vc,
                ratio=ratio,
            )
        )
    return Judged(tuple(out), n, pairs, True)
