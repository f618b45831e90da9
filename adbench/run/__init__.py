"""Running cases: configuration, cases, strategies and the measurements taken of them."""
