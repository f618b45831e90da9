"""Running a benchmark: configs, cases, differentiation strategies, timing and sweeps."""
