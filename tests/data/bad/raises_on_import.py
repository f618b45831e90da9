"""A user file that fails when imported."""

raise RuntimeError("this module cannot be imported")
