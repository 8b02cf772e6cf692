"""The data folder: load new CSV files, tail appended lines, reload rewritten ones, and
append ingest batches -- the CSV files are the log."""
from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import logging
import re
import stat as stat_mode
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import reader
from .dialect import header_end
from .disk import READ, WRITE, Disk, durable_write, fsync_dir, read_whole, write_all
from .errors import Conflict, Rejected, StorageFull, Unavailable
from .ingest import Points, Validated, validate
from .reader import Reading
from .schema import ReadingChanged, Schema, SchemaError, is_valid_name
from .store import Dataset, Store

log = logging.getLogger("dash.files")
# How much of a file's start, and of what was read last, is fingerprinted to tell an
# append from a rewrite in place (Vector and Fluent Bit fingerprint a file's start).
FINGERPRINT_BYTES = 4096
# Seconds a client is asked to wait after a write failed for a reason other than a full disk.
RETRY_AFTER = 5
# An intent whose batch could not be rolled back: a restart drops everything from `before`.
POISONED = 1 << 62
# "<inode> <size before> <size after> <fingerprint of the bytes before>\n"; anything else
# (a record torn by a crash or a full disk) is ignored.
INTENT = re.compile(rb"(\d+) (\d+) (\d+) ([0-9a-f]{32})\n")


def digest(data: bytes) -> str:
    """A fingerprint of ``data``: BLAKE2b of 16 bytes, as 32 hex digits."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def intent_record(inode: int, before: int, after: int, preceding: bytes) -> bytes:
    """The intent record of a batch going into bytes ``before``..``after`` of a file;
    ``preceding`` are the file's last ``FINGERPRINT_BYTES`` (or fewer) before it."""
    return f"{inode} {before} {after} {digest(preceding[-FINGERPRINT_BYTES:])}\n".encode()


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
    head: str = ""  # digest of the first min(offset, FINGERPRINT_BYTES) bytes
    seam: str = ""  # digest of the min(offset, FINGERPRINT_BYTES) bytes before offset
    loaded: bool = True  # False after a failed load: any change of the file retries it
    torn_from: int | None = None  # a failed write left bytes from here that rollback kept

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


