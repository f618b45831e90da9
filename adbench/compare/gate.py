"""Baseline run vs current run -> findings. Loaded results in, values out (``load_runs`` aside).

Every finding is collected first and reported together (improvements too); the comparison fails
when any finding is a regression or a verdict flip (with ``strict``, also when a tier is not
comparable). Five questions, five tiers, each per case x strategy x device:

deterministic  flops, bytes accessed and temp memory from XLA's cost and memory analysis. They are
               identical from process to process, so an increase beyond a small tolerance (default
               1%) is a regression even on a noisy machine. They are compared only when the
               environment fingerprint (jax, jaxlib, backend) matches; otherwise the tier says "not
               comparable" instead of guessing.
instructions   instructions per call counted under valgrind (runs of ``adbench run --measure
               instructions``): a regression when they grow beyond a threshold (default 5%, x6
               the run-to-run variation) and beyond their repetitions' spread; compared only
               within one valgrind, CPU under valgrind, Python, jax, jaxlib, glibc and XLA_FLAGS
               (see :mod:`adbench.compare.instructions`). It sees what XLA's counts miss (a loop
               with more steps) without timing's noise.
timing         current / baseline median, corrected for the drift of the whole run, against a
               noise floor measured across cases, with a significance test; see
               :mod:`adbench.compare.timing` for the method and why. Several runs per side
               (repeated processes) vote out a case that jumped in one process.
verdict        a *flip*: the recommended strategy changed from one decisive answer to another
               (jacfwd -> jacrev, jacrev -> sparse). Changes to or from a tie are notes, not
               flips: a ratio near the tie margin crosses it on noise alone; so are verdicts that
               rest on fewer than two strategies that ran (the status tier says why). An
               ``undecided`` verdict (too few paired rounds, adbench.analysis.decision) is never
               a flip nor a change: a note says it was not judged.
status/cases   a strategy that measured cleanly now fails (regression), or the reverse
               (improvement); cases new in the current run or missing from it.

Rows are matched by case, device and strategy; the host joins the device only when a side holds
rows from several machines, so a baseline recorded on another machine still compares.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from adbench import fmt
from adbench.analysis import decision
from adbench.analysis.results import load_results
from adbench.compare import instructions as compare_instructions
from adbench.compare import timing as compare_timing
from adbench.compare.model import (
    DETERMINISTIC_METRICS,
    ROW_IDENTITY,
    Comparison,
    Drift,
    Finding,
    Key,
    Kind,
    Scope,
    Settings,
    Tier,
    cell_number,
    cell_text,
)
from adbench.store import schema
from adbench.store.results import Results, ResultsError

FINGERPRINT_KEYS = ("jax_version", "jaxlib_version", "backend")


def _many_hosts(*dfs: pd.DataFrame) -> bool:
    return any("host" in df and df["host"].fillna("").nunique() > 1 for df in dfs)


def _where(r: Mapping[str, Any], many_hosts: bool) -> str:
    host = cell_text(r.get("host"))
    return f"{host}/{r['device']}" if many_hosts and host else str(r["device"])


def _rows(df: pd.DataFrame, many_hosts: bool) -> dict[Key, dict[str, Any]]:
    """results.csv rows by key; a key stored twice (a resumed run) keeps its last row."""
    records: list[dict[str, Any]] = df.to_dict("records")  # type: ignore[assignment]
    return {(str(r["case_id"]), _where(r, many_hosts), str(r["strategy"])): r for r in records}


def fingerprint(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {k: meta.get(k) for k in FINGERPRINT_KEYS}


def load_runs(path: str | os.PathLike[str]) -> list[Results]:
    """One results directory, or a directory of them (repeated runs of one config), loaded.

    The only I/O here: a side of a comparison may be several processes' runs, e.g.
    ``results/base/1``, ``results/base/2``, ``results/base/3`` given as ``results/base``.
    """
    p = Path(path)
    if p.is_dir() and not (p / schema.META_FILE).exists():
        subs = sorted(d for d in p.iterdir() if d.is_dir() and (d / schema.META_FILE).is_file())
        if subs:
            runs = [load_results(d) for d in subs]
            if len({r.meta.get("config_hash") for r in runs}) > 1:
                raise ResultsError(
                    f"{p}: its runs come from different run files; compare like with like"
                )
            return runs
    return [load_results(p)]


def _label(runs: Sequence[Results]) -> str:
    return str(runs[0].path) if len(runs) == 1 else f"{runs[0].path.parent} ({len(runs)} runs)"


def compare(
    baseline: Results | Sequence[Results],
    current: Results | Sequence[Results],
    settings: Settings | None = None,
) -> Comparison:
    """Judge ``current`` against ``baseline``: every finding, sorted worst first.

    Either side may be several runs of the same config (repeated processes): their timings are
    pooled; statuses, XLA numbers and verdicts are read from the first run of each side.
    """
    s = settings or Settings()
    baselines = [baseline] if isinstance(baseline, Results) else list(baseline)
    currents = [current] if isinstance(current, Results) else list(current)
    if not baselines or not currents:
        raise ValueError("compare needs at least one run on each side")
    baseline, current = baselines[0], currents[0]
    many = _many_hosts(baseline.results, current.results)
    b_rows, c_rows = _rows(baseline.results, many), _rows(current.results, many)
    common = sorted(b_rows.keys() & c_rows.keys())
    fb, fc = fingerprint(baseline.meta), fingerprint(current.meta)
    comparable = all(fb[k] is not None and fb[k] == fc[k] for k in FINGERPRINT_KEYS)

    findings: list[Finding] = []
    findings += _cases(b_rows, c_rows)
    findings += _status(common, b_rows, c_rows, s)
    checked = {"cases": len(common)}
    if not common:  # nothing was compared: never an "OK"; --strict fails it
        findings.append(
            Finding(
                Kind.NOT_COMPARABLE,
                Tier.CASES,
                "no case x strategy x device is in both runs: nothing was compared",
            )
        )
    if s.scope is Scope.INSTRUCTIONS:
        pass  # instruction counts alone, with statuses and cases
    elif comparable:
        det, n = _deterministic(common, b_rows, c_rows, s)
        findings += det
        checked["deterministic"] = n
    else:
        diff = ", ".join(f"{k} {fb[k]} -> {fc[k]}" for k in FINGERPRINT_KEYS if fb[k] != fc[k])
        findings.append(
            Finding(
                Kind.NOT_COMPARABLE,
                Tier.DETERMINISTIC,
                f"environment differs ({diff or 'fingerprint missing'}): XLA's numbers are only "
                "comparable for the same jax, jaxlib and backend; record a new baseline here",
            )
        )
    counts = compare_instructions.judge(
        common,
        b_rows,
        c_rows,
        baseline.meta,
        current.meta,
        s,
        required=s.scope is Scope.INSTRUCTIONS,
    )
    findings += counts.findings
    if counts.comparable:
        checked["instructions"] = counts.checked
    drifts: tuple[Drift, ...] = ()
    untimed: tuple[str, ...] = ()
    untimed_sides = [
        name
        for name, meta in (("baseline", baseline.meta), ("current", current.meta))
        if meta.get(schema.META_MEASURE) == "instructions"
    ]
    if s.scope is Scope.ALL and untimed_sides:
        findings.append(
            Finding(
                Kind.NOTE,
                Tier.TIMING,
                f"timing and verdicts not judged: the {' and '.join(untimed_sides)} "
                f"run{'s' if len(untimed_sides) > 1 else ''} counted instructions instead of "
                "timing",
            )
        )
    elif s.scope is Scope.ALL:
        cpu_b, cpu_c = baseline.meta.get("cpu_model"), current.meta.get("cpu_model")
        if cpu_b != cpu_c:
            findings.append(
                Finding(
                    Kind.NOTE,
                    Tier.TIMING,
                    f"measured on different CPUs ({cpu_b} -> {cpu_c}): timing compares the "
                    "machines as well as the code",
                )
            )
        way_b, way_c = schema.cpu_dispatch(baseline.meta), schema.cpu_dispatch(current.meta)
        if way_b != way_c and "cpu" in {baseline.meta.get("backend"), current.meta.get("backend")}:
            findings.append(
                Finding(
                    Kind.NOTE,
                    Tier.TIMING,
                    f"CPU calls dispatched differently ({way_b} -> {way_c}, meta.json "
                    "cpu_dispatch): a 10-20 us strategy's time moves with it",
                )
            )
        timing, drifts, untimed = compare_timing.judge(
            common, b_rows, c_rows, baselines, currents, s, many
        )
        findings += timing
        checked["timing"] = sum(d.n_timed for d in drifts)
        flips, n = _verdicts(baseline.verdicts, current.verdicts, many)
        findings += flips
        checked["verdict"] = n
    return Comparison(
        baseline=_label(baselines),
        current=_label(currents),
        settings=s,
        findings=tuple(sorted(findings, key=Finding.sort_key)),
        fingerprint={k: (fb[k], fc[k]) for k in FINGERPRINT_KEYS},
        comparable=comparable,
        drifts=drifts,
        untimed=untimed,
        checked=checked,
        instructions_fingerprint=counts.fingerprint,
        instructions_comparable=counts.comparable,
    )


def _cases(b_rows: Mapping[Key, Any], c_rows: Mapping[Key, Any]) -> list[Finding]:
    out = []
    b_cases = {k[:2] for k in b_rows}
    c_cases = {k[:2] for k in c_rows}
    for kind, mine, other, where in (
        (Kind.MISSING, b_rows, c_rows, "in the baseline, not in the current run"),
        (Kind.NEW, c_rows, b_rows, "in the current run, not in the baseline"),
    ):
        whole = (b_cases - c_cases) if kind is Kind.MISSING else (c_cases - b_cases)
        for cid, dev in sorted(whole):
            out.append(Finding(kind, Tier.CASES, f"case {where}", cid, dev))
        for key in sorted(mine.keys() - other.keys()):
            if key[:2] not in whole:
                out.append(Finding(kind, Tier.CASES, f"strategy {where}", *key))
    return out


def _status(
    common: Sequence[Key], b_rows: Mapping[Key, Any], c_rows: Mapping[Key, Any], s: Settings
) -> list[Finding]:
    out = []
    for key in common:
        sb, sc = cell_text(b_rows[key]["status"]), cell_text(c_rows[key]["status"])
        if sb == sc:
            continue
        why = cell_text(c_rows[key].get("reason"))
        if sb == schema.STATUS_OK and sc == schema.STATUS_TIMEOUT:
            # how long a case takes depends on the machine: not a deterministic regression
            kind, msg = Kind.INCONCLUSIVE, f"now times out ({why or 'no reason given'})"
        elif sb == schema.STATUS_OK:
            kind, msg = Kind.REGRESSION, f"measured cleanly before, now {sc}: {why or '?'}"
        elif sc == schema.STATUS_OK:
            kind, msg = Kind.IMPROVEMENT, f"measures cleanly now (was {sb})"
        else:
            kind, msg = Kind.NOTE, f"status {sb} -> {sc}: {why or '?'}"
        out.append(Finding(kind, Tier.STATUS, msg, *key, metric="status", baseline=sb, current=sc))
    return out


def _deterministic(
    common: Sequence[Key], b_rows: Mapping[Key, Any], c_rows: Mapping[Key, Any], s: Settings
) -> tuple[list[Finding], int]:
    out, n = [], 0
    for key in common:
        b, c = b_rows[key], c_rows[key]
        # the same jax may compile differently for another dtype, jit setting or accelerator
        differs = [k for k in ROW_IDENTITY if cell_text(b.get(k)) != cell_text(c.get(k))]
        if differs:
            what = ", ".join(f"{k} {cell_text(b.get(k))} -> {cell_text(c.get(k))}" for k in differs)
            out.append(Finding(Kind.NOT_COMPARABLE, Tier.DETERMINISTIC, f"{what}", *key))
            continue
        for metric in DETERMINISTIC_METRICS:
            vb, vc = cell_number(b.get(metric)), cell_number(c.get(metric))
            if math.isnan(vb) or math.isnan(vc):
                continue
            n += 1
            t = s.threshold(metric)
            ratio = vc / vb if vb else (1.0 if vc == 0 else math.inf)
            if t.exceeded(vc, vb):
                kind, msg = Kind.REGRESSION, f"{metric} up x{ratio:.3g} (limit {t})"
            elif t.improved(vc, vb):
                kind, msg = Kind.IMPROVEMENT, f"{metric} down x{ratio:.3g}"
            else:
                continue
            out.append(
                Finding(
                    kind,
                    Tier.DETERMINISTIC,
                    msg,
                    *key,
                    metric,
                    baseline=vb,
                    current=vc,
                    ratio=ratio,
                )
            )
    return out, n


def _describe(v: Mapping[str, Any]) -> str:
    """A verdict in a few words: 'jacfwd 2x faster than jacrev', 'tie jacfwd|jacrev'."""
    rec = cell_text(v.get("recommended"))
    if rec == decision.TIE:
        return f"tie {cell_text(v.get('tie_set'))}".strip()
    speed, ru = cell_number(v.get("speedup")), cell_text(v.get("runner_up"))
    if not decision.names_one(rec) or math.isnan(speed) or not ru:
        return rec or "?"
    return f"{rec} {fmt.factor(speed)} faster than {ru}"


def _decisive(v: Mapping[str, Any]) -> bool:
    """A verdict that names one strategy on the evidence of at least two that ran."""
    return decision.is_decisive(v)


def _verdicts(bv: pd.DataFrame, cv: pd.DataFrame, many_hosts: bool) -> tuple[list[Finding], int]:
    def index(df: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
        records: list[dict[str, Any]] = df.to_dict("records")  # type: ignore[assignment]
        return {(str(r["case_id"]), _where(r, many_hosts)): r for r in records}

    b, c = index(bv), index(cv)
    out, n = [], 0
    for key in sorted(b.keys() & c.keys()):
        vb, vc = b[key], c[key]
        rb, rc = cell_text(vb.get("recommended")), cell_text(vc.get("recommended"))
        undecided = [
            side for side, r in (("baseline", rb), ("current", rc)) if r == decision.UNDECIDED
        ]
        if undecided:  # no evidence to compare: neither a flip, nor a regression, nor a change
            why = "; ".join(
                f"{side}: {cell_text(v.get('reason')).removeprefix('undecided: ')}"
                for side, v in (("baseline", vb), ("current", vc))
                if cell_text(v.get("recommended")) == decision.UNDECIDED
            )
            out.append(
                Finding(
                    Kind.NOTE,
                    Tier.VERDICT,
                    f"verdict not judged: undecided in the {' and '.join(undecided)} run, too "
                    f"few paired rounds to decide ({why})",
                    *key,
                    metric="recommended",
                    baseline=rb,
                    current=rc,
                )
            )
            continue
        judged = [
            v for v in (vb, vc) if _decisive(v) or cell_text(v.get("recommended")) == decision.TIE
        ]
        if len(judged) < 2:
            continue  # a side has no evidence-based verdict: the status tier says why
        n += 1
        tie_b, tie_c = (set(cell_text(v.get("tie_set")).split("|")) for v in (vb, vc))
        if rb == rc and (
            rb != decision.TIE or tie_b == tie_c
        ):  # a tie set's order is not its content
            continue
        change = f"{_describe(vb)} -> {_describe(vc)}"
        if _decisive(vb) and _decisive(vc):
            kind, msg = Kind.FLIP, f"recommended {rb} -> {rc} ({change})"
        else:
            kind, msg = (
                Kind.NOTE,
                f"recommended {rb} -> {rc}, not a flip: near the tie margin ({change})",
            )
        out.append(
            Finding(kind, Tier.VERDICT, msg, *key, metric="recommended", baseline=rb, current=rc)
        )
    return out, n
