"""The on-disk contract of a results directory: file names, columns and the schema version.

Every module that reads or writes results takes its names from here, so the format is described
once. A results directory holds:

    results.csv   one row per case x mode x device (RESULT_COLUMNS), appended as each case ends
    samples.csv   every raw timing sample, one row per round (SAMPLE_COLUMNS)
    verdicts.csv  one row per case x device (VERDICT_COLUMNS), written when the run ends
    crossover.csv one row per family x device (CROSSOVER_COLUMNS), written when the run ends;
                  optional: readers recompute it from results.csv and samples.csv when absent
    ranking.csv   one row per case x strategy x device (RANKING_COLUMNS): each strategy's time
                  relative to the fastest, with its interval and rank; derived, written at the end
    meta.json     environment fingerprint and run settings (META_KEYS), schema_version included

History of SCHEMA_VERSION (bump it when a reader of an older directory would misread a newer one):
    1  first format: two modes (jacfwd, jacrev), column `mode`, Jacobians only.
    2  strategies and tasks. `mode` became `strategy` (any name of STRATEGIES); new key columns
       `task`, `batch` and `host` (rows from several machines never collide); results gain
       `setup_s` (one-off seconds outside XLA, e.g. sparsity detection + colouring),
       `chunk_size`, `colors`, `sparse_mode`, `nnz`, the instruction-count columns and the
       measurement's `started_at` / `ended_at`; `jac_max_abs_diff` / `jac_max_abs` became
       `max_abs_diff` / `max_abs` (against the task's reference strategy); samples gain
       `position` (order inside the round). Verdicts are N-way (`recommended` is a strategy,
       `tie` or `none`; `tie_set`, `runner_up`; the classic jacfwd-vs-jacrev view moved to
       `fwd_rev*` columns); ranking.csv is new. Migration (adbench.store.migrate): a version-1
       directory loads as version 2 (mode -> strategy, task "jacobian", batch 1, host from
       meta or "", the new columns empty) and its verdicts are recomputed from its samples.
    3  functions of real arguments. Strategy `per_example` (jacobian, hessian). results gain
       `sizes` (a family's named factory sizes, "width=16,n_points=100"; empty for d_in x d_out
       families), `in_tree` / `out_tree` (the leaf shapes of the differentiated arguments and
       of the output; empty for a flat function), `argnums` ("0", "0,2"), `per_example` (the
       index of the argument holding the points) and `per_example_how` ("declared" or
       "detected"). d_in / d_out of such a case are measured (total sizes of the differentiated
       leaves and of the output); its case_id names the sizes (`ntk/width=64,n_points=200`).
       Migration: a version-2 directory loads with the new columns empty (adbench.store.migrate).
       Also in version 3, the operators of physics-informed models: tasks `derivative`,
       `biharmonic`, `ntk`; Laplacian strategies `forward_laplacian(_sparse)` and the estimators
       `hutchinson`, `stde` (ESTIMATORS), whose results gain ESTIMATOR_COLUMNS: `samples` (probes
       per estimate), `tolerance` (the family's; empty: never recommended) and `rel_error_mean`
       / `rel_error_std` / `rel_error_draws` (relative error against the exact reference at the
       case's points over repeated draws); empty for exact strategies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # older versions are migrated on load (adbench.store.migrate)


def cpu_dispatch(meta: Mapping[str, object]) -> str:
    """How a run's CPU client dispatched its timed calls (meta.json ``cpu_dispatch``, "inline" or
    "async"): a directory written before adbench recorded it timed with JAX's default, async."""
    return str(meta.get("cpu_dispatch") or "async")


RESULTS_FILE = "results.csv"
SAMPLES_FILE = "samples.csv"
VERDICTS_FILE = "verdicts.csv"
CROSSOVER_FILE = "crossover.csv"
RANKING_FILE = "ranking.csv"
META_FILE = "meta.json"

