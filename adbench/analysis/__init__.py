"""Pure statistics and decisions over stored measurements (no JAX, no I/O, no rendering)."""
