"""Which tests are slow: the rule behind ``pytest -m "not slow"``, the fast tier for everyday work.

The list lives in ``tests/slow_tests.txt``, one entry a line (``#`` starts a comment):

    test_ray.py                      a whole file
    test_cli.py::test_run_resume     one test, every parametrisation of it
    test_cli.py::TestResume          a class
    test_search.py::test_*_end_to_end   a pattern (fnmatch: * ? [...])

Paths are relative to ``tests/``. conftest.py marks every collected test an entry matches with
``slow``, so a slow test is listed here instead of being edited in its own file (helpers working
in parallel own those files). An entry that matches nothing is ignored, not an error: tests are
renamed while others work, and a stale entry only makes the fast tier a little faster.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path

LIST = Path(__file__).resolve().parent / "slow_tests.txt"
_GLOB = set("*?[")


def read_entries(text: str) -> list[str]:
    """The entries of a slow list's text: comments and blank lines dropped, whitespace stripped,
    a leading ``tests/`` dropped (so a node id pasted from ``--durations`` works as it is)."""
    entries = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry.startswith("tests/"):
            entry = entry[len("tests/") :]
        if entry:
            entries.append(entry)
    return entries


def relative_id(nodeid: str) -> str:
    """A node id relative to ``tests/`` (pytest gives it relative to the rootdir)."""
    return nodeid[len("tests/") :] if nodeid.startswith("tests/") else nodeid


def matches(nodeid: str, entry: str) -> bool:
    """Does `entry` (a file, a node id, or a pattern) name the test `nodeid`?

    A file names every test in it; a node id names itself, its parametrisations (``[...]``) and,
    for a class, its methods. A pattern with ``* ? [`` is matched against the whole id (its
    parametrisation included, so ``test_x*`` also names ``test_x[a]``)."""
    nodeid = relative_id(nodeid)
    if _GLOB & set(entry):
        return fnmatch.fnmatchcase(nodeid, entry) or fnmatch.fnmatchcase(
            nodeid.split("[", 1)[0], entry
        )
    if "::" not in entry:
        return nodeid.split("::", 1)[0] == entry
    return nodeid == entry or nodeid.startswith((entry + "[", entry + "::"))


def slow_ids(nodeids: Iterable[str], entries: Sequence[str]) -> list[str]:
    """The node ids among `nodeids` that some entry names, in their order."""
    return [n for n in nodeids if any(matches(n, e) for e in entries)]