def _windows(offset: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(start, length) of the head and the seam fingerprinted for ``offset`` bytes read."""
    size = min(offset, FINGERPRINT_BYTES)
    return (0, size), (offset - size, size)


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
        # Held while a file is read or written, so the scanner never reads half an append.
        self._lock = threading.RLock()

    def scan(self) -> set[str]:
        """One pass over the folder; returns the names of datasets that changed."""
        with self._lock:
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
            log.error("cannot list data folder", extra={"event": "scan_error",
                                                        "path": str(self.directory),
                                                        "error": str(exc)})
            return changed
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
            if self._sync(name, path):
                changed.add(name)
        for name in set(self.files) - seen:
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
        with self._lock:
            self.files.pop(name, None)
            self._load(name, path)
        self.store.changed(name)
        return True

    def _sync(self, name: str, path: Path) -> bool:
        """Bring dataset ``name`` up to date with its file; True if anything changed."""
        try:
            status = self.disk.stat(path)
        except OSError as exc:  # e.g. a symbolic link to nowhere
            return self._fail(name, f"cannot read {path.name}: {exc.strerror}")
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
            _, (start, size) = _windows(before)
            if digest(self.disk.pread(fd, size, start)) != match[4].decode():
                return
            self.disk.ftruncate(fd, before)
            self.disk.fsync(fd)
        except OSError as exc:
            log.error("cannot drop a torn ingest batch", extra={
                "event": "recover", "dataset": name, "error": str(exc)})
            return
        finally:
            self.disk.close(fd)
        log.warning("dropped a torn ingest batch", extra={
            "event": "recover", "dataset": name, "bytes": status.st_size - before})

    def _saved_schema(self, name: str) -> Schema | None:
        try:
            return Schema.from_fields(json.loads(self._sidecar(name, "schema.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _load(self, name: str, path: Path) -> bool:
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
        self._fingerprint(state, lambda size, start: body[start:start + size])
        self.files[name] = state
        try:
            reading = self._read(name, body)
            self.store.admit(reading.schema, reading.batch)
        except Exception as exc:  # whatever is in the file, the server keeps serving
            if not isinstance(exc, (SchemaError, Rejected)):
                log.exception("unexpected error reading a data file",
                              extra={"event": "error", "dataset": name})
            text = exc.message if isinstance(exc, Rejected) else str(exc)
            if len(body) < len(data):  # e.g. "no rows yet" for a file of one unfinished row
                text += " (its last line has no newline yet: it is read once it has one)"
            self._fail(name, f"{path.name}: {text}", state)
            return True
        state.loaded = True
        dataset = self.store.create(name, reading.schema, source="file")
        dataset.append(reading.batch)
        dataset.warn(reading.warnings)
        log.info("dataset loaded", extra={
            "event": "reload", "dataset": name, "rows": len(dataset), "epoch": dataset.epoch,
            "skipped": reading.skipped, "warnings": len(reading.warnings),
            "ms": round((time.perf_counter() - started) * 1000, 1)})
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

    @staticmethod
    def _fingerprint(state: FileState, read: Callable[[int, int], bytes]) -> None:
        """Fingerprint the file's start and the bytes just before ``state.offset``."""
        (head_start, head_size), (seam_start, seam_size) = _windows(state.offset)
        state.head = digest(read(head_size, head_start))
        state.seam = digest(read(seam_size, seam_start))

    def _rewritten(self, fd: int, state: FileState) -> bool:
        """True if the bytes already read are not what the file holds now (a rewrite in
        place: same inode, other bytes), judged by the start and the last bytes read."""
        (head_start, head_size), (seam_start, seam_size) = _windows(state.offset)
        return (self.disk.pread(fd, len(state.header), 0) != state.header
                or digest(self.disk.pread(fd, head_size, head_start)) != state.head
                or digest(self.disk.pread(fd, seam_size, seam_start)) != state.seam)

    def _tail(self, name: str, path: Path, state: FileState) -> bool:
        """Read the whole lines appended since ``state.offset``; a rewrite reloads."""
        try:
            fd = self.disk.open(path, READ)
        except OSError as exc:
            return self._fail(name, f"cannot read {path.name}: {exc.strerror}")
        try:
            status = self.disk.fstat(fd)
            if status.st_ino != state.inode or status.st_size < state.offset \
                    or self._rewritten(fd, state):
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
        if not chunk.strip():
            self._advance(path, state, chunk)
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
            self._advance(path, state, chunk)
            self._fail(name, f"{path.name}: appended lines unreadable: {text}", state)
            return True
        self._advance(path, state, chunk)
        self.store.clear_error(name)
        dataset.warn(reading.warnings)
        return True

    def _advance(self, path: Path, state: FileState, consumed: bytes) -> None:
        """``consumed`` was read: move the offset, line count and fingerprints on."""
        if not consumed:
            return
        state.offset += len(consumed)
        state.lines += consumed.count(b"\n")
        try:
            fd = self.disk.open(path, READ)
            try:
                self._fingerprint(state, lambda size, start: self.disk.pread(fd, size, start))
            finally:
                self.disk.close(fd)
        except OSError:
            state.head = state.seam = ""  # unknown: the next change reloads the file

    # -- ingest: the CSV files are the log -------------------------------------

    def append(self, name: str, points: Points) -> Dataset:
        """Validate ``points`` for dataset ``name``, make them durable, then apply them.

        The file must be the regular file the dataset was read from, with the same
        header (``Conflict`` naming it otherwise). One write per batch, fsync'd before
        this returns; an fsync'd intent record (sizes before and after) comes first, so a
        restart after a crash mid-write drops the torn batch. A write that fails is
        rolled back to the batch's start: ``StorageFull`` (disk full) or ``Unavailable``.
        New datasets (and emptied files) are written aside and renamed into place.
        """
        with self._lock:
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
        state = FileState(-1, -1, -1, -1, len(data), header, data.count(b"\n"))
        try:
            status = self.disk.stat(path)
            state.inode = status.st_ino
            state.saw(status)
        except OSError:
            pass  # durable all the same; the next scan reads the file again
        self._fingerprint(state, lambda size, start: data[start:start + size])
        self.files[name] = state
        dataset = self.store.create(name, validated.schema, source="file")
        dataset.append(validated.batch)
        log.info("dataset created by ingest", extra={"event": "create", "dataset": name,
                                                     "rows": len(dataset)})
        return dataset

    def _write(self, name: str, path: Path, dataset: Dataset, validated: Validated) -> None:
        """Append ``validated`` to the file ``dataset`` was read from; all or nothing."""
        state = self.files[name]
        try:
            fd = self.disk.open(path, WRITE)
        except OSError as exc:
            raise _open_error(path, exc) from None
        try:
            size, data = self._prepare(name, path, fd, state, dataset, validated)
            try:
                write_all(self.disk, fd, data, size)
                self.disk.fsync(fd)
            except OSError as exc:
                self._roll_back(name, path, fd, size, exc)
            # Durable from here on: nothing below may keep the batch from being applied.
            state.offset = size + len(data)
            state.lines += data.count(b"\n")
            try:
                state.saw(self.disk.fstat(fd))
                self._fingerprint(state, lambda n, start: self.disk.pread(fd, n, start))
            except OSError:
                state.inode = -1  # unknown: the next scan reads the file whole again
        finally:
            try:
                self.disk.close(fd)
            except OSError:
                pass
        dataset.append(validated.batch)

    def _prepare(self, name: str, path: Path, fd: int, state: FileState, dataset: Dataset,
                 validated: Validated) -> tuple[int, bytes]:
        """Check the open file is the one ``dataset`` was read from, record the intent;
        returns where the batch goes and its bytes. Nothing of the batch is written yet."""
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
            self._intend(name, status.st_ino, size, size + len(data), fd)
        except OSError as exc:
            raise _write_error(path, exc) from None
        return size, data

    def _intend(self, name: str, inode: int, before: int, after: int, fd: int) -> None:
        """Durably record that bytes ``before``..``after`` of the file are a batch in flight.

        The record stays after the batch (a restart ignores a whole batch, and one whose
        earlier bytes changed), so its folder entry is made durable once, when it is made.
        """
        intent = self._sidecar(name, "intent")
        _, (start, size) = _windows(before)
        fresh = not intent.exists()
        durable_write(self.disk, intent,
                      intent_record(inode, before, after, self.disk.pread(fd, size, start)))
        if fresh:
            fsync_dir(self.disk, self.directory)

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


def _open_error(path: Path, exc: OSError) -> Exception:
    """Why ``path`` cannot be opened for appending, as a domain error naming it."""
    if exc.errno == errno.ELOOP:
        return Conflict(f"{path.name} is a symbolic link: ingest writes only into regular "
                        "files in the data folder")
    if exc.errno == errno.EISDIR:
        return Conflict(f"{path.name} is a directory, not a data file")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
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
    return Unavailable(f"writing {path.name} failed ({exc.strerror or exc}): the batch was "
                       "not stored; send it again", RETRY_AFTER)


def _csv_bytes(columns: list[str], rows: list[dict[str, str]], header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return buffer.getvalue().encode("utf-8")