# Tasks and their strategies: names are part of the results contract (adbench.strategies.registry
# implements them and checks it matches this table). The first strategy of each task is its
# reference: every other strategy's result is checked against it.
TASKS = ("jacobian", "hessian", "laplacian", "derivative", "biharmonic", "ntk")
STRATEGIES: dict[str, tuple[str, ...]] = {
    "jacobian": (
        "jacfwd",
        "jacrev",
        "jacfwd_chunked",
        "jacrev_chunked",
        "linearize",
        "sparse",
        "per_example",
    ),
    "hessian": (
        "fwd_over_rev",
        "rev_over_fwd",
        "rev_over_rev",
        "fwd_over_fwd",
        "sparse",
        "per_example",
    ),
    "laplacian": (
        "hessian_trace",
        "fwd_fwd",
        "taylor",
        "hvp",
        "forward_laplacian",
        "forward_laplacian_sparse",
        "hutchinson",
        "stde",
    ),
    # the operators of physics-informed models (adbench.strategies.derivative, biharmonic, ntk)
    "derivative": ("nested_jacfwd", "nested_grad", "nested_jvp", "taylor"),
    "biharmonic": (
        "hessian_of_hessian",
        "nested_hessian_trace",
        "nested_fwd_fwd",
        "nested_taylor",
        "nested_hvp",
        "nested_forward_laplacian",
        "nested_forward_laplacian_sparse",
        "taylor",
        "hutchinson",
        "stde",
    ),
    "ntk": ("jacobian_contraction", "per_example_contraction", "ntk_vector_products"),
}
REFERENCE = {task: names[0] for task, names in STRATEGIES.items()}
ALL_STRATEGIES = tuple(dict.fromkeys(n for names in STRATEGIES.values() for n in names))
# Strategies that need the function's structure (a per-example argument): planned only where a
# family declares it or it is detected, never by default.
ON_STRUCTURE = ("per_example",)
# Strategies whose result is an estimate: never cross-checked equal, their error is measured;
# planned only where a family asks (names them, or sets `samples:` / `tolerance:`).
ESTIMATORS = ("hutchinson", "stde")
DEFAULT_STRATEGIES: dict[str, tuple[str, ...]] = {
    task: tuple(n for n in names if n not in ON_STRUCTURE + ESTIMATORS)
    for task, names in STRATEGIES.items()
}
MODES = ("jacfwd", "jacrev")  # the classic two: the fwd-vs-rev view, crossover, textbook rule

# Identity of a case on one device of one machine; every table carries these first.
CASE_KEY = ("case_id", "family", "task", "d_in", "d_out", "batch", "host", "device")
# What identifies one measured case x device (groupby keys) and one row of results.csv.
CASE_GROUP = ("case_id", "host", "device")
ROW_KEY = (*CASE_GROUP, "strategy")

# status values of a results row. Anything but "ok" carries a one-line `reason`.
STATUS_OK = "ok"
STATUS_ERROR = "error"  # the user's factory or function raised, or returned something unusable
STATUS_MISMATCH = "mismatch"  # disagrees with the task's reference beyond tolerance (not timed)
STATUS_NONFINITE = "nonfinite"  # the Jacobian holds NaN or Inf
STATUS_MEMORY = "memory"  # refused before running: estimated memory above the budget
STATUS_TIMEOUT = "timeout"  # the case ran past --case-timeout
STATUS_SKIPPED = "skipped"  # not run, on purpose: e.g. a chunked twin whose chunk holds the basis
STATUSES = (
    STATUS_OK,
    STATUS_ERROR,
    STATUS_MISMATCH,
    STATUS_NONFINITE,
    STATUS_MEMORY,
    STATUS_TIMEOUT,
    STATUS_SKIPPED,
)

