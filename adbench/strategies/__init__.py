"""Ways to differentiate: registry (every strategy of every task, by name) and check (each result
against the task's reference)."""
