"""A griffe extension for the API reference: Sphinx roles in adbench's docstrings as code.

adbench's docstrings name other objects the Sphinx way (``:func:`run```, ``:class:`~a.b.C```);
mkdocstrings renders docstrings as Markdown, where the role would show as text. This rewrites
each role to a code span of the name (``~`` keeps the last component, as in Sphinx), so the
sources stay as they are. Loaded by mkdocs.yml (plugins: mkdocstrings: ... extensions) and
left out of the site (exclude_docs).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|obj|exc|const|py:\w+):`(~?)([^`<]+?)`")


def _name(match: re.Match[str]) -> str:
    tilde, name = match.groups()
    return f"`{name.rsplit('.', 1)[-1] if tilde else name}`"


def plain(text: str) -> str:
    """`text` with every Sphinx cross-reference role turned into a Markdown code span."""
    return ROLE.sub(_name, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
