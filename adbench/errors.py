"""One line about an exception, for a ``reason`` cell or an error message.

Results rows, config errors and case failures all quote an exception in one line: a multi-line
message (XLA's, pydantic's) would tear a CSV record or a terminal table. This is the only place
that decides how.
"""

from __future__ import annotations


def first_line(exc: BaseException, *, with_type: bool = True) -> str:
    """``"Type: first line of the message"``; the type alone when the message is empty.

    ``with_type=False`` gives the first line alone (still the type name when there is no
    message), for messages that already say what kind of failure it is.
    """
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    if not lines or not lines[0].strip():
        return name
    text = lines[0].strip()
    return f"{name}: {text}" if with_type else text
