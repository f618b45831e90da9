"""Measurements -> files. The only code that writes into a results directory.

A run appends to ``samples.csv`` and then ``results.csv`` as each case finishes, one ``write``
per file and case, synced to disk, with Ctrl-C deferred for those few microseconds; so a killed
process keeps every completed case and at worst leaves a torn last line. A write that fails
(disk full, a file-size limit, a read-only directory) is a :class:`WriteError` naming the file
and the OS error, and the files are cut back to where they were before the case, so nothing is
half-written. Whole files (``meta.json``, the derived tables, a report) are replaced atomically
through a temporary file that is removed when the write fails.

A run holds an exclusive lock on its results directory (:func:`locked`, a ``flock`` on
``.lock`` inside it), so two runs never write into one directory at once; the second is refused
with the holder's pid, host and start time.

``meta.json`` is written at the start and rewritten (atomically) at the end; with it goes
``derived``: for each derived table written, the stamp of the data it was computed from (see
:func:`adbench.store.reader.derived_fresh`).

Longer than ~400 lines on purpose: appending, cutting a failed case back, atomic replacement and the
directory lock are one crash-safety contract over the same files; they are read and tested together
(tests/store/test_store_write_failures.py, tests/store/test_store_lock.py).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import io
import json
import math
import os
import signal
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from adbench.store import schema
from adbench.store.reader import ResultsError, data_stamp, read_meta

LOCK_FILE = ".lock"
# Everything adbench itself writes into a results directory (plus ".<name>.tmp" while writing).
OWN_FILES = (
    schema.RESULTS_FILE,
    schema.SAMPLES_FILE,
    schema.VERDICTS_FILE,
    schema.CROSSOVER_FILE,
    schema.RANKING_FILE,
    schema.META_FILE,
)
DERIVED_FILES = (schema.VERDICTS_FILE, schema.CROSSOVER_FILE, schema.RANKING_FILE)


class WriteError(ResultsError):
    """A file could not be written: ``str(err)`` names the path and the OS error."""

    def __init__(self, path: Path | str, exc: OSError) -> None:
        why = exc.strerror or str(exc) or type(exc).__name__
        super().__init__(f"{path}: cannot write: {why}")
        self.path = Path(path)
        self.errno = exc.errno


class LockedError(ResultsError):
    """Another run holds the results directory's lock."""


def safe_path(directory: Path, name: str) -> Path:
    """``directory / name`` for a file adbench writes, refusing a `name` that could leave it.

    Run and family names are restricted to ``[A-Za-z0-9][A-Za-z0-9_.-]*`` by the config, so
    this never fires for them; it is the last line of defence for any writer building a file
    name from user text.
    """
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or Path(name).is_absolute()
    ):
        raise ResultsError(f"{name!r} cannot be a file name inside {directory}")
    return directory / name


