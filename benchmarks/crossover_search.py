"""Adaptive crossover search against a full geometric grid: cases timed, wall, crossover interval.

    .venv/bin/python benchmarks/crossover_search.py [CONFIG] [--grid 24] [--rounds 1]
                                                    [--range FROM:TO] [--keep DIR]

CONFIG (default configs/crossover_search.yaml) has one family whose d_out (or d_in) is a
`search: crossover` range (--range FROM:TO replaces it, for both runs). Each round runs
`adbench run` twice in fresh processes, in turn: (a) the grid, the same run file with the range
replaced by --grid sizes spaced evenly in log size over the same range, and (b) the adaptive
search. Printed per run: the cases timed, the wall (JAX import included), the 1-minute load
average before and after (the machine is shared), and from crossover.csv the estimated tie with
its 95% interval and the two measured sizes that bracket it (the last size won by one mode, the
first won by the other). Then whether the adaptive interval agrees with the grid's: the two 95%
intervals overlap, or the adaptive bracket lies within the grid's bracket widened by one grid
step on each side.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]


def searched(config: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """(family index, axis, range) of the first family with a size range."""
    for i, fam in enumerate(config["families"]):
        for axis in ("d_in", "d_out"):
            if isinstance(fam.get(axis), dict):
                return i, axis, fam[axis]
    raise SystemExit("the run file has no `search: crossover` range")


def grid_sizes(low: int, high: int, n: int) -> list[int]:
    """n sizes from low to high, evenly spaced in log size, rounded, duplicates dropped."""
    step = (high / low) ** (1 / (n - 1))
    return sorted({round(low * step**k) for k in range(n)})


def run(config: Path, out: Path) -> dict[str, Any]:
    """`adbench run CONFIG --out OUT` in a fresh process: wall seconds and load averages."""
    before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "adbench", "run", str(config), "--out", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"adbench run {config} failed ({proc.returncode}):\n{proc.stderr}")
    return {"wall_s": wall, "load_before": before, "load_after": os.getloadavg()[0]}


def bracket(out: Path, axis: str) -> tuple[float, float]:
    """The measured sizes around the change of mode: the last size one mode won, the first
    the other won (ties skipped, as the crossover does); NaN when there is no single change."""
    v = pd.read_csv(out / "verdicts.csv", keep_default_na=False).sort_values(axis)
    won = v[v["fwd_rev"].isin(("jacfwd", "jacrev"))]
    sizes, modes = won[axis].tolist(), won["fwd_rev"].tolist()
    changes = [i for i in range(1, len(modes)) if modes[i] != modes[i - 1]]
    if len(changes) != 1:
        return math.nan, math.nan
    return float(sizes[changes[0] - 1]), float(sizes[changes[0]])


def summary(out: Path, axis: str) -> dict[str, Any]:
    res = pd.read_csv(out / "results.csv")
    cross = pd.read_csv(out / "crossover.csv").iloc[0]
    lo, hi = bracket(out, axis)
    return {
        "cases": int(res["case_id"].nunique()),
        "outcome": cross["outcome"],
        "tie": float(cross["crossover"]),
        "ci_low": float(cross["crossover_low"]),
        "ci_high": float(cross["crossover_high"]),
        "below": lo,
        "above": hi,
        "dir": str(out),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default=str(ROOT / "configs" / "crossover_search.yaml"))
    ap.add_argument("--grid", type=int, default=24, help="sizes in the full grid")
    ap.add_argument("--range", help="FROM:TO instead of the run file's range")
    ap.add_argument("--rounds", type=int, default=1, help="grid + adaptive pairs to run")
    ap.add_argument("--keep", type=Path, help="keep the results directories here")
    args = ap.parse_args()

    config_path = Path(args.config).resolve()
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    index, axis, rng = searched(config)
    if args.range:
        low, high = (int(x) for x in args.range.split(":"))
        rng.update({"from": low, "to": high})  # the adaptive run file below gets it too
        config["name"] = f"{config.get('name', 'run')}-{low}-{high}"
    sizes = grid_sizes(int(rng["from"]), int(rng["to"]), args.grid)
    step = (int(rng["to"]) / int(rng["from"])) ** (1 / (args.grid - 1))
    grid = {**config, "name": f"{config.get('name', 'run')}-grid"}
    grid["families"] = [dict(f) for f in config["families"]]
    grid["families"][index][axis] = sizes
    work = args.keep or Path(tempfile.mkdtemp(prefix="adbench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    grid_path = work / "grid.yaml"
    grid_path.write_text(yaml.safe_dump(grid, sort_keys=False), encoding="utf-8")
    if args.range:
        config_path = work / "adaptive.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    print(f"family {config['families'][index]['name']}: {axis} {rng['from']}-{rng['to']}")
    print(f"grid: {len(sizes)} sizes, step x{step:.3f}; adaptive: {config_path.name} as written")

    rows = []
    for r in range(args.rounds):
        for kind, path in (("grid", grid_path), ("adaptive", config_path)):
            out = work / f"{kind}-{r}"
            timing = run(path, out)
            rows.append({"round": r, "kind": kind, **timing, **summary(out, axis)})
            row = rows[-1]
            print(
                f"round {r} {kind:8s}: {row['cases']:2d} cases, wall {row['wall_s']:5.1f} s, "
                f"load {row['load_before']:.2f}->{row['load_after']:.2f}; {row['outcome']} at "
                f"{row['tie']:.0f} (95% CI {row['ci_low']:.0f}-{row['ci_high']:.0f}), "
                f"bracketed by {row['below']:.0f} and {row['above']:.0f}",
                flush=True,
            )
    grids = [x for x in rows if x["kind"] == "grid"]
    for a in (x for x in rows if x["kind"] == "adaptive"):
        g = next(x for x in grids if x["round"] == a["round"])
        print(
            f"round {a['round']}: adaptive timed {a['cases']}/{g['cases']} = "
            f"{a['cases'] / g['cases']:.2f} of the grid's cases in "
            f"{a['wall_s'] / g['wall_s']:.2f} of its wall"
        )
    # The 95% intervals are bootstrap intervals within one process; the spread between fresh
    # processes is larger (METHOD.md), so the grids are also compared with each other.
    print("agreement (95% intervals overlap / adaptive bracket inside the grid's +-1 step):")
    for x in rows:
        cells = []
        for g in grids:
            if g is x:
                cells.append("-")
                continue
            overlap = x["ci_low"] <= g["ci_high"] and g["ci_low"] <= x["ci_high"]
            inside = g["below"] / step <= x["below"] and x["above"] <= g["above"] * step
            cells.append(f"{'yes' if overlap else 'no'}/{'yes' if inside else 'no'}")
        names = ", ".join(f"grid {g['round']}: {c}" for g, c in zip(grids, cells, strict=True))
        print(f"  {x['kind']} {x['round']} vs {names}")
    print(f"results: {work}")


if __name__ == "__main__":
    main()
