"""The schema-2 golden directories (tests/data/v2) are what the writer and the analysis produce
today: rebuilt from tests/data/v2/make.py, the same files, columns, rows and text, and the same
numbers to 1e-9 relative. Not byte for byte: slopes and intervals go through BLAS/LAPACK (a
least-squares fit) and numpy's SIMD reductions, whose last bit differs between CPUs (OpenBLAS's
SkylakeX kernels put one ulp on ``slope_jacfwd``). Bytes are compared only where they are exact
by construction: text cells, and each meta.json's data stamps against its own files."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from adbench.store import reader, schema

V2 = Path(__file__).parents[1] / "data" / "v2"
REL = 1e-9  # far above an ulp (2e-16), far below any difference a report could show


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def same_cell(a: str, b: str) -> bool:
    x, y = number(a), number(b)
    if x is None or y is None or a == b:
        return a == b
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=REL, abs_tol=1e-300)


def same_value(a: Any, b: Any) -> bool:
    """JSON values equal, floats to REL."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float) and isinstance(b, int | float) and same_cell(str(a), str(b))
        )
    return bool(a == b)


def differences(got: Path, want: Path) -> list[str]:
    """What differs between two results directories, beyond REL in numbers."""
    out = []
    names = sorted(p.name for p in want.iterdir())
    if sorted(p.name for p in got.iterdir()) != names:
        return [f"files {sorted(p.name for p in got.iterdir())} != {names}"]
    for name in names:
        a, b = (got / name).read_text(encoding="utf-8"), (want / name).read_text(encoding="utf-8")
        if name.endswith(".csv"):
            ra, rb = list(csv.reader(io.StringIO(a))), list(csv.reader(io.StringIO(b)))
            if len(ra) != len(rb) or ra[:1] != rb[:1]:
                out.append(f"{name}: {len(ra)} lines / header differ")
                continue
            header = rb[0]
            for i, (x, y) in enumerate(zip(ra[1:], rb[1:], strict=True), start=2):
                bad = [h for h, p, q in zip(header, x, y, strict=True) if not same_cell(p, q)]
                if bad or len(x) != len(y):
                    out.append(f"{name}:{i}: {', '.join(bad) or 'length'}")
        elif name == schema.META_FILE:
            ma, mb = json.loads(a), json.loads(b)
            # the stamps hash their own directory's bytes: each must match its own files
            for m, d in ((ma, got), (mb, want)):
                stamp = reader.data_stamp(d)
                if any(v != stamp for v in m.get("derived", {}).values()):
                    out.append(f"{d / name}: a derived stamp does not match its data")
            ma.pop("derived", None), mb.pop("derived", None)
            if not same_value(ma, mb):
                out.append(f"{name}: differs")
        elif a != b:
            out.append(f"{name}: differs")
    return out


def build(tmp_path: Path) -> Path:
    spec = importlib.util.spec_from_file_location("make_v2", V2 / "make.py")
    assert spec is not None and spec.loader is not None
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.build(tmp_path)
    return tmp_path


def test_v2_goldens_are_what_the_writer_writes(tmp_path: Path) -> None:
    built = build(tmp_path)
    for name in ("report", "compare/base", "compare/cur"):
        assert differences(built / name, V2 / name) == [], f"{name}: run tests/data/v2/make.py"


def test_the_comparison_forgives_an_ulp_and_nothing_more(tmp_path: Path) -> None:
    built = build(tmp_path)
    path = built / "report" / schema.CROSSOVER_FILE
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    col = rows[0].index("slope_jacfwd")
    row = next(i for i, r in enumerate(rows) if i and number(r[col]) is not None)
    slope = float(rows[row][col])

    def with_slope(value: float) -> list[str]:
        rows[row][col] = repr(value)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
        return differences(built / "report", V2 / "report")

    assert with_slope(math.nextafter(slope, math.inf)) == []  # one ulp: the SkylakeX case
    assert with_slope(slope * (1 + 1e-6)) == [f"{schema.CROSSOVER_FILE}:{row + 1}: slope_jacfwd"]
    rows[row][rows[0].index("outcome")] = "tie"  # text is compared exactly
    assert any("outcome" in d for d in with_slope(slope))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("1.5", "1.5", True), ("0.30000000000000004", "0.3", True), ("1e-3", "0.001", True),
     ("1.0", "1.000001", False), ("", "", True), ("", "0", False), ("jacfwd", "jacrev", False),
     ("nan", "nan", True), ("inf", "inf", True), ("1", "inf", False)],
)  # fmt: skip
def test_same_cell(a: str, b: str, same: bool) -> None:
    assert same_cell(a, b) is same
