#!/usr/bin/env bash
# The GPU check: run the seed and strategies configs on every device of this machine
# (--device all: CPU and GPU side by side) and print one table per device kind.
#
#   benchmarks/gpu_check.sh              # results under a fresh temporary directory
#   OUT=/some/dir benchmarks/gpu_check.sh   # results (and the printed tables) under $OUT
#
# Until this has run on a GPU and its table is in README ("Many machines"), adbench's GPU
# figures are unmeasured. Install for CUDA first: pip install -U "jax[cuda12]".
# Stays under ~8 minutes: each run is stopped (cleanly, keeping its finished cases) at its limit.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
base="${OUT:-$(mktemp -d)}/gpu_check"
mkdir -p "$base"
limit_s="${GPU_CHECK_RUN_LIMIT_S:-200}"   # per config; two configs

echo "== environment" | tee "$base/summary.txt"
"$PY" - <<'EOF' 2>&1 | tee -a "$base/summary.txt"
import jax
print("jax", jax.__version__, "default backend", jax.default_backend())
for platform in ("cpu", "gpu", "tpu"):
    try:
        devs = jax.devices(platform)
    except RuntimeError:
        continue
    for d in devs:
        stats = {}
        try:
            stats = d.memory_stats() or {}
        except Exception:
            pass
        limit = stats.get("bytes_limit")
        pool = f", allocator pool {limit / 2**30:.1f} GiB" if limit else ""
        print(f"  {d.platform}:{d.id}  {d.device_kind}{pool}")
EOF

for cfg in configs/seed.yaml configs/strategies.yaml; do
  name="$(basename "$cfg" .yaml)"
  if [ ! -f "$cfg" ]; then
    echo "== $name: $cfg is not in this checkout; skipped" | tee -a "$base/summary.txt"
    continue
  fi
  echo "== $name: adbench run $cfg --device all (at most ${limit_s} s)" | tee -a "$base/summary.txt"
  start=$(date +%s)
  timeout --signal=INT --kill-after=30 "$limit_s" \
    "$PY" -m adbench run "$cfg" --device all --out "$base/$name" --force --quiet
  rc=$?
  echo "   exit $rc after $(( $(date +%s) - start )) s (0 ok, 1 a case failed, 124 stopped at the limit: finished cases kept)" \
    | tee -a "$base/summary.txt"
  [ -f "$base/$name/results.csv" ] || continue
  "$PY" - "$base/$name" <<'EOF' 2>&1 | tee -a "$base/summary.txt"
import sys

import pandas as pd

import adbench

res = adbench.load_results(sys.argv[1])
r = res.results
ok = r[r["status"] == "ok"]
pd.set_option("display.width", 200)
pd.set_option("display.max_rows", 500)
for kind, rows in r.groupby("device_kind", sort=False):
    print(f"\n-- {kind} ({', '.join(sorted(rows['device'].unique()))})")
    timed = ok[ok["device_kind"] == kind]
    if len(timed):
        table = timed.pivot_table(
            index="case_id", columns="strategy", values="median_s", aggfunc="first", sort=False
        )
        print((table * 1e6).round(2).to_string(na_rep="-") + "\n(median µs per call)")
    failed = rows[rows["status"] != "ok"]
    for _, f in failed.iterrows():
        print(f"   {f['case_id']} {f['strategy']}: {f['status']}: {f['reason']}")
v = res.verdicts.merge(
    r[["case_id", "host", "device", "device_kind"]].drop_duplicates(),
    on=["case_id", "host", "device"],
)
if len(v):
    side = v.pivot_table(
        index="case_id", columns="device_kind", values="recommended", aggfunc="first", sort=False
    )
    print("\n-- verdict per device kind, side by side")
    print(side.to_string(na_rep="-"))
EOF
done
echo "== tables and results: $base"
