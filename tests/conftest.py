"""Shared fixtures. Tests run on the CPU backend with small, fast configs."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from slow_tier import LIST, matches, read_entries

# Keep JAX on the CPU and quiet, whatever the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: over a few seconds; `pytest -m 'not slow'` is the fast tier (tests/slow_tests.txt)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests tests/slow_tests.txt names as slow (see tests/slow_tier.py): the list is
    kept in one file so no test file needs editing to move a test between the tiers."""
    entries = read_entries(LIST.read_text(encoding="utf-8"))
    for item in items:
        if any(matches(item.nodeid, e) for e in entries):
            item.add_marker(pytest.mark.slow)


# Settings that keep a real measurement short: a few tiny samples per case, and the classic two
# strategies (a run file without `strategies` measures every strategy of its task).
FAST = """\
modes: [jacfwd, jacrev]
time_budget_s: 0.05
min_sample_s: 0.0005
min_rounds: 3
max_rounds: 6
"""


@pytest.fixture
def write_config(tmp_path: Path):
    """write_config(body, name="run.yaml") -> path of a YAML file with FAST settings prepended."""

    def _write(body: str, name: str = "run.yaml", fast: bool = True) -> Path:
        path = tmp_path / name
        text = (FAST if fast else "") + textwrap.dedent(body)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def classic_config(write_config):
    """The classic experiment at n = 2000: forward should win R^1->R^n, reverse R^n->R^1."""
    return write_config(
        """\
        name: classic
        families:
          - name: power
            builtin: power
            d_in: [1]
            d_out: [2000]
          - name: mean_squares
            builtin: mean_squares
            d_in: [2000]
            d_out: [1]
        """
    )
