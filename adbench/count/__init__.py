"""Instructions per call under valgrind (``--measure instructions``): engine (the checked
strategies counted in one process), instructions (that process, the fingerprint), valgrind
(client requests, callgrind's files)."""
