"""The fast tier: which tests tests/slow_tests.txt names (tests/slow_tier.py), and that conftest
marks them so ``pytest -m "not slow"`` leaves them out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from slow_tier import LIST, matches, read_entries, slow_ids

ROOT = Path(__file__).resolve().parent.parent


def test_entries_drop_comments_blanks_and_a_tests_prefix():
    text = "# header\n\ntest_ray.py   # a cluster\n  tests/test_cli.py::test_run  \n#x\n"
    assert read_entries(text) == ["test_ray.py", "test_cli.py::test_run"]


@pytest.mark.parametrize(
    ("nodeid", "entry", "expected"),
    [
        ("tests/test_ray.py::test_kill", "test_ray.py", True),  # a file names all its tests
        ("tests/test_ray2.py::test_kill", "test_ray.py", False),  # not a prefix of the name
        ("tests/count/test_instructions.py::test_a", "count/test_instructions.py", True),
        ("tests/test_instructions.py::test_a", "count/test_instructions.py", False),
        ("tests/test_cli.py::test_run", "test_cli.py::test_run", True),
        ("tests/test_cli.py::test_run[a-1]", "test_cli.py::test_run", True),  # its params
        ("tests/test_cli.py::test_run_twice", "test_cli.py::test_run", False),  # another test
        ("tests/test_cli.py::TestResume::test_x", "test_cli.py::TestResume", True),  # a class
        ("tests/test_cli.py::test_run", "test_cli.py::test_run[a-1]", False),  # one param only
        ("tests/test_search.py::test_a_end_to_end", "test_search.py::test_*_end_to_end", True),
        ("tests/test_search.py::test_a_end_to_end[x]", "test_search.py::test_*_end_to_end", True),
        ("tests/test_search.py::test_a_end", "test_search.py::test_*_end_to_end", False),
        ("tests/test_cli.py::test_run", "test_c?i.py::*", True),
    ],
)
def test_an_entry_names_a_file_a_test_its_parameters_or_a_pattern(nodeid, entry, expected):
    assert matches(nodeid, entry) is expected


def test_entries_naming_nothing_are_ignored():
    ids = ["tests/a.py::t1", "tests/b.py::t2", "tests/b.py::t3"]
    assert slow_ids(ids, ["gone.py", "b.py::t3", "a.py::renamed"]) == ["tests/b.py::t3"]


def test_the_list_is_small_and_names_files_that_exist():
    """A whole file listed must exist (a test listed alone may be renamed: ignored), and the list
    stays short enough to read."""
    entries = read_entries(LIST.read_text(encoding="utf-8"))
    assert 0 < len(entries) <= 60
    for entry in entries:
        path = entry.split("::", 1)[0]
        if not set("*?[") & set(path):
            assert (ROOT / "tests" / path).is_file(), f"slow_tests.txt: {path} is not a test file"


def test_not_slow_deselects_what_the_list_names():
    """Through pytest itself: collecting this file and the slow-listed quick-start test with
    ``-m "not slow"`` keeps this file's tests and drops that one; ``-m slow`` the reverse."""
    target = "tests/test_docs.py::test_quick_start_runs_as_written"
    assert any(matches(target, e) for e in read_entries(LIST.read_text(encoding="utf-8")))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def collected(marker: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "-m", marker, target, "tests/test_tiers.py"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode in (0, 5), done.stdout + done.stderr
        return [line for line in done.stdout.splitlines() if "::" in line]

    fast = collected("not slow")
    assert target not in fast and any(i.startswith("tests/test_tiers.py::") for i in fast)
    assert collected("slow") == [target]
