"""The schema-2 golden directories (tests/data/v2) are exactly what the writer and the analysis
produce today: rebuilt from tests/data/v2/make.py, byte for byte."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from builders import dump

V2 = Path(__file__).parent / "data" / "v2"


def test_v2_goldens_are_what_the_writer_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_v2", V2 / "make.py")
    assert spec is not None and spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.build(tmp_path)
    for name in ("report", "compare/base", "compare/cur"):
        assert dump(tmp_path / name) == dump(V2 / name), f"{name}: run tests/data/v2/make.py"
