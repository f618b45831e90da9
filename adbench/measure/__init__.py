"""One case on one device: case (compile, check, time), timing (the pure interleaved loop),
outcome (what a case yields), memory (the guard), costs (XLA's counts of compiled candidates),
calibrate, devices, callbacks."""
