"""What a run is asked to do: one frozen value holding every option, from either door.

``adbench run`` (adbench.cli.run) and ``adbench.run()`` (adbench.api) each build a
:class:`RunRequest` from what they were given and hand it to
:func:`adbench.session.checks.prepare`; neither checks an option itself, so a refusal reads
the same from both (tests/session/test_doors.py runs every refused combination through both).
Options keep their command-line spelling in messages (``--max-memory``, ``--shard``): that is
the manual's vocabulary, and the keyword arguments of ``adbench.run`` carry the same names.

The parsers of option values (sizes such as ``8GiB``, seconds, ``I/N``) live here once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adbench.config.cases import Case
    from adbench.config.model import LoadedConfig
    from adbench.measure.outcome import CaseResult
    from adbench.session.sweep import Engine, Planned

DEFAULT = "default"  # max_memory: a share of the memory available at the start
ENGINES = ("local", "ray")
MEASURES = ("time", "instructions")
DEVICES = ("cpu", "gpu", "tpu", "all")
# The longest --case-timeout: a week per case. Beyond it a timeout is no longer a bound anyone
# means, and the waits that enforce it overflow (1e12 s does, in threading's TIMEOUT_MAX).
MAX_CASE_TIMEOUT_S = 7 * 24 * 3600.0


class RequestError(ValueError):
    """Options that cannot run as given: each problem one line naming the option. The command
    line prints them as `error:` lines and exits 2; nothing has been written."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems: tuple[str, ...] = problems


@dataclass(frozen=True)
class Hooks:
    """What the caller hears while a run goes: a case starts (planned, index, total; the total
    is None while a size range is searched, since the search adds sizes), a case ends, a note
    (a repaired file, a searched range's outcome), and, with a hard exit, the one line said as
    Ctrl-C ends the process (default: stderr; it may be called from another thread). None:
    nothing is said."""

    on_start: Callable[[Planned, int, int | None], None] | None = None
    on_done: Callable[[Planned, CaseResult], None] | None = None
    on_note: Callable[[str], None] | None = None
    on_interrupt: Callable[[str], None] | None = None


@dataclass(frozen=True)
class RunRequest:
    """Every option of one run. Exactly one of `config` (a run file's path; None with neither
    given: configs/seed.yaml) and `loaded` (a config already read, e.g. built from a Python
    factory) is used; `cases`, when given, are the already-built cases of `loaded` to measure
    instead of expanding it (a factory defined in a notebook, a single call to measure).

    max_memory: bytes, a size text (``"8GiB"``, ``"512MB"``, ``"off"``), None (no guard) or
    DEFAULT. case_timeout: seconds, or None (cases run in this process). shard: ``"I/N"``.
    engine: local or ray (address: the cluster's, HOST:PORT). measure: time or instructions.
    hard_exit: Ctrl-C ends the process (after writing what is whole; the results directory's
    lock held until it is gone) instead of raising KeyboardInterrupt: the command line's choice,
    since XLA may not return to Python for minutes, and a notebook's kernel must survive.
    """

    config: Path | None = None
    loaded: LoadedConfig | None = None
    cases: tuple[Case, ...] | None = None
    out: Path | None = None
    default_out: str = "results"  # "results": results/<name>-<stamp>; "temporary": a temp dir
    device: str | None = None
    resume: bool = False
    force: bool = False
    only: tuple[str, ...] = ()
    dry_run: bool = False
    max_memory: int | str | None = DEFAULT
    case_timeout: float | None = None
    shard: str | None = None
    engine: str = "local"
    address: str | None = None
    measure: str = "time"
    hard_exit: bool = False
    hooks: Hooks = field(default_factory=Hooks)
    engine_override: Engine | None = None  # tests and embedders: measure with this engine

    def resume_options(self) -> dict[str, str | None]:
        """The options a `--resume` must repeat, as written on the command line."""
        return {
            "--device": self.device,
            "--max-memory": None if self.max_memory == DEFAULT else _bytes_text(self.max_memory),
            "--case-timeout": f"{self.case_timeout:g}" if self.case_timeout else None,
            "--shard": self.shard.strip() if self.shard else None,
            "--engine": "ray" if self.engine == "ray" else None,
            "--address": self.address,
            "--measure": self.measure if self.measure != "time" else None,
        }


def _bytes_text(value: int | str | None) -> str:
    return "off" if value is None else str(value)


# --------------------------------------------------------------------------- option values

# Binary units are the memory guard's (device memory comes in powers of two); decimal ones are
# what disks and `free -h --si` say. A bare letter (8g) is refused: it is read both ways.
_UNITS = {
    "": 1,
    "b": 1,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}


def parse_bytes(text: str, option: str = "--max-memory") -> int:
    """``"8GiB"`` -> 8 * 2**30, ``"8GB"`` -> 8 * 10**9, ``"2e9"`` -> 2000000000 bytes.
    RequestError for anything else, a bare ``8g`` included (GiB or GB? say which)."""
    s = text.strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num) :]
    try:
        value = float(num)
    except ValueError:
        value = -1.0
    if unit in ("k", "m", "g", "t") and value > 0:
        raise RequestError(
            f"{option} {text!r}: say which unit: {num}{unit.upper()}iB ({unit.upper()}iB = "
            f"2^{10 * ('kmgt'.index(unit) + 1)} bytes) or {num}{unit.upper()}B (10^"
            f"{3 * ('kmgt'.index(unit) + 1)} bytes)"
        )
    if not value > 0 or not math.isfinite(value) or unit not in _UNITS:
        raise RequestError(
            f"{option} {text!r}: expected a size such as 8GiB (binary), 8GB (decimal), "
            "512MiB or 2e9 (bytes)"
        )
    return int(value * _UNITS[unit])


def memory_budget(value: int | str | None) -> tuple[int | None, bool]:
    """(--max-memory in bytes or None for no guard, whether it is the default)."""
    from adbench.measure import memory

    if value == DEFAULT:
        return memory.default_budget(), True
    if value is None:
        return None, False
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RequestError(
            f"--max-memory {value!r}: bytes, a size such as 8GiB, 'off' or {DEFAULT!r}"
        )
    if isinstance(value, int):
        if value <= 0:
            raise RequestError(f"--max-memory {value}: expected a number of bytes > 0")
        return value, False
    if value.strip().lower() in ("off", "none"):
        return None, False
    return parse_bytes(value), False


def check_case_timeout(value: float | None) -> float | None:
    """--case-timeout: seconds > 0, finite, at most MAX_CASE_TIMEOUT_S."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"--case-timeout {value!r}: expected a number of seconds")
    if not value > 0:
        raise RequestError(f"--case-timeout {value:g}: expected a number of seconds > 0")
    if not value <= MAX_CASE_TIMEOUT_S:
        raise RequestError(
            f"--case-timeout {value:g}: at most {MAX_CASE_TIMEOUT_S:g} seconds (a week); "
            "leave it out for no timeout"
        )
    return float(value)


def check_choice(option: str, value: str | None, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise RequestError(f"{option} {value!r}: expected one of {', '.join(choices)}")
