"""The data folder: load new CSV files, tail appended lines, reload rewritten ones, and
append ingest batches -- the CSV files are the log."""
from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import stat as stat_mode
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import reader
from .dialect import header_end
from .disk import APPEND, READ, WRITE, Disk, durable_write, fsync_dir, read_upto, read_whole
from .errors import Conflict, Rejected, StorageFull, Unavailable
from .ingest import DecodedBody, Validated, validate
from .prefix import Prefix
from .reader import Reading
from .schema import ReadingChanged, Schema, SchemaError, is_valid_name
from .store import Dataset, Store

log = logging.getLogger("dash.files")
SCAN_ERROR_EVERY = 60.0  # s between two logs of the same failing folder listing
# The bytes before a batch that its intent record fingerprints: a restart acts on the
# record only if they are still the same.
FINGERPRINT_BYTES = 4096
# The data folder's lock file (``DataFolder.claim``).
LOCK_FILE = ".dash.lock"
# Seconds a client is asked to wait after a write failed for a reason other than a full disk.
RETRY_AFTER = 5
# An intent whose batch could not be rolled back: a restart drops everything from `before`.
POISONED = 1 << 62
# Bytes read at a file's start (for its header) and at its end (for its last newline)
# with the lock held before the rest is read without it; a file whose header or last
# newline is not within them is read whole with the lock held.
EDGE_BYTES = 64 * 1024
# Reads outside the lock that found the file rewritten meanwhile before one is done with
# the lock held.
OUTSIDE_ATTEMPTS = 3
# "<inode> <size before> <size after> <fingerprint of the bytes before>
#  [<length of the batch's first line> <its fingerprint>][ done]\n"; anything else (a record
# torn by a crash or a full disk) is ignored. " done" marks a batch that was made durable.
INTENT = re.compile(rb"(\d+) (\d+) (\d+) ([0-9a-f]{32})(?: (\d+) ([0-9a-f]{32}))?( done)?\n")
DONE = b" done\n"


class FolderInUse(RuntimeError):
    """Another process serves the data folder (``DataFolder.claim``); the message says which."""


def digest(data: bytes) -> str:
    """A fingerprint of ``data``: BLAKE2b of 16 bytes, as 32 hex digits."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_epoch(name: str, body: bytes, schema: Schema, date_order: str) -> str:
    """The epoch of dataset ``name`` loaded from a file's whole lines ``body`` read as
    ``schema`` with ``date_order``: 12 hex digits, the same in every process (and after a
    restart) that reads the same bytes the same way. Appended lines keep it; a file read
    whole again gets the epoch of its bytes then, so a rewrite is a new epoch (an unchanged
    file read again keeps its epoch and version: its points are the same).

    A random epoch per load made the 3 processes of a cluster disagree about the same file,
    and a long-poll moving between them got a full figure for nothing (4 in 7 polls).
    """
    meta = json.dumps([name, date_order, asdict(schema)], sort_keys=True).encode()
    hasher = hashlib.blake2b(meta, digest_size=16)
    hasher.update(body)  # ~1 GB/s: 33 ms for a 33 MB file, beside its parse of seconds
    return hasher.hexdigest()[:12]


def intent_record(inode: int, before: int, after: int, preceding: bytes,
                  first: bytes = b"") -> bytes:
    """The intent record of a batch going into bytes ``before``..``after`` of a file;
    ``preceding`` are the file's last ``FINGERPRINT_BYTES`` (or fewer) before it, ``first``
    the batch's first line (found by a restart even if another program's lines got in
    before the batch)."""
    record = f"{inode} {before} {after} {digest(preceding[-FINGERPRINT_BYTES:])}"
    if first:
        record += f" {len(first)} {digest(first)}"
    return f"{record}\n".encode()


@dataclass
class FileState:
    """What we have read of one file, to tell an append from a rewrite."""

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int  # chmod changes only this: a file made readable again is retried
    offset: int  # bytes consumed: whole lines only, so always just after a newline
    header: bytes  # up to the header line's newline (comment lines before it included)
    lines: int = 0  # lines consumed, so warnings about appended lines give file line numbers
    prefix: Prefix = field(default_factory=Prefix)  # the bytes consumed, block by block
    loaded: bool = True  # False after a failed load: any change of the file retries it
    torn_from: int | None = None  # a failed write left bytes from here that rollback kept
    # True while the file is parsed with the dataset's lock released (``_load_outside``):
    # ingest appends meanwhile, the offset follows, and the bytes are parsed at the swap.
    reading: bool = False

    def same(self, status: Any) -> bool:
        """True if ``status`` (an ``os.stat_result``) shows the file as last seen."""
        return (self.inode, self.size, self.mtime_ns, self.ctime_ns) == (
            status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)

    def saw(self, status: Any) -> None:
        """Remember ``status`` as the file's last seen state."""
        self.size, self.mtime_ns, self.ctime_ns = (status.st_size, status.st_mtime_ns,
                                                   status.st_ctime_ns)


