"""The on-disk contract of a results directory: file names, columns and the schema version.

Every module that reads or writes results takes its names from here, so the format is described
once. A results directory holds:

    results.csv   one row per case x mode x device (RESULT_COLUMNS), appended as each case ends
    samples.csv   every raw timing sample, one row per round (SAMPLE_COLUMNS)
    verdicts.csv  one row per case x device (VERDICT_COLUMNS), written when the run ends
    crossover.csv one row per family x device (CROSSOVER_COLUMNS), written when the run ends;
                  optional: readers recompute it from results.csv and samples.csv when absent
    meta.json     environment fingerprint and run settings (META_KEYS), schema_version included

History of SCHEMA_VERSION (bump it when a reader of an older directory would misread a newer one):
    1  first format.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

RESULTS_FILE = "results.csv"
SAMPLES_FILE = "samples.csv"
VERDICTS_FILE = "verdicts.csv"
CROSSOVER_FILE = "crossover.csv"
META_FILE = "meta.json"

MODES = ("jacfwd", "jacrev")

# Identity of a case on one device; every table carries these first.
CASE_KEY = ("case_id", "family", "d_in", "d_out", "device")

# status values of a results row. Anything but "ok" carries a one-line `reason`.
STATUS_OK = "ok"
STATUS_ERROR = "error"  # the user's factory or function raised, or returned something unusable
STATUS_MISMATCH = "mismatch"  # jacfwd and jacrev disagree beyond tolerance (not timed)
STATUS_NONFINITE = "nonfinite"  # the Jacobian holds NaN or Inf
STATUS_MEMORY = "memory"  # refused before running: estimated memory above the budget
STATUS_TIMEOUT = "timeout"  # the case ran past --case-timeout
STATUSES = (
    STATUS_OK,
    STATUS_ERROR,
    STATUS_MISMATCH,
    STATUS_NONFINITE,
    STATUS_MEMORY,
    STATUS_TIMEOUT,
)

RESULT_COLUMNS = (
    *CASE_KEY,
    "mode",
    "source",  # "builtin:power" or "callable:my_functions.py:residuals"
    "device_kind",  # e.g. "cpu", "NVIDIA H100 80GB HBM3"
    "platform",  # "cpu", "gpu", "tpu"
    "dtype",
    "jit",
    "status",
    "reason",
    # timing, seconds per call of the Jacobian (NaN when not timed)
    "n_inner",  # calls per sample (calibrated)
    "n_samples",
    "median_s",
    "mean_s",
    "std_s",
    "min_s",
    "max_s",
    "q1_s",
    "q3_s",
    "iqr_s",
    "ci_low_s",  # bootstrap 95% CI of the median
    "ci_high_s",
    "outliers",  # samples outside median +- 3.5 * 1.4826 * MAD
    # one-off costs, seconds
    "lower_s",  # trace + lower to StableHLO
    "compile_s",  # XLA compile
    "first_call_s",  # first execution after compile
    # XLA's own view of the compiled Jacobian: deterministic for a given jax/jaxlib/backend
    "flops",
    "transcendentals",
    "bytes_accessed",
    "temp_bytes",
    "argument_bytes",
    "output_bytes",
    "generated_code_bytes",
    # correctness
    "jac_max_abs_diff",  # max |J_fwd - J_rev|
    "jac_max_abs",  # max |J|, the scale the difference is judged against
)

SAMPLE_COLUMNS = (
    *CASE_KEY,
    "mode",
    "round",  # 0, 1, ... : samples of both modes with the same round were taken back to back
    "n_inner",
    "seconds",  # seconds per call: the sample's total time / n_inner
)

VERDICT_COLUMNS = (
    *CASE_KEY,
    "recommended",  # "jacfwd", "jacrev", "tie", or "n/a" (a mode failed or was not run)
    "speedup",  # winner's time advantage: slower median / faster median (>= 1)
    "ratio",  # time ratio jacfwd / jacrev: median of the per-round ratios
    "ratio_ci_low",  # bootstrap 95% CI of that median
    "ratio_ci_high",
    "margin",  # practical margin used for ties, e.g. 0.1
    "median_jacfwd_s",
    "median_jacrev_s",
    "flop_ratio",  # flops jacfwd / flops jacrev
    "temp_ratio",  # temp bytes jacfwd / jacrev
    "compile_jacfwd_s",
    "compile_jacrev_s",
    "break_even_calls",  # calls after which the run-time winner has repaid a longer compile
    "textbook",  # what d_in vs d_out alone suggests: jacfwd, jacrev or either
    "agrees_with_textbook",
    "reason",  # one line, the evidence in words
)

# SCHEMA note: crossover.csv was added within version 1. It is optional and derived (see
# adbench.crossover), so a reader of version 1 that does not know it misreads nothing.
CROSSOVER_COLUMNS = (
    "family",
    "device",
    "axis",  # what the sweep varies: "d_out" (d_in fixed), "d_in" (d_out fixed), "d_in/d_out"
    "fixed",  # the dimension held fixed on a one-axis sweep; empty on "d_in/d_out"
    "n_sizes",  # distinct axis values with both modes measured ok
    "axis_min",
    "axis_max",
    "outcome",  # "crossover" (tie inside the range), "jacfwd" / "jacrev" (faster throughout),
    #             "tie" (no case separated), "unclear", or "n/a" (fewer than two sizes)
    "crossover",  # axis value where t(jacfwd) = t(jacrev); empty unless outcome is "crossover"
    "crossover_low",  # bootstrap interval over the raw samples; 0 / inf when unbounded
    "crossover_high",
    "crossover_ratio",  # d_in / d_out at the tie
    "textbook",  # the textbook tie on the axis (d_in = d_out)
    "factor_from_textbook",  # measured tie vs textbook as a factor >= 1 (a lower bound w/o a tie)
    "far_from_textbook",  # yes / no / n/a
    "slope_jacfwd",  # log-log slope of each mode's median time against the axis
    "slope_jacrev",
    "slope_ratio",  # log-log slope of t(jacfwd) / t(jacrev) against the axis
    "confidence",  # of the interval, e.g. 0.95
    "reason",  # one line, in words
)

META_KEYS = (
    "schema_version",
    "adbench_version",
    "jax_version",
    "jaxlib_version",
    "backend",
    "devices",
    "cpu_model",
    "python",
    "platform",
    "x64",
    "xla_flags",
    "git_commit",
    "config_path",
    "config_hash",
    "config",
    "started_at",
    "finished_at",
    "command",
)


def case_id(family: str, d_in: int, d_out: int) -> str:
    """The stable name of a case, e.g. ``power/1x10000``."""
    return f"{family}/{d_in}x{d_out}"
