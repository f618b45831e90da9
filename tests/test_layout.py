"""The package layout holds (STYLE.md): the import-linter contracts of pyproject.toml are kept,
one helper says an exception in one line, and every formatter lives in adbench/fmt.py."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
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


def _code_tokens(text: str) -> list[tokenize.TokenInfo]:
    """The tokens of a module's code (comments and docstrings are their own token types)."""
    return list(tokenize.generate_tokens(io.StringIO(text).readline))


def test_the_mad_to_sigma_constant_is_written_once() -> None:
    """1.4826 (MAD -> sigma of a normal) lives in analysis/stats.py; a second literal drifts."""
    found = [
        p.relative_to(ROOT)
        for p, text in _sources()
        if any(t.type == tokenize.NUMBER and t.string == "1.4826" for t in _code_tokens(text))
    ]
    assert found == [Path("adbench/analysis/stats.py")]


# a verdict word or axis name bound to its literal: decision.py's job alone
_WORD = re.compile(
    r'^\s*(TIE|NONE|UNDECIDED|FWD|REV|AXIS_\w+)(\s*,\s*\w+)*\s*=\s*"', flags=re.MULTILINE
)


def test_verdict_words_and_axis_names_are_defined_once() -> None:
    found = {p.relative_to(ROOT) for p, text in _sources() if _WORD.search(text)}
    assert found == {Path("adbench/analysis/decision.py")}


def test_one_resume_rule_and_one_decisive_rule() -> None:
    """Every --resume conflict is judged in session/resume.py (there were three rules, two named
    resume_conflict); "is this verdict decisive" is analysis/decision.is_decisive (five copies),
    which compare/gate.py's _decisive only calls."""
    conflict = re.compile(r"def (\w*conflict|check_resume)\(")
    assert {p.relative_to(ROOT) for p, text in _sources() if conflict.search(text)} == {
        Path("adbench/session/resume.py")
    }
    decisive = re.compile(r"def (\w*decisive\w*)\(")
    owners = {p.relative_to(ROOT): decisive.findall(text) for p, text in _sources()}
    owners = {p: names for p, names in owners.items() if names}
    assert owners.get(Path("adbench/analysis/decision.py")) == ["is_decisive"]
    for p in set(owners) - {Path("adbench/analysis/decision.py")}:
        body = (ROOT / p).read_text(encoding="utf-8")
        for name in owners[p]:
            block = body.split(f"def {name}(", 1)[1].split("\ndef ", 1)[0]
            assert "is_decisive(" in block, f"{p}: {name} decides on its own"