def whole_lines(data: bytes) -> bytes:
    """The part of ``data`` made of whole lines: a line without its newline waits for it
    (in a UTF-16 file, a newline is two bytes at an even offset from the start)."""
    for bom, newline in ((b"\xff\xfe", b"\n\x00"), (b"\xfe\xff", b"\x00\n")):
        if data.startswith(bom):
            cut = data.rfind(newline)
            while cut >= 0 and cut % 2:  # the bytes of two characters, not a newline
                cut = data.rfind(newline, 0, cut + 1)
            return data[:cut + 2] if cut >= 0 else b""
    return data[:data.rfind(b"\n") + 1]


def _preceding(offset: int) -> tuple[int, int]:
    """(start, length) of the bytes before ``offset`` an intent record fingerprints."""
    size = min(offset, FINGERPRINT_BYTES)
    return offset - size, size


def _kind_of(mode: int) -> str | None:
    """What a file that is no regular file is, in words; None for a regular file."""
    if stat_mode.S_ISREG(mode):
        return None
    if stat_mode.S_ISDIR(mode):
        return "a directory"
    if stat_mode.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat_mode.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat_mode.S_ISCHR(mode) or stat_mode.S_ISBLK(mode) else "no file"


class DataFolder:
    """Keeps the store in step with ``*.csv`` files directly in one folder, and appends
    ingest batches to them: every acknowledged batch reads back whole after a restart."""

    def __init__(self, store: Store, directory: str | Path,
                 offload: Callable[..., Any] | None = None, date_order: str = "MDY",
                 disk: Disk | None = None) -> None:
        self.store = store
        self.directory = Path(directory)
        self.date_order = date_order  # DASH_DATE_ORDER: dates that fit both orders throughout
        # Parsing a big file or batch runs here (eventlet's thread pool under the real
        # server), so live clients keep their heartbeats while it runs.
        self.offload = offload or (lambda fn, *args: fn(*args))
        self.disk = disk or Disk()
        self.files: dict[str, FileState] = {}
        self.on_error: Callable[[str], None] | None = None  # a file newly failed (/metrics)
        self._warned: set[str] = set()
        # One lock per dataset, held while its file is read or written, so the scanner
        # never reads half an append. One lock for the whole folder made ingest into one
        # dataset wait for a reload of another: 16.7 s while 30 clients asked for reloads.
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._claim: int | None = None  # the lock file's descriptor, while claimed
        # The length of the intent record of each dataset's batch in flight (``_settle``).
        self._intents: dict[str, int] = {}
        # While the folder cannot be listed (out of file descriptors, unmounted), the
        # error is logged once and then once a minute, not on every pass (five a second).
        self._scan_failed_at: float | None = None  # monotonic s of the last logged error

    # -- who serves the folder ---------------------------------------------------------

    def claim(self, exclusive: bool) -> None:
        """Lock the folder for this process (``FolderInUse`` naming the holder if another
        has it): ``exclusive`` when this process appends to its files (one process), shared
        when it only reads them (cluster mode writes to Redis; several processes may
        share the folder, but none while a single process writes it).

        Two servers appending to one file each wrote at the size they had read: 2,850 of
        21,600 acknowledged points were overwritten. POSIX record locks (``lockf``) belong
        to the process, so an app built again in the same process (tests) takes them again.
        """
        path = self.directory / LOCK_FILE
        try:
            if exclusive:
                self.directory.mkdir(parents=True, exist_ok=True)  # the log goes there
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:  # a folder this process cannot write: it writes nothing there
            log.warning("data folder not locked", extra={"event": "claim", "path": str(path),
                                                         "error": str(exc)})
            return
        try:
            fcntl.lockf(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            who = f"process {holder}" if holder.isdigit() else "another process"
            if exclusive:
                raise FolderInUse(
                    f"{who} serves the data folder {self.directory} already (it holds "
                    f"{LOCK_FILE}); two servers appending to the same files overwrite each "
                    "other's acknowledged points. Stop it, or give this one another "
                    "DASH_DATA_DIR") from None
            raise FolderInUse(
                f"{who} writes the data folder {self.directory} as a single-process server; "
                "cluster processes (DASH_REDIS_URL) may share a folder's files only with "
                "each other. Stop it, or give this one another DASH_DATA_DIR") from None
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if self._claim is not None:
            os.close(self._claim)
        self._claim = fd

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(name, threading.RLock())
        with lock:
            yield

    @contextmanager
    def _unlocked(self, name: str) -> Iterator[None]:
        """Let go of dataset ``name``'s lock (held once by this thread) for a while. Held
        more than once, it stays held: slower, never wrong."""
        lock = self._locks[name]
        lock.release()
        try:
            yield
        finally:
            lock.acquire()

    # -- reading ---------------------------------------------------------------------

    def scan(self) -> set[str]:
        """One pass over the folder; returns the names of datasets that changed."""
        changed = self._scan()
        for name in changed:
            self.store.changed(name)
        return changed

    def _scan(self) -> set[str]:
        changed: set[str] = set()
        seen: set[str] = set()
        try:
            paths = sorted(self.directory.glob("*.csv"))
        except OSError as exc:
            now = time.monotonic()
            last = self._scan_failed_at
            if last is None or now - last >= SCAN_ERROR_EVERY:
                self._scan_failed_at = now
                log.error("cannot list data folder", extra={"event": "scan_error",
                                                            "path": str(self.directory),
                                                            "error": str(exc)})
            return changed
        if self._scan_failed_at is not None:
            self._scan_failed_at = None
            log.info("data folder listed again", extra={"event": "scan_recovered",
                                                        "path": str(self.directory)})
        for path in paths:
            name = path.stem
            if not is_valid_name(name):
                if name not in self._warned:
                    self._warned.add(name)
                    log.warning("skipping file with an invalid dataset name",
                                extra={"event": "skip_file", "path": str(path)})
                continue
            existing = self.store.find(name)
            if existing is not None and existing.source != "file" and name not in self.files:
                if name not in self._warned:  # e.g. demo.csv while the demo stream runs
                    self._warned.add(name)
                    log.warning("skipping a file named like an in-memory dataset",
                                extra={"event": "skip_file", "path": str(path)})
                continue
            seen.add(name)
            with self._locked(name):
                if self._sync(name, path):
                    changed.add(name)
        for name in set(self.files) - seen:
            with self._locked(name):
                if name in self.files and not (self.directory / f"{name}.csv").exists():
                    self._forget(name)
                    changed.add(name)
        return changed

    def _forget(self, name: str) -> None:
        del self.files[name]
        self.store.remove(name)
        log.info("dataset file removed", extra={"event": "remove", "dataset": name})

    def reload(self, name: str) -> bool:
        """Read a file-backed dataset again from scratch (a new epoch); False if not a file."""
        path = self.directory / f"{name}.csv"
        if not is_valid_name(name) or not path.is_file():
            return False
        with self._locked(name):
            self._load(name, path)
        self.store.changed(name)
        return True

    def _sync(self, name: str, path: Path) -> bool:
        """Bring dataset ``name`` up to date with its file; True if anything changed."""
        state = self.files.get(name)
        if state is not None and state.reading:
            return False  # the load in flight takes in whatever the file holds at its end
        try:
            status = self.disk.stat(path)
        except OSError as exc:  # e.g. a symbolic link to nowhere
            return self._fail(name, f"cannot read {path.name}: {exc.strerror}")
        kind = _kind_of(status.st_mode)
        if kind is not None:
            # Never opened: opening a named pipe for reading waits for a writer, and the
            # whole server (or its start) waited with it.
            return self._fail(name, f"{path.name} is {kind}, not a data file; data files are "
                                    "regular files")
        state = self.files.get(name)
        if state is None:
            return self._load(name, path)
        if state.same(status):
            return False
        if not state.loaded or status.st_ino != state.inode or status.st_size < state.offset \
                or self.store.find(name) is None:
            return self._load(name, path)
        if state.torn_from is not None:
            return False  # bytes of a failed write that could not be rolled back: never read
        return self._tail(name, path, state)

    def _fail(self, name: str, message: str, state: FileState | None = None) -> bool:
        """Record why the file cannot be used (a loaded dataset keeps its last good data);
        True if that is news. Any later change of the file retries it."""
        if state is None:
            state = self.files.get(name) or FileState(-1, -1, -1, -1, 0, b"")
            state.inode = -1  # never "the same": retried on the next scan
        state.loaded = False
        self.files[name] = state
        news = self.store.error(name) != message
        self.store.fail(name, message)
        if news:
            log.warning("cannot load dataset", extra={"event": "load_error", "dataset": name,
                                                      "error": message})
            if self.on_error is not None:
                self.on_error(name)
        return news

    def _sidecar(self, name: str, kind: str) -> Path:
        return self.directory / f".{name}.{kind}"

    def _recover(self, name: str, path: Path) -> None:
        """Drop what a crash or a failed write left of an unacknowledged batch (see ``append``)."""
        intent = self._sidecar(name, "intent")
        try:
            _, record = read_whole(self.disk, intent)
        except OSError:
            return
        match = INTENT.fullmatch(record)
        if match is None:
            return  # torn while it was written: its batch never started
        if match[7] is not None:
            return  # made durable and acknowledged: whatever happened since, it was not torn
        inode, before, after = (int(match[n]) for n in (1, 2, 3))
        try:
            fd = self.disk.open(path, WRITE)
        except OSError:
            return
        try:
            status = self.disk.fstat(fd)
            # Only a record of this very file, whose batch stopped part-way, and whose bytes
            # before the batch are still the same, is acted on.
            if status.st_ino != inode or not before <= status.st_size < after:
                return
            start, size = _preceding(before)
            if digest(self.disk.pread(fd, size, start)) != match[4].decode():
                return
            cut = before
            if match[5] is not None:  # where the batch's first line is (see ``_append``)
                found = self._batch_start(fd, before, status.st_size, int(match[5]),
                                          match[6].decode())
                if found is None:
                    log.error("an ingest batch was torn but cannot be told apart from "
                              "another program's lines; left as it is", extra={
                                  "event": "recover", "dataset": name})
                    return
                cut = found
            self.disk.ftruncate(fd, cut)
            self.disk.fsync(fd)
        except OSError as exc:
            log.error("cannot drop a torn ingest batch", extra={
                "event": "recover", "dataset": name, "error": str(exc)})
            return
        finally:
            self.disk.close(fd)
        log.warning("dropped a torn ingest batch", extra={
            "event": "recover", "dataset": name, "bytes": status.st_size - cut})

    def _batch_start(self, fd: int, before: int, size: int, length: int,
                     first: str) -> int | None:
        """Where a torn batch begins in bytes ``before``..``size``: the line start holding
        its first line (another program's whole lines may have got in before it), or the
        start of a last line without its newline that is shorter than that first line
        (torn inside it). None if neither is there."""
        tail = self.disk.pread(fd, size - before, before)
        starts = [0, *(i + 1 for i, byte in enumerate(tail) if byte == 0x0A)]
        for start in starts:
            if start < len(tail) and digest(tail[start:start + length]) == first:
                return before + start
        last = starts[-1]
        if last < len(tail) and len(tail) - last < length:
            return before + last
        return None

    def _saved_schema(self, name: str) -> Schema | None:
        try:
            _, data = read_whole(self.disk, self._sidecar(name, "schema.json"))
            return Schema.from_fields(json.loads(data))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _load(self, name: str, path: Path) -> bool:
        """Read dataset ``name``'s file whole under a new epoch; True if that changed
        anything. Called with the dataset's lock held.

        A dataset that is loaded already keeps serving, and taking ingest, while its file
        is read and parsed with the lock released (``_load_outside``); a first load, or a
        file that does not suit that, is read with the lock held (``_load_whole``).
        """
        if self.store.find(name) is not None:
            for _ in range(OUTSIDE_ATTEMPTS):
                done = self._load_outside(name, path)
                if done is not None:
                    return done
        return self._load_whole(name, path)

    def _edges(self, fd: int, size: int) -> tuple[bytes, int] | None:
        """(header, where the file's whole lines end) of an open file of ``size`` bytes,
        from ``EDGE_BYTES`` at each end; None when they do not tell (a UTF-16 file, a header
        or last line longer than that, no newline at all)."""
        start = self.disk.pread(fd, min(size, EDGE_BYTES), 0)
        if start.startswith((b"\xff\xfe", b"\xfe\xff")):
            return None  # its appends are read by reading it whole again anyway
        head = header_end(start)
        if not head or start[head - 1:head] != b"\n" or (head == len(start) < size):
            return None  # no header line yet, or not within the first EDGE_BYTES
        tail_start = max(size - EDGE_BYTES, 0)
        cut = self.disk.pread(fd, size - tail_start, tail_start).rfind(b"\n")
        if cut < 0 or tail_start + cut + 1 < head:
            return None
        return start[:head], tail_start + cut + 1

    def _load_outside(self, name: str, path: Path) -> bool | None:
        """``_load`` with the lock released while the file's bytes are read and parsed;
        None when it could not be done so (``_load_whole`` then reads the file).

        With the lock held, the file's header and its last newline are found, and a state
        for the file as it is now is put in place (``reading``). Then the lock is released
        and those whole lines are read and parsed into a new dataset, while the old one
        keeps serving: ingest appends to the file (and the old dataset) past those lines,
        the state following, and the scanner leaves the file alone. With the lock again,
        the lines written meanwhile are read from the file and added to the new dataset,
        which replaces the old one. Every acknowledged batch is in the file, so it is in
        the new dataset exactly once: in the bytes read first or in those read at the swap.
        """
        started = time.perf_counter()
        old = self.files.get(name)
        if old is None or old.torn_from is not None:
            return None  # nothing read before; or bytes of a failed write kept (_recover)
        self._recover(name, path)
        try:
            fd = self.disk.open(path, READ)
        except OSError:
            return None  # _load_whole says why
        try:
            status = self.disk.fstat(fd)
            edges = self._edges(fd, status.st_size) if stat_mode.S_ISREG(status.st_mode) \
                else None
            if edges is None:
                return None
            header, end = edges
            if header != old.header:
                return None  # other columns: ingest waits for them, as it must
            state = FileState(status.st_ino, status.st_size, status.st_mtime_ns,
                              status.st_ctime_ns, end, header, loaded=False, reading=True)
            self.files[name] = state
            failure: Exception | None = None
            body = b""
            with self._unlocked(name):
                try:
                    body = self.offload(read_upto, self.disk, fd, end)
                    prefix: Prefix = self.offload(Prefix.of, body)
                    reading = self._read(name, body)
                    dataset = self.store.build(name, reading.schema, source="file")
                    dataset.epoch = self.offload(file_epoch, name, body, reading.schema,
                                                 self.date_order)
                    # Nobody else sees this dataset yet, so it is filled off the server's
                    # loop too (``append`` checks the label limits first). Ingest during
                    # reloads of a 1M-row file, real server, one run each on the shared
                    # 2 cores: longest 1,622 ms with the lock held, 445 ms with this
                    # append on the loop, 160 ms with it in the pool.
                    self.offload(dataset.append, reading.batch)
                    dataset.warn(reading.warnings)
                except Exception as exc:  # whatever is in the file, the server keeps serving
                    failure = exc
            if self.files.get(name) is not state:
                return False  # another load, a removal or a new file took over meanwhile
            state.reading = False
            if isinstance(failure, OSError) or len(body) != end:
                return None  # cut short while it was read: read it again
            if failure is not None:
                return self._failed_reading(name, path, failure, state, len(body) < end)
            state.prefix = prefix
            # Rewritten while it was read? The header and ``Prefix``'s sample of blocks (not
            # all of them, as ``_rewritten`` does for a file that kept its size: that read
            # 33 MB again with the lock held).
            if self.disk.pread(fd, len(header), 0) != header or self.offload(
                    prefix.differs, lambda size, start: self.disk.pread(fd, size, start)):
                return None  # read it again
            written = self.disk.pread(fd, state.offset - end, end) if state.offset > end \
                else b""
            if len(written) != state.offset - end:
                return None
            if written:
                more = self.offload(reader.read, header + written, dataset.schema,
                                    self.date_order, body.count(b"\n") - header.count(b"\n"))
                dataset.append(more.batch)
                dataset.warn(more.warnings)
        except (OSError, SchemaError, ReadingChanged, Rejected):
            return None  # the lines written meanwhile change what the file says: read again
        finally:
            self.disk.close(fd)
        state.prefix.extend(written)
        state.lines = body.count(b"\n") + written.count(b"\n")
        state.loaded = True
        dataset.renumber(state.lines)
        self.store.install(dataset)
        self._loaded(name, dataset, reading, started, outside=True)
        return True

    def _failed_reading(self, name: str, path: Path, exc: Exception, state: FileState,
                        unfinished: bool) -> bool:
        """Record why a file's lines could not be read (``_fail``); True."""
        if not isinstance(exc, (SchemaError, Rejected)):
            log.error("unexpected error reading a data file", exc_info=exc,
                      extra={"event": "error", "dataset": name})
        text = exc.message if isinstance(exc, Rejected) else str(exc)
        if unfinished:  # e.g. "no rows yet" for a file of one unfinished row
            text += " (its last line has no newline yet: it is read once it has one)"
        self._fail(name, f"{path.name}: {text}", state)
        return True

    def _loaded(self, name: str, dataset: Dataset, reading: Reading, started: float,
                outside: bool) -> None:
        log.info("dataset loaded", extra={
            "event": "reload", "dataset": name, "rows": len(dataset), "epoch": dataset.epoch,
            "skipped": reading.skipped, "warnings": len(reading.warnings), "unlocked": outside,
            "ms": round((time.perf_counter() - started) * 1000, 1)})

    def _load_whole(self, name: str, path: Path) -> bool:
        """``_load`` with the lock held throughout."""
        started = time.perf_counter()
        self._recover(name, path)
        try:
            status, data = read_whole(self.disk, path)
        except OSError as exc:  # retried once the file changes (chmod changes its ctime)
            return self._fail(name, f"cannot read {path.name}: {exc.strerror}",
                              self._unread(path))
        body = whole_lines(data)
        state = FileState(status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns,
                          len(body), body[:header_end(body)], body.count(b"\n"),
                          loaded=False)  # until it has been read
        state.prefix = self.offload(Prefix.of, body)
        self.files[name] = state
        try:
            reading = self._read(name, body)
            self.store.admit(reading.schema, reading.batch)
        except Exception as exc:  # whatever is in the file, the server keeps serving
            return self._failed_reading(name, path, exc, state, len(body) < len(data))
        state.loaded = True
        dataset = self.store.create(name, reading.schema, source="file", epoch=self.offload(
            file_epoch, name, body, reading.schema, self.date_order))
        dataset.append(reading.batch)
        dataset.renumber(state.lines)
        dataset.warn(reading.warnings)
        self._loaded(name, dataset, reading, started, outside=False)
        return True

    def _unread(self, path: Path) -> FileState | None:
        """The state of a file that could not be read: as it is now, nothing consumed."""
        try:
            status = self.disk.stat(path)
        except OSError:
            return None
        return FileState(status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns,
                         0, b"")

    def _read(self, name: str, body: bytes) -> Reading:
        """Parse a whole file, with the schema ingest saved for it when it still fits."""
        saved = self._saved_schema(name)
        if saved is not None:
            try:
                reading: Reading = self.offload(reader.read, body, saved, self.date_order)
                return reading
            except SchemaError:
                pass  # the file was rewritten with other columns: infer again
        reading = self.offload(reader.read, body, None, self.date_order)
        return reading

    def _rewritten(self, fd: int, state: FileState, status: Any) -> bool:
        """True if the bytes already read are not what the file holds now (a rewrite in
        place: same inode, other bytes): the header, and the blocks ``Prefix`` compares;
        all of them when the file kept its size (it did not grow: what changed is inside)."""
        if self.disk.pread(fd, len(state.header), 0) != state.header:
            return True
        changed: bool = self.offload(state.prefix.differs,
                                     lambda size, start: self.disk.pread(fd, size, start),
                                     status.st_size == state.size)
        return changed

    def _tail(self, name: str, path: Path, state: FileState) -> bool:
        """Read the whole lines appended since ``state.offset``; a rewrite reloads."""
        try:
            fd = self.disk.open(path, READ)
        except OSError as exc:
            return self._fail(name, f"cannot read {path.name}: {exc.strerror}")
        try:
            status = self.disk.fstat(fd)
            if status.st_ino != state.inode or status.st_size < state.offset \
                    or self._rewritten(fd, state, status):
                rewritten = True
            else:
                rewritten = False
                chunk = whole_lines(self.disk.pread(fd, status.st_size - state.offset,
                                                    state.offset))
        except OSError as exc:
            return self._fail(name, f"cannot read {path.name}: {exc.strerror}")
        finally:
            self.disk.close(fd)
        if rewritten:
            log.info("file rewritten in place", extra={"event": "rewrite", "dataset": name})
            return self._load(name, path)
        state.saw(status)
        return self._take(name, path, state, chunk)

    def _take(self, name: str, path: Path, state: FileState, chunk: bytes) -> bool:
        """Apply ``chunk`` (whole lines at ``state.offset``) to the dataset; True if it
        changed. Lines that contradict what the file settled read the whole file again."""
        if not chunk.strip() or state.reading:  # a load in flight parses them at its swap
            self._advance(state, chunk)
            return False
        dataset = self.store.get(name)
        try:
            reading = self.offload(reader.read, state.header + chunk, dataset.schema,
                                   self.date_order, state.lines - state.header.count(b"\n"))
            dataset.append(reading.batch)
        except ReadingChanged:
            return self._load(name, path)  # new lines settle what the load assumed: read again
        except Exception as exc:
            # Keep the last good data and show why the new lines are not in; the next
            # change of the file reads it whole again.
            if not isinstance(exc, (SchemaError, Rejected)):
                log.exception("unexpected error reading appended lines",
                              extra={"event": "error", "dataset": name})
            text = exc.message if isinstance(exc, Rejected) else str(exc)
            self._advance(state, chunk)
            self._fail(name, f"{path.name}: appended lines unreadable: {text}", state)
            return True
        self._advance(state, chunk)
        dataset.renumber(state.lines)
        self.store.clear_error(name)
        dataset.warn(reading.warnings)
        return True

    @staticmethod
    def _advance(state: FileState, consumed: bytes) -> None:
        """``consumed`` was read: move the offset, line count and blocks on."""
        state.offset += len(consumed)
        state.lines += consumed.count(b"\n")
        state.prefix.extend(consumed)

    # -- ingest: the CSV files are the log -------------------------------------

    def append(self, name: str, points: DecodedBody) -> Dataset:
        """Validate ``points`` for dataset ``name``, make them durable, then apply them.

        The file must be the regular file the dataset was read from, with the same
        header (``Conflict`` naming it otherwise). One write per batch at the file's end
        (``O_APPEND``: lines another program appends meanwhile are never written over),
        fsync'd before this returns; an fsync'd intent record (where the batch starts, its
        first line) comes first, so a restart after a crash mid-write drops the torn
        batch. A write that fails is rolled back to the batch's start: ``StorageFull``
        (disk full) or ``Unavailable``. New datasets (and emptied files) are written aside
        and renamed into place.
        """
        with self._locked(name):
            path = self.directory / f"{name}.csv"
            dataset = self.store.find(name)
            if dataset is not None and dataset.source != "file":
                raise Conflict(f"dataset {name!r} is generated in memory (the demo); "
                               "send points to another name")
            kind = self._kind(path)
            if kind == "missing":
                if name in self.files:  # the file went away: the first batch creates it anew
                    self._forget(name)
                dataset = None
            else:
                self._sync(name, path)  # take in lines others appended, notice changes
                dataset = self.store.find(name)
            if dataset is not None and (why := dataset.schema.ingest_mismatch()):
                raise Conflict(f"{path.name} {why} and ingest writes comma-separated "
                               "UTF-8 with ISO-8601 timestamps; send points to another name")
            if kind == "file":
                error = self.store.error(name)
                if dataset is None or error:
                    raise Conflict(f"{path.name} exists but cannot be read: {error}; fix the "
                                   "file, then send the batch again")
                validated = self.offload(validate, points, dataset.schema)
                dataset.admit(validated.batch)
                self._write(name, path, dataset, validated)
            else:  # no file, or an emptied one: its header is written first
                schema = dataset.schema if dataset is not None else \
                    self._saved_schema(name) if kind == "empty" else None
                validated = self.offload(validate, points, schema)
                self.store.admit(validated.schema, validated.batch)
                dataset = self._create(name, path, validated)
        self.store.changed(name)
        return dataset

    def _kind(self, path: Path) -> str:
        """"missing", "empty" or "file"; ``Conflict`` naming ``path`` for anything else."""
        try:
            status = self.disk.lstat(path)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            raise _open_error(path, exc) from None
        if stat_mode.S_ISLNK(status.st_mode):
            raise _open_error(path, OSError(errno.ELOOP, "symbolic link"))
        if stat_mode.S_ISDIR(status.st_mode):
            raise _open_error(path, OSError(errno.EISDIR, "directory"))
        if not stat_mode.S_ISREG(status.st_mode):
            raise Conflict(f"{path.name} is not a regular file; remove it or send points to "
                           "another name")
        return "file" if status.st_size else "empty"

    def _create(self, name: str, path: Path, validated: Validated) -> Dataset:
        """Write a new file (header and batch) aside and rename it into place."""
        columns = list(validated.schema.columns)
        data = _csv_bytes(columns, validated.rows, header=True)
        schema_file = self._sidecar(name, "schema.json")
        partial = self._sidecar(name, "csv.partial")
        had_schema = schema_file.exists()
        replaced = False
        try:
            durable_write(self.disk, partial, data)
            durable_write(self.disk, schema_file, json.dumps(asdict(validated.schema)).encode())
            self.disk.unlink(self._sidecar(name, "intent"))  # it described an older file
            self.disk.replace(partial, path)
            replaced = True
            fsync_dir(self.disk, self.directory)
        except OSError as exc:
            # Not acknowledged, so not kept: nothing of it may come back after a restart.
            leftovers = [partial, *([path] if replaced else []),
                         *([] if had_schema else [schema_file])]
            for leftover in leftovers:
                try:
                    self.disk.unlink(leftover)
                except OSError:
                    pass
            raise _write_error(path, exc) from None
        header = data[:data.find(b"\n") + 1]
        state = FileState(-1, -1, -1, -1, len(data), header, data.count(b"\n"),
                          prefix=Prefix.of(data))
        try:
            status = self.disk.stat(path)
            state.inode = status.st_ino
            state.saw(status)
        except OSError:
            pass  # durable all the same; the next scan reads the file again
        self.files[name] = state
        dataset = self.store.create(name, validated.schema, source="file",
                                    epoch=file_epoch(name, data, validated.schema,
                                                     self.date_order))
        dataset.append(validated.batch)
        dataset.renumber(state.lines)
        log.info("dataset created by ingest", extra={"event": "create", "dataset": name,
                                                     "rows": len(dataset)})
        return dataset

    def _write(self, name: str, path: Path, dataset: Dataset, validated: Validated) -> None:
        """Append ``validated`` to the file ``dataset`` was read from; all or nothing."""
        state = self.files[name]
        try:
            fd = self.disk.open(path, APPEND)
        except OSError as exc:
            raise _open_error(path, exc) from None
        try:
            size, data = self._prepare(name, path, fd, state, dataset, validated)
            start = self._append(name, path, fd, size, data)
            # Durable from here on: nothing below may keep the batch from being applied.
            if start != size:  # another program's lines came first: they are read in too
                self._take(name, path, state, self.disk.pread(fd, start - size, size))
                if self.store.find(name) is not dataset:
                    return  # they made it read the whole file again, this batch included
            state.offset = start + len(data)
            state.lines += data.count(b"\n")
            state.prefix.extend(data)
            try:
                state.saw(self.disk.fstat(fd))
                if state.size != state.offset:
                    state.size = -1  # more came after the batch: the next scan reads it
            except OSError:
                state.inode = -1  # unknown: the next scan reads the file whole again
        finally:
            try:
                self.disk.close(fd)
            except OSError:
                pass
        # While the file is read again (``_load_outside``) its state counts no lines yet:
        # the batch's lines follow the ones the dataset read, as the new dataset's will.
        version = dataset.version + data.count(b"\n") if state.reading else state.lines
        dataset.append(validated.batch)
        dataset.renumber(version)

    def _prepare(self, name: str, path: Path, fd: int, state: FileState, dataset: Dataset,
                 validated: Validated) -> tuple[int, bytes]:
        """Check the open file is the one ``dataset`` was read from, record the intent;
        returns where the batch should start and its bytes. Nothing of it is written yet."""
        try:
            status = self.disk.fstat(fd)
            if status.st_ino != state.inode:
                raise Conflict(f"{path.name} was replaced while the batch was checked; "
                               "send it again")
            size = status.st_size
            if state.torn_from is not None:  # a failed write's bytes: cut them off first
                self._roll_back(name, path, fd, state.torn_from, None)
                size, state.torn_from = state.torn_from, None
            if size > state.offset:  # complete lines another program just appended
                self._tail(name, path, state)
                if self.store.find(name) is not dataset or self.store.error(name):
                    raise Conflict(f"{path.name} changed while the batch was checked; "
                                   "send it again")
                size = self.disk.fstat(fd).st_size
            if self.disk.pread(fd, len(state.header), 0) != state.header:
                raise Conflict(f"{path.name} now starts with another header than the one "
                               "its data was read with; send the batch again once the "
                               "file has been reloaded")
            if size != state.offset:
                raise Conflict(f"{path.name} ends in a line without its newline (another "
                               "program may be writing it); finish or remove that line, "
                               "then send the batch again")
            # utf-8-sig: a header saved by Excel starts with a byte-order mark; comment lines
            # may come before it.
            columns = next(csv.reader([state.header.decode("utf-8-sig", "replace")
                                       .splitlines()[-1]]))
            data = _csv_bytes([c.strip() for c in columns], validated.rows, header=False)
            schema_file = self._sidecar(name, "schema.json")
            if not schema_file.exists():  # pin the schema, so a reload reads labels as labels
                durable_write(self.disk, schema_file,
                              json.dumps(asdict(validated.schema)).encode())
            self._intend(name, status.st_ino, size, size + len(data), fd, _first_line(data))
        except OSError as exc:
            raise _write_error(path, exc) from None
        return size, data

    def _append(self, name: str, path: Path, fd: int, size: int, data: bytes) -> int:
        """Write ``data`` at the file's end and fsync it; the offset where it starts.

        ``size`` is where the intent record says it starts: if another program appended
        lines since (``O_APPEND`` puts the batch after them, where ``pwrite`` at ``size``
        wrote over 209 of 3,596 such lines), the record is written again first. Any failure
        rolls the batch back and raises ``StorageFull`` or ``Unavailable``.
        """
        start: int | None = None
        written = 0
        try:
            written = self.disk.append(fd, data)
            start = self._end(fd) - written
            while written < len(data):  # a short write (out of space, most likely)
                more = self.disk.append(fd, memoryview(data)[written:])
                if self.disk.position(fd) - more != start + written:
                    raise OSError(errno.EAGAIN, "another program's line got into the batch")
                written += more
            if start != size:
                if not self.disk.pread(fd, 1, start - 1) == b"\n":
                    raise OSError(errno.EAGAIN, "another program was writing a line of it "
                                                "at the same time")
                self._intend(name, self.files[name].inode, start, start + len(data), fd,
                             _first_line(data))
            self.disk.fsync(fd)
        except OSError as exc:
            if not written:  # the write itself failed: nothing of the batch is there
                raise _write_error(path, exc) from None
            if start is None:  # written, but where is unknown: the file's end says
                try:
                    start = self.disk.fstat(fd).st_size - written
                except OSError:
                    start = size  # where the intent record says, so a restart agrees
            self._roll_back(name, path, fd, start, exc)
        self._settle(name)
        return start

    def _end(self, fd: int) -> int:
        """Where the last ``append`` to ``fd`` ended (the file's size if that cannot be
        asked)."""
        try:
            return self.disk.position(fd)
        except OSError:
            return int(self.disk.fstat(fd).st_size)

    def _intend(self, name: str, inode: int, before: int, after: int, fd: int,
                first: bytes = b"") -> None:
        """Durably record that bytes ``before``..``after`` of the file are a batch in flight,
        whose first line is ``first``.

        The record stays after the batch (a restart ignores a whole batch, and one whose
        earlier bytes changed), so its folder entry is made durable once, when it is made.
        """
        intent = self._sidecar(name, "intent")
        start, size = _preceding(before)
        fresh = not intent.exists()
        record = intent_record(inode, before, after, self.disk.pread(fd, size, start), first)
        self._intents.pop(name, None)
        durable_write(self.disk, intent, record)
        self._intents[name] = len(record)
        if fresh:
            fsync_dir(self.disk, self.directory)

    def _settle(self, name: str) -> None:
        """Mark the intent record of the batch just made durable as done.

        A load or a restart that found the file ending inside the batch took it for a batch
        torn by a crash and cut every line of it: someone removing the last line of an
        acknowledged 5-line batch by hand lost the other 4 too. Not fsync'd, and failures
        are ignored: without its mark (or with half of it, which no record matches) the
        record is that of a whole batch, as before.
        """
        length = self._intents.pop(name, None)
        if length is None:
            return
        try:
            fd = self.disk.open(self._sidecar(name, "intent"), WRITE)
        except OSError:
            return
        try:
            self.disk.pwrite(fd, DONE, length - 1)  # over the record's newline
        except OSError:
            pass
        finally:
            try:
                self.disk.close(fd)
            except OSError:
                pass

    def _roll_back(self, name: str, path: Path, fd: int, size: int,
                   cause: OSError | None) -> None:
        """Cut the file back to ``size`` (the batch's start) and raise what ``cause`` means.

        If the cut itself fails, the intent record is rewritten so a restart drops
        everything from ``size``, and the scanner never reads those bytes meanwhile.
        """
        state = self.files[name]
        try:
            self.disk.ftruncate(fd, size)
            self.disk.fsync(fd)
        except OSError as exc:
            state.torn_from = size
            log.error("cannot roll back a failed ingest write", extra={
                "event": "rollback", "dataset": name, "error": str(exc)})
            try:
                self._intend(name, state.inode, size, POISONED, fd)
            except OSError:
                pass  # the record of the batch in flight still covers a torn write
            raise _write_error(path, cause or exc) from None
        if cause is not None:
            log.warning("rolled back a failed ingest write", extra={
                "event": "rollback", "dataset": name, "error": str(cause)})
            raise _write_error(path, cause) from None


def _first_line(data: bytes) -> bytes:
    """The first line of a batch's bytes, its newline included."""
    return data[:data.find(b"\n") + 1] if b"\n" in data else data


def _open_error(path: Path, exc: OSError) -> Exception:
    """Why ``path`` cannot be opened for appending, as a domain error naming it."""
    if exc.errno == errno.ELOOP:
        return Conflict(f"{path.name} is a symbolic link: ingest writes only into regular "
                        "files in the data folder")
    if exc.errno == errno.EISDIR:
        return Conflict(f"{path.name} is a directory, not a data file")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Conflict(f"{path.name} cannot be opened for writing ({exc.strerror}); fix its "
                        "permissions")
    if exc.errno == errno.ENOENT:
        return Conflict(f"{path.name} was removed while the batch was checked; send it again")
    return _write_error(path, exc)


def _write_error(path: Path, exc: OSError) -> Exception:
    """A failed write as the client should hear it: disk full (507) or try again (503)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"no space left for {path.name}: the batch was not stored; free "
                           "some disk space and send it again")
    if exc.errno == errno.EROFS:  # e.g. ext4 remounted read-only after I/O errors
        return Unavailable(f"the file system of {path.name} is read-only: the batch was not "
                           "stored; send it again once it is writable", RETRY_AFTER)
    return Unavailable(f"writing {path.name} failed ({exc.strerror or exc}): the batch was "
                       "not stored; send it again", RETRY_AFTER)


def _csv_bytes(columns: list[str], rows: list[dict[str, str]], header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return buffer.getvalue().encode("utf-8")
