"""Cut a real callgrind output down to the golden file tests/count/test_instructions.py reads.

    .venv/bin/python tests/data/instructions/make_golden.py FULL_CALLGRIND_OUT > callgrind.out

FULL_CALLGRIND_OUT comes from a real count (valgrind 3.19, the flags of VALGRIND_FLAGS):

    from pathlib import Path
    from adbench.count import instructions as ins
    spec = ins.WorkerSpec(builder="instructions_jobs:scan_jobs", kwargs={"steps": [4, 8]},
                          reps=3, calls=2, sys_path=("tests/count",))
    ins.run_under_valgrind(spec, workdir=Path("/tmp/golden"), timeout=600)

Each part keeps its header, its totals line, every block of an idle function (so the parsed
counts are unchanged) and its first two other function blocks, and the rest of the function
records is dropped. Compressed names ``(id)`` get their name at their first use in the cut file,
as callgrind writes them. Refuses to write a file that parses differently from the full one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from adbench.count.valgrind import IDLE_FUNCTIONS, parse_callgrind  # noqa: E402

SPACE = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl", "cfi": "fl", "cfl": "fl"}
SPACE |= {"fn": "fn", "cfn": "fn"}
REF = re.compile(r"^(\w+)=\((\d+)\)(?: (.*))?$")
KEEP_OTHER = 2


def cut(lines: list[str]) -> list[str]:
    names: dict[tuple[str, str], str] = {}
    for line in lines:  # every compressed name of the full file
        m = REF.match(line)
        if m and m.group(1) in SPACE and m.group(3):
            names[(SPACE[m.group(1)], m.group(2))] = m.group(3)
    out: list[str] = []
    emitted: set[tuple[str, str]] = set()
    block: list[str] = []
    context: dict[str, str] = {}
    others = 0

    def emit(line: str) -> None:
        m = REF.match(line)
        if m and m.group(1) in SPACE:
            key = (SPACE[m.group(1)], m.group(2))
            line = f"{m.group(1)}=({m.group(2)})"
            if key not in emitted:
                emitted.add(key)
                line += f" {names[key]}"
        out.append(line)

    def flush() -> None:
        nonlocal others
        if not block:
            return
        m = REF.match(block[0])
        idle = bool(m and IDLE_FUNCTIONS.search(names.get(("fn", m.group(2)), "")))
        if idle or others < KEEP_OTHER:
            others += not idle
            for kind in ("ob", "fl"):
                if kind in context:
                    emit(context[kind])
            for line in block:
                emit(line)
            out.append("")
        block.clear()

    in_body = False
    for line in lines:
        if line.startswith(("part:", "totals:")) or (not in_body and not REF.match(line)):
            flush()
            if line.startswith("part:"):
                in_body, others, context = False, 0, {}
            out.append(line)
            continue
        in_body = True
        kind = line.split("=", 1)[0]
        if kind in ("ob", "fl") and not block:
            context[kind] = line
        elif kind == "fn":
            flush()
            block.append(line)
        elif kind in ("ob", "fl"):
            flush()
            context[kind] = line
        elif block:
            block.append(line)
    flush()
    return out


def main() -> None:
    full = Path(sys.argv[1]).read_text(encoding="utf-8", errors="replace").splitlines()
    golden = [line.rstrip() for line in cut(full)]
    if parse_callgrind(golden) != parse_callgrind(full):
        raise SystemExit("the cut file parses differently from the full one")
    sys.stdout.write("\n".join(golden) + "\n")


if __name__ == "__main__":
    main()
