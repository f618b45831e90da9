"""docs/architecture.md lists every module of adbench/ with its docstring's first sentence."""

from __future__ import annotations

import module_tree


def test_the_architecture_page_lists_every_module_as_the_code_describes_it() -> None:
    page = module_tree.PAGE.read_text(encoding="utf-8")
    assert module_tree.page_with_listing(page) == page, (
        "docs/architecture.md is stale: run `python tests/module_tree.py --write`"
    )
    for path in module_tree.modules():
        assert f"\n{path.as_posix()} " in page or f"\n{path.as_posix()}\n" in page


def test_every_module_has_a_docstring() -> None:
    missing = [p for p in module_tree.modules() if not module_tree.first_line(module_tree.ROOT / p)]
    assert not missing, f"modules without a docstring: {missing}"
