"""Reading run files: model (the pydantic models, YAML loading with line numbers), plan (what a
run file asks for, resolved), cases (families x sizes -> the cases; the one Case builder), families
(the built-in functions), search (the crossover size search), starter (``adbench init``)."""
