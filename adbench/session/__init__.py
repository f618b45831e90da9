"""A whole run: sweep (every case, the writer, resume), shard, derived tables, worker (the child
process behind --case-timeout), engine_ray."""