# Added in version 3: what a function of real arguments was measured as (see the history above).
STRUCTURE_COLUMNS = ("sizes", "in_tree", "out_tree", "argnums", "per_example", "per_example_how")
STRUCTURE_TEXT_COLUMNS = ("sizes", "in_tree", "out_tree", "argnums", "per_example_how")
ESTIMATOR_COLUMNS = (
    "samples",
    "tolerance",
    "rel_error_mean",
    "rel_error_std",
    "rel_error_draws",
)

RESULT_COLUMNS = (
    *CASE_KEY,
    "strategy",
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
    "setup_s",  # one-off seconds outside XLA (sparse: sparsity detection + colouring)
    "first_call_s",  # first execution after compile
    # XLA's own view of the compiled Jacobian: deterministic for a given jax/jaxlib/backend
    "flops",
    "transcendentals",
    "bytes_accessed",
    "temp_bytes",
    "argument_bytes",
    "output_bytes",
    "generated_code_bytes",
    # what the strategy chose (empty where it does not apply)
    "chunk_size",  # basis vectors per chunk (chunked strategies)
    "colors",  # colours of the sparsity pattern = compressed JVPs/VJPs (sparse)
    "sparse_mode",  # "fwd" or "rev": the direction with fewer colours (sparse)
    "nnz",  # stored non-zeros of the sparse result (sparse)
    # correctness, against the task's reference strategy
    "max_abs_diff",  # max |D - D_reference| (0 for the reference itself)
    "max_abs",  # max |D_reference|, the scale the difference is judged against
    # simulated instruction counts (adbench run --measure instructions), per call
    "instructions",  # median over repetitions
    "instructions_spread",  # (max - min) / median over repetitions
    "instructions_reps",
    # when this case was measured (seconds since the epoch, this host's clock)
    "started_at",
    "ended_at",
    # functions of real arguments (version 3; empty for a flat function of one vector)
    *STRUCTURE_COLUMNS,
    # estimators (version 3; empty for exact strategies)
    *ESTIMATOR_COLUMNS,
)

SAMPLE_COLUMNS = (
    *CASE_KEY,
    "strategy",
    "round",  # 0, 1, ... : samples of all strategies with the same round were taken back to back
    "position",  # 0, 1, ... : order inside the round (rotated every round)
    "n_inner",
    "seconds",  # seconds per call: the sample's total time / n_inner
)

VERDICT_COLUMNS = (
    *CASE_KEY,
    "recommended",  # the fastest strategy when it beats the runner-up beyond the margin; "tie"
    #                 (see tie_set); "none" when no strategy ran; "undecided" when the verdict
    #                 would rest on fewer than analysis.decision.MIN_ROUNDS paired rounds (the
    #                 reason says "undecided: 3 rounds: too few to decide"; tie_set empty)
    "tie_set",  # strategies the evidence cannot separate from the fastest, joined by "|"
    "runner_up",  # the second fastest strategy that ran
    "speedup",  # runner-up time / fastest time (>= 1)
    "ratio",  # t(fastest) / t(runner-up): median of per-round ratios (<= 1)
    "ratio_ci_low",  # bootstrap 95% CI of that median
    "ratio_ci_high",
    "margin",  # practical margin used for ties, e.g. 0.1
    "best_s",  # median seconds per call of the fastest strategy
    "n_ran",  # strategies measured ok
    "n_strategies",  # strategies asked for
    "fastest_unfit",  # a strategy refused by the memory guard that the prediction says is faster
    "break_even_calls",  # calls after which the fastest has repaid a longer one-off cost
    # the classic two-mode view (Jacobian tasks with both jacfwd and jacrev; else empty)
    "fwd_rev",  # "jacfwd", "jacrev", "tie", "undecided" (too few rounds) or "n/a"
    "fwd_rev_ratio",  # t(jacfwd) / t(jacrev), median of per-round ratios
    "fwd_rev_ci_low",
    "fwd_rev_ci_high",
    "median_jacfwd_s",
    "median_jacrev_s",
    "flop_ratio",  # flops jacfwd / flops jacrev
    "temp_ratio",  # temp bytes jacfwd / jacrev
    "compile_jacfwd_s",
    "compile_jacrev_s",
    "textbook",  # what d_in vs d_out alone suggests: jacfwd, jacrev or either
    "agrees_with_textbook",
    "reason",  # one line, the evidence in words
)

