"""The results directory: schema, writing, reading, repair. The only code that touches its files."""
