"""``python -m adbench``: the same command as ``adbench``."""

from adbench.cli import main

main()
