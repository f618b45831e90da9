"""valgrind's protocol, both ways: client requests from Python in, callgrind's output files out.

Client requests are valgrind.h's special instruction sequence: a no-op on a real CPU, a call into
the tool under valgrind. Python cannot emit machine code, so a 29-byte x86-64 function is written
to an executable page and called through ctypes; outside valgrind it returns its default and does
nothing. They give :mod:`adbench.count.instructions` what ``--dump-before=getppid`` with
``os.getppid()`` as the marker cannot: instrumentation switched on only for the counting (the JAX
import and compiles run at ~valgrind's minimum slowdown instead of callgrind's), counters zeroed
right before a region, and a dump *labelled* with the region's name. x86-64 only.

:func:`parse_callgrind` reads the labelled dumps back, minus the instructions of thread-pool idle
spinning (:data:`IDLE_FUNCTIONS`), the main noise found by benchmarks/instructions_check.py.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# --- region labels: what count_regions writes and parse_callgrind reads --------------------------

_LABEL_RE = re.compile(r"^adbench rep=(\d+) calls=(\d+) label=(.*)$")
_TRIGGER = "desc: Trigger: Client Request: "
MAX_LABEL_BYTES = 400

# Self cost of these functions is not counted. XLA's CPU runtime posts each execution to its
# thread pool; a woken Eigen worker spins looking for more work before it sleeps. Natively it spins
# on another core; valgrind runs one thread at a time, so whether a spin (~100k instructions) lands
# in a region depends on valgrind's scheduling: 0, 1 or 2 of them per region, up to 22% of a 64x64
# jacfwd region. Once they are out, the rest of a region varies by ~1k instructions (malloc, the
# interpreter), apart from rare glibc malloc_consolidate bursts (about 1 region in 100) that the
# median over repetitions absorbs. A renamed function stops matching: noise comes back, never a
# count short of real work.
IDLE_FUNCTIONS = re.compile(r"ThreadPoolTempl<.*>::(MaybeGetTask|WaitForWork|Steal|GlobalSteal)\(")


def region_label(label: str, rep: int, calls: int) -> str:
    """The dump label of repetition ``rep`` (``calls`` calls) of ``label``; one line, bounded."""
    if "\n" in label or "\r" in label or len(label.encode()) > MAX_LABEL_BYTES:
        raise ValueError(f"a label must be one line of <= {MAX_LABEL_BYTES} bytes: {label!r}")
    return f"adbench rep={rep} calls={calls} label={label}"


@dataclass(frozen=True)
class Region:
    """One counted region: ``instructions`` (all threads, idle spinning excluded, which is
    ``idle``) in ``calls`` calls of ``label``, repetition ``rep``."""

    label: str
    rep: int
    calls: int
    instructions: int
    idle: int = 0


def parse_callgrind(lines: Iterable[str], idle: re.Pattern[str] = IDLE_FUNCTIONS) -> list[Region]:
    """Regions labelled by :func:`region_label`, in file order, from callgrind output lines.

    A region is one part of a ``--combine-dumps=yes`` file (or one file per dump) whose trigger
    is ``Client Request: adbench ...``; other parts (program termination) are skipped. Its count is
    the part's ``totals:`` line, the sum of what the part lists, minus the self cost of functions
    matching ``idle``. (``summary:`` is not used: in callgrind 3.19 the first region's held all
    instructions since instrumentation started, 38 M against a total of 0.9 M, and the part after
    instrumentation stopped had wrapped around below zero.) Reads the ``Ir`` event wherever
    ``positions:``/``events:`` put it; ``calls=`` lines are followed by a call's inclusive cost,
    which is not self cost and is skipped.
    """
    regions: list[Region] = []
    label: tuple[str, int, int] | None = None
    totals: int | None = None
    idle_sum = 0
    n_positions, ir_index = 1, 0
    names: dict[str, str] = {}
    idle_ids: dict[str, bool] = {}
    in_idle = skip_next = False

    def close() -> None:
        if label is not None and totals is not None:
            regions.append(Region(label[0], label[1], label[2], totals - idle_sum, idle_sum))

    def name_of(spec: str) -> tuple[str, str]:  # "(12) name", "(12)" or "name" -> (key, name)
        if spec.startswith("("):
            key, _, name = spec.partition(")")
            name = name.strip()
            if name:
                names[key] = name
            return key, names.get(key, "")
        return spec, spec

    for raw in lines:
        c = raw[:1]
        if c.isdigit() or c in "+-*":  # a cost line
            if skip_next:
                skip_next = False
            elif in_idle:
                values = raw.split()[n_positions:]
                if len(values) > ir_index:
                    idle_sum += int(values[ir_index])
        elif raw.startswith("fn="):
            key, name = name_of(raw[3:].rstrip("\n"))
            if key not in idle_ids:
                idle_ids[key] = bool(idle.search(name))
            in_idle = idle_ids[key]
        elif raw.startswith("cfn="):
            name_of(raw[4:].rstrip("\n"))  # names may be defined at a call site
        elif raw.startswith("calls="):
            skip_next = True
        elif raw.startswith("part:"):
            close()
            label, totals, idle_sum, in_idle = None, None, 0, False
        elif raw.startswith(_TRIGGER):
            m = _LABEL_RE.match(raw[len(_TRIGGER) :].rstrip("\n"))
            label = (m.group(3), int(m.group(1)), int(m.group(2))) if m else None
        elif raw.startswith("positions:"):
            n_positions = len(raw.split(":", 1)[1].split())
        elif raw.startswith("events:"):
            events = raw.split(":", 1)[1].split()
            ir_index = events.index("Ir") if "Ir" in events else 0
        elif raw.startswith("totals:"):
            totals = int(raw.split(":", 1)[1].split()[ir_index])
    close()
    return regions


# --- client requests (x86-64) --------------------------------------------------------------------

# uint64 request(uint64 *args /* rdi */, uint64 default /* rsi */): valgrind.h's amd64 sequence.
_REQUEST_CODE = bytes.fromhex(
    "4889f8"  # mov rax, rdi: the 6-word block (request, arg1..arg5)
    "4889f2"  # mov rdx, rsi: the result when not under valgrind
    "48c1c703"  # rol rdi, 3
    "48c1c70d"  # rol rdi, 13
    "48c1c73d"  # rol rdi, 61
    "48c1c733"  # rol rdi, 51: 128 bits in all, a no-op
    "4887db"  # xchg rbx, rbx: valgrind reads "client request in rax, result in rdx"
    "4889d0"  # mov rax, rdx
    "c3"  # ret
)
# void cpuid(uint32 leaf /* edi */, uint32 subleaf /* esi */, uint32 out[4] /* rdx */)
_CPUID_CODE = bytes.fromhex(
    "53"  # push rbx: callee-saved, cpuid overwrites it
    "4989d0"  # mov r8, rdx: cpuid overwrites rdx too
    "89f8"  # mov eax, edi
    "89f1"  # mov ecx, esi
    "0fa2"  # cpuid
    "418900"  # mov [r8], eax
    "41895804"  # mov [r8 + 4], ebx
    "41894808"  # mov [r8 + 8], ecx
    "4189500c"  # mov [r8 + 12], edx
    "5b"  # pop rbx
    "c3"  # ret
)
_CT = (ord("C") << 24) | (ord("T") << 16)  # VG_USERREQ_TOOL_BASE('C', 'T'): callgrind's requests
ZERO_STATS, DUMP_STATS_AT = _CT + 1, _CT + 3
START_INSTRUMENTATION, STOP_INSTRUMENTATION = _CT + 4, _CT + 5
RUNNING_ON_VALGRIND = 0x1001
_native: dict[str, Any] = {}


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def _function(name: str, code: bytes, restype: Any, *argtypes: Any) -> Any:
    if name not in _native:
        if not is_x86_64():
            raise OSError(f"valgrind client requests are x86-64 only, not {platform.machine()}")
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(code)
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        _native[name] = (page, ctypes.CFUNCTYPE(restype, *argtypes)(address))  # page kept alive
    return _native[name][1]


class Request:
    """A prepared client request (``DUMP_STATS_AT`` with its label text): the argument block is
    built once, so calling it inside a region adds only the ctypes call to the count."""

    def __init__(self, code: int, text: str | None = None) -> None:
        self._text = ctypes.create_string_buffer(text.encode()) if text is not None else None
        arg = ctypes.addressof(self._text) if self._text is not None else 0
        self._block = (ctypes.c_uint64 * 6)(code, arg, 0, 0, 0, 0)
        self._address = ctypes.addressof(self._block)
        argtypes = (ctypes.c_void_p, ctypes.c_uint64)
        self._fn = _function("request", _REQUEST_CODE, ctypes.c_uint64, *argtypes)

    def __call__(self) -> int:
        return int(self._fn(self._address, 0))


def running_on_valgrind() -> bool:
    """True inside a valgrind'd process."""
    return Request(RUNNING_ON_VALGRIND)() > 0


