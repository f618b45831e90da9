"""adbench.errors.first_line: an exception in one line, for reason cells and messages."""

from __future__ import annotations

from adbench.errors import first_line


def test_first_line_of_a_long_message_with_its_type():
    exc = RuntimeError("  XLA said no\nwith a traceback\nof many lines ")
    assert first_line(exc) == "RuntimeError: XLA said no"
    assert first_line(exc, with_type=False) == "XLA said no"


def test_an_empty_message_is_the_type_alone():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(ValueError("\n  \n"), with_type=False) == "ValueError"
