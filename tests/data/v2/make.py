"""Writes the schema-version-2 golden directories under tests/data/v2/ through the real writer.

    .venv/bin/python tests/data/v2/make.py

tests/test_v2_fixtures.py rebuilds them and checks every byte, so they always are what the
current writer and analysis produce. ``report/`` holds one machine (host h0) and five families:

    chunked  jacobian, d_in 200, d_out 20/200/2000, five strategies: a tie of jacrev with
             jacrev_chunked at 200x20; jacfwd ahead of linearize at 200x200 (it compiles longer:
             a break-even); jacfwd throughout 200x2000
    odeint   jacobian whose jacfwd and linearize fail (a custom_vjp): jacrev, the only one to run
    wide     jacobian 2000x2000 with a memory budget: jacrev refused although XLA counts far
             fewer flops for it (fastest_unfit), jacfwd recommended among those that ran
    hess     hessian, n 10/100: a tie at 10; at 100 sparse (0.5 s of setup) ahead of
             fwd_over_rev, repaid after a known number of calls
    broken   every strategy fails: nothing to recommend

``compare/base`` and ``compare/cur`` tell a story across two runs of one config:

    chunked/200x200   jacfwd -> linearize, decisive both times        -> a flip (and jacfwd,
                      jacfwd_chunked slower: timing regressions)
    chunked/200x20    tie -> jacrev (jacrev_chunked slower now)        -> a note, not a flip
                                                                         (and a timing regression)
    odeint/50x500     jacrev ok -> error                               -> status regression
    hess/100x1        sparse flops x2                                  -> deterministic regression
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for builders
sys.path.insert(0, str(HERE.parents[2]))  # the repository, for adbench

from builders import C, S, write_run  # noqa: E402

CUSTOM_VJP = "TypeError: can't apply forward-mode autodiff (jvp) to a custom_vjp function."


def report_cases(*, current: bool = False) -> list[C]:
    ms = 1e-3
    chunked = [
        C(
            "chunked",
            200,
            20,
            (
                S("jacfwd", 0.5 * ms),
                S("jacrev", 0.2 * ms),
                S("jacfwd_chunked", 0.55 * ms),
                S("jacrev_chunked", (0.3 if current else 0.205) * ms),
                S("linearize", 0.6 * ms),
            ),
        ),
        C(
            "chunked",
            200,
            200,
            (
                S("jacfwd", (0.4 if current else 0.2) * ms, compile_s=0.2),
                S("jacrev", 0.3 * ms),
                S("jacfwd_chunked", (0.32 if current else 0.26) * ms),
                S("jacrev_chunked", 0.35 * ms),
                S("linearize", 0.24 * ms, compile_s=0.08),
            ),
        ),
        C(
            "chunked",
            200,
            2000,
            (
                S("jacfwd", 1.0 * ms),
                S("jacrev", 8.0 * ms),
                S("jacfwd_chunked", 1.3 * ms),
                S("jacrev_chunked", 9.0 * ms),
                S("linearize", 1.6 * ms),
            ),
        ),
    ]
    odeint = [
        C(
            "odeint",
            50,
            d_out,
            (
                S("jacfwd", status="error", reason=f"jacfwd failed to compile: {CUSTOM_VJP}"),
                S("jacrev", 0.4 * ms * d_out / 5)
                if not (current and d_out == 500)
                else S("jacrev", status="error", reason="jacrev raised FloatingPointError: nan"),
                S("linearize", status="error", reason=f"linearize raised {CUSTOM_VJP}"),
            ),
        )
        for d_out in (5, 500)
    ]
    refused = "estimated 40.0 GiB (XLA temp) exceeds the 8.00 GiB budget"
    wide = [
        C(
            "wide",
            2000,
            2000,
            (
                S("jacfwd", 30 * ms, flops=4e9),
                S("jacrev", status="memory", reason=refused, flops=1e8, temp_bytes=4.3e10),
                S("linearize", 45 * ms, flops=4e9),
            ),
        )
    ]
    hess = [
        C(
            "hess",
            10,
            1,
            (
                S("fwd_over_rev", 0.2 * ms),
                S("rev_over_rev", 0.204 * ms),
                S("rev_over_fwd", 0.5 * ms),
                S("fwd_over_fwd", 0.45 * ms),
            ),
            task="hessian",
        ),
        C(
            "hess",
            100,
            1,
            (
                S("fwd_over_rev", 0.5 * ms),
                S("rev_over_rev", 0.8 * ms),
                S("rev_over_fwd", 5.0 * ms),
                S("fwd_over_fwd", 4.0 * ms),
                S("sparse", 0.1 * ms, setup_s=0.5, flops=(2e5 if current else 1e5)),
            ),
            task="hessian",
        ),
    ]
    broken = [
        C(
            "broken",
            3,
            3,
            (
                S("jacfwd", status="error", reason="factory raised ValueError: bad shape"),
                S("jacrev", status="error", reason="factory raised ValueError: bad shape"),
            ),
        )
    ]
    return chunked + odeint + wide + hess + broken


def build(root: Path) -> None:
    for name in ("report", "compare"):
        shutil.rmtree(root / name, ignore_errors=True)
    write_run(root / "report", report_cases(), meta={"config": {"name": "v2-report"}})
    write_run(root / "compare" / "base", report_cases(), meta={"config": {"name": "v2-compare"}})
    write_run(
        root / "compare" / "cur",
        report_cases(current=True),
        meta={"config": {"name": "v2-compare"}},
    )


if __name__ == "__main__":
    build(HERE)
    print(f"wrote {HERE / 'report'} and {HERE / 'compare'}")