def _format(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision, round-trips exactly
    if isinstance(value, str):
        # one record per line, always: a torn line is then exactly the unterminated tail
        return " ".join(value.splitlines())
    return value


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` whole: a reader sees the old file or the new one. On failure
    the temporary file is removed and :class:`WriteError` names `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise WriteError(path, exc) from None
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block until the block is done.

    A store is a couple of write() calls; letting KeyboardInterrupt land between them would
    tear a line for nothing. Outside the main thread signals cannot be handled; nothing to do.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending and callable(previous):
        previous(signal.SIGINT, None)


def is_own_file(name: str) -> bool:
    """Whether `name` is a file adbench writes into a results directory (or its temporary)."""
    return name in OWN_FILES or name == LOCK_FILE or any(name == f".{o}.tmp" for o in OWN_FILES)


def _not_a_directory_above(d: Path) -> Path | None:
    """The nearest existing ancestor of `d` that is not a directory (`--out afile/sub`)."""
    for parent in d.parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None


def check_out_dir(d: Path, *, resume: bool, force: bool) -> None:
    """Refuse to write into something that is not ours to overwrite.

    An empty or missing directory is fine. A non-empty one must be an adbench results
    directory (it has meta.json) and needs --resume (which also checks its schema version) or
    --force. A directory of other files is never written into, whatever the options.
    """
    if d.exists() and not d.is_dir():
        raise ResultsError(f"{d}: exists and is not a directory; choose another --out")
    blocker = _not_a_directory_above(d)
    if blocker is not None:
        raise ResultsError(f"{d}: cannot be created: {blocker} is a file, not a directory")
    if not d.is_dir():
        return
    try:
        names = [p.name for p in d.iterdir() if p.name != LOCK_FILE]
    except OSError as exc:
        raise ResultsError(f"{d}: cannot be read ({exc.strerror or exc})") from None
    if not names:
        return
    if not (d / schema.META_FILE).is_file():
        raise ResultsError(
            f"{d}: not empty and not an adbench results directory (no {schema.META_FILE}); "
            "--resume and --force only work on one, so choose another --out"
        )
    if resume:
        version = read_meta(d).get("schema_version")
        if version != schema.SCHEMA_VERSION:
            raise ResultsError(
                f"{d}: written by an older adbench (results schema version {version}); it can "
                "be reported and compared but not resumed; choose another --out"
            )
    elif not force:
        raise ResultsError(
            f"{d}: results already exist; use --resume to measure only the missing cases, "
            "--force to replace them, or choose another --out"
        )


# --------------------------------------------------------------------------- the lock


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it into the lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its process is starting"


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the results directory `directory` (created if missing).

    A second holder is refused at once with :class:`LockedError` naming the first (pid, host,
    start). The lock is an ``flock`` on ``directory/.lock``: the kernel drops it when the
    process ends, however it ends, so a killed run never leaves the directory locked. (Locks on
    network file systems are only as good as the server's support for them.) On release the
    lock file is removed, and the directory too when it was created here and is still empty.
    """
    import fcntl

    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(directory, exc) from None
    path = directory / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WriteError(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise WriteError(path, exc) from None
            raise LockedError(
                f"{directory}: another adbench run is writing into it ({holder}); wait for it "
                "to finish, or choose another --out"
            ) from None
        # a holder releasing just now may have removed the file we locked: lock the new one
        try:
            st, now = os.fstat(fd), os.stat(path)
            same = (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        since = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
        with contextlib.suppress(OSError):  # the lock holds without the note
            os.ftruncate(fd, 0)
            _write_all(fd, json.dumps(info).encode("utf-8"))
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only succeeds when nothing was stored


# --------------------------------------------------------------------------- the writer


class ResultsWriter:
    """Appends rows to a results directory, durably, one case at a time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.derived: dict[str, str] = {}  # derived file -> stamp of the data it came from

    def create(self, *, resume: bool = False, force: bool = False) -> None:
        """Make the directory. An existing non-empty one is refused unless resuming or forced."""
        d = self.directory
        check_out_dir(d, resume=resume, force=force)
        try:
            if force and d.is_dir():
                for name in OWN_FILES:
                    (d / name).unlink(missing_ok=True)
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(exc.filename or d, exc) from None

    def drop_derived(self) -> None:
        """Delete the derived tables: after a resume they would be stale until the run ends (a
        reader recomputes them when absent)."""
        for name in DERIVED_FILES:
            try:
                (self.directory / name).unlink(missing_ok=True)
            except OSError as exc:
                raise WriteError(self.directory / name, exc) from None
            self.derived.pop(name, None)

    def _append(self, name: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
        """Append rows as one O_APPEND write; return the file's size before, to cut back to."""
        path = self.directory / name
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WriteError(path, exc) from None
        try:
            before = os.fstat(fd).st_size
            if before == 0:
                w.writerow(columns)
            for row in rows:
                w.writerow([_format(row.get(c)) for c in columns])
            try:
                # one O_APPEND write for the whole case: a kill lands before or after it
                _write_all(fd, buf.getvalue().encode("utf-8"))
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, before)  # a short write left part of a line: remove it
                raise WriteError(path, exc) from None
        finally:
            os.close(fd)
        if before == 0:
            _fsync_dir(self.directory)
        return before

    def append_case(
        self, result_rows: Sequence[Mapping[str, Any]], sample_rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Store one finished case: samples first, so a results row never lacks its samples
        (samples without results rows are an unfinished case; readers drop them). When the
        results rows cannot be written, the case's samples are cut off again."""
        with _interrupts_deferred():
            smp = self.directory / schema.SAMPLES_FILE
            before = self._append(schema.SAMPLES_FILE, schema.SAMPLE_COLUMNS, sample_rows)
            try:
                self._append(schema.RESULTS_FILE, schema.RESULT_COLUMNS, result_rows)
            except WriteError:
                with contextlib.suppress(OSError):
                    os.truncate(smp, before)
                raise

    def write_verdicts(self, verdicts: pd.DataFrame) -> None:
        self._write_table(schema.VERDICTS_FILE, schema.VERDICT_COLUMNS, verdicts)

    def write_crossovers(self, crossovers: pd.DataFrame) -> None:
        self._write_table(schema.CROSSOVER_FILE, schema.CROSSOVER_COLUMNS, crossovers)

    def write_ranking(self, ranking: pd.DataFrame) -> None:
        self._write_table(schema.RANKING_FILE, schema.RANKING_COLUMNS, ranking)

    def _write_table(self, name: str, columns: Sequence[str], df: pd.DataFrame) -> None:
        """A derived table, replaced whole and atomically, stamped with the data it came from
        (recorded in meta.json by the next write_meta)."""
        out = df.reindex(columns=list(columns))
        atomic_write_text(
            self.directory / name,
            out.to_csv(index=False, float_format="%.17g", lineterminator="\n"),
        )
        self.derived[name] = data_stamp(self.directory)

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        """meta.json, with ``derived``: the stamp of each derived table written by this writer
        (always present, so a reader never falls back to file times for this directory)."""
        doc = {**meta, "derived": dict(self.derived)}
        atomic_write_text(
            self.directory / schema.META_FILE, json.dumps(doc, indent=2, default=str) + "\n"
        )


# --------------------------------------------------------------------------- outputs


def write_output(path: Path, data: bytes | str, *, protect: Path | None = None) -> None:
    """Write a report or export to `path`, atomically (WriteError naming the path on failure).

    `protect`: a results directory whose own files (results.csv, meta.json, ...) must never be
    overwritten by an output, e.g. ``adbench report DIR -o DIR/results.csv``.
    """
    if protect is not None and is_own_file(path.name):
        try:
            inside = path.absolute().parent.resolve() == protect.absolute().resolve()
        except OSError:
            inside = False
        if inside:
            raise ResultsError(
                f"{path}: is a file of the results directory {protect}; refusing to overwrite "
                "it; write the output elsewhere"
            )
    if path.is_dir():
        raise ResultsError(f"{path}: is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "no such directory"
        raise ResultsError(f"{path}: cannot write: {parent} {what}")
    atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)