# (flag, leaf, subleaf, register eax=0 ebx=1 ecx=2 edx=3, bit): ISA extensions that LLVM and
# XLA choose code by; the names are /proc/cpuinfo's.
CPU_FLAGS = (
    ("sse4_2", 1, 0, 2, 20),
    ("fma", 1, 0, 2, 12),
    ("avx", 1, 0, 2, 28),
    ("f16c", 1, 0, 2, 29),
    ("avx2", 7, 0, 1, 5),
    ("avx512f", 7, 0, 1, 16),
    ("avx512dq", 7, 0, 1, 17),
    ("avx512bw", 7, 0, 1, 30),
    ("avx512vl", 7, 0, 1, 31),
    ("avx512_vnni", 7, 0, 2, 11),
    ("avx512_bf16", 7, 1, 0, 5),
    ("avx_vnni", 7, 1, 0, 4),
    ("amx_tile", 7, 0, 3, 24),
)


def cpu_seen() -> str:
    """The CPU as this process's CPUID reports it: brand string and the flags of CPU_FLAGS.

    Under valgrind this is valgrind's synthetic CPU, which is what LLVM/XLA compile for there
    (valgrind 3.19 on an AVX-512 AMD EPYC: "Intel(R) Core(TM) i7-4910MQ", AVX2 and no AVX-512).
    """
    fn = _function("cpuid", _CPUID_CODE, None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p)

    def cpuid(leaf: int, subleaf: int = 0) -> list[int]:
        out = (ctypes.c_uint32 * 4)()
        fn(leaf, subleaf, ctypes.addressof(out))
        return list(out)

    max_leaf = cpuid(0)[0]
    brand = b"".join(
        r.to_bytes(4, "little") for leaf in range(0x80000002, 0x80000005) for r in cpuid(leaf)
    )
    flags = [
        name
        for name, leaf, sub, reg, bit in CPU_FLAGS
        if leaf <= max_leaf and cpuid(leaf, sub)[reg] >> bit & 1
    ]
    text = brand.rstrip(b"\0").strip().decode(errors="replace")
    return f"{text} [{' '.join(flags)}]"
