"""The package layout holds (STYLE.md): the import-linter contracts of pyproject.toml are kept,
one helper says an exception in one line, and every formatter lives in adbench/fmt.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "adbench"


def test_import_contracts_are_kept() -> None:
    """Layers (cli -> compare -> render | run -> analysis -> store), no cycles inside a package,
    typer only in the CLI, no JAX when reading results."""
    pytest.importorskip("importlinter")
    out = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "4 kept, 0 broken" in out.stdout


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]


def test_one_helper_takes_the_first_line_of_an_exception() -> None:
    lines = re.compile(r"str\(\w+\)[^\n]*splitlines\(\)")
    assert [p.relative_to(ROOT) for p, text in _sources() if lines.search(text)] == [
        Path("adbench/errors.py")
    ]


def test_no_module_formats_units_of_its_own() -> None:
    """Seconds, bytes and sizes are formatted once, in adbench/fmt.py."""
    own = re.compile(r"def (fmt_\w+|_fmt)\(")
    found = [p.relative_to(ROOT) for p, text in _sources() if own.search(text)]
    assert found == []
    units = re.compile(r'\("(µs|KiB|MiB|GiB)", ')
    assert [p.relative_to(ROOT) for p, text in _sources() if units.search(text)] == [
        Path("adbench/fmt.py")
    ]