RANKING_COLUMNS = (
    *CASE_KEY,
    "strategy",
    "status",
    "rank",  # 1 = fastest; strategies tied with the fastest share rank 1; empty if not ok
    "rel_time",  # t(strategy) / t(fastest): median of per-round ratios (>= 1)
    "rel_ci_low",  # bootstrap 95% CI of that median
    "rel_ci_high",
    "median_s",
    "once_s",  # one-off seconds: lower + compile + setup
    "n_rounds",  # paired rounds with the fastest (the fastest: its own rounds)
    "eliminated_at_round",  # rounds timed before the race dropped it; empty: timed to the end
    "reason",  # why not ranked, or the evidence in words
)

# SCHEMA note: crossover.csv was added within version 1. It is optional and derived (see
# adbench.crossover), so a reader of version 1 that does not know it misreads nothing.
CROSSOVER_COLUMNS = (
    "family",
    "host",
    "device",
    "axis",  # what the sweep varies: "d_out" (d_in fixed), "d_in" (d_out fixed), "d_in/d_out",
    #          or "d_in=d_out" (every case square: the axis is n; no textbook tie, "textbook" empty)
    "fixed",  # the dimension held fixed on a one-axis sweep; empty on "d_in/d_out"
    "n_sizes",  # distinct axis values with both modes measured ok
    "axis_min",
    "axis_max",
    "outcome",  # "crossover" (tie inside the range), "jacfwd" / "jacrev" (faster throughout),
    #             "tie" (no case separated), "unclear", "undecided" (no size has the rounds a
    #             decision needs) or "n/a" (fewer than two sizes)
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
    "host",
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
    "measure",  # "time", or "instructions" (adbench run --measure instructions)
)

# SCHEMA note: `measure` and, on instructions runs, two more meta.json keys were added within
# version 2; a reader that does not know them misreads nothing (a directory without `measure`
# was timed, and its instruction columns are empty):
#   instructions_fingerprint  what makes instruction counts comparable (adbench.count.instructions
#                             .fingerprint): INSTRUCTIONS_COMPARABLE must agree between two runs;
#                             the host's CPU model and flags are kept for the record
#   instructions              how they were counted (tool, valgrind flags, repetitions, each
#                             valgrind'd process's seconds) and `per_rep`: per "<case_id>
#                             <strategy>", every repetition's instructions per call and the calls
#                             it averaged (samples.csv holds seconds only)
META_MEASURE, META_INSTRUCTIONS_FINGERPRINT, META_INSTRUCTIONS = (
    "measure",
    "instructions_fingerprint",
    "instructions",
)
INSTRUCTIONS_COMPARABLE = (
    "valgrind",
    "cpu_under_valgrind",
    "python",
    "jax",
    "jaxlib",
    "glibc",
    "xla_flags",
)


def sizes_text(sizes: Sequence[tuple[str, int]]) -> str:
    """Named factory sizes as stored in the ``sizes`` column: ``width=16,n_points=100``."""
    return ",".join(f"{k}={v}" for k, v in sizes)


def case_id(
    family: str, d_in: int, d_out: int, batch: int = 1, sizes: Sequence[tuple[str, int]] = ()
) -> str:
    """The stable name of a case, e.g. ``power/1x10000``, ``mlp_u/8x1/b256`` with a batch,
    ``ntk/width=64,n_points=200`` for a family of named sizes (its d_in, d_out are measured)."""
    base = f"{family}/{sizes_text(sizes)}" if sizes else f"{family}/{d_in}x{d_out}"
    return base if batch == 1 else f"{base}/b{batch}"
