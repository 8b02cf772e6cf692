"""The data folder: load new CSV files, tail appended lines, reload rewritten ones."""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import Conflict
from .ingest import Points, Validated, validate
from .reader import Reading, ReadingChanged, header_end
from .schema import Schema, SchemaError, is_valid_name, read_table
from .store import Dataset, Store

log = logging.getLogger("dash.files")
# A last line without a newline is taken as complete once the file is this old (seconds).
SETTLED_AFTER = 1.0


@dataclass
class FileState:
    """What we have read of one file, to tell an append from a rewrite."""

    inode: int
    size: int
    mtime_ns: int
    offset: int  # bytes consumed, always just after a newline (or the whole file)
    header: bytes  # up to the header line's newline (comment lines before it included)
    lines: int = 0  # lines consumed, so warnings about appended lines give file line numbers


def _complete(data: bytes, settled: bool) -> bytes:
    """The part of ``data`` made of whole lines; all of it once the file has settled."""
    if settled or data.endswith(b"\n"):
        return data
    cut = data.rfind(b"\n")
    return data[:cut + 1] if cut >= 0 else b""


class DataFolder:
    """Keeps the store in step with ``*.csv`` files directly in one folder."""

    def __init__(self, store: Store, directory: str | os.PathLike[str],
                 offload: Callable[..., Any] | None = None, date_order: str = "MDY") -> None:
        self.store = store
        self.directory = Path(directory)
        self.date_order = date_order  # DASH_DATE_ORDER: dates that fit both orders throughout
        # Per dataset: what loading and tailing skipped or assumed (sentences, newest last).
        # Parsing a big file or batch runs here (eventlet's thread pool under the real
        # server), so live clients keep their heartbeats while it runs.
        self.offload = offload or (lambda fn, *args: fn(*args))
        self.files: dict[str, FileState] = {}
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
            del self.files[name]
            self.store.remove(name)
            log.info("dataset file removed", extra={"event": "remove", "dataset": name})
            changed.add(name)
        return changed

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
        try:
            stat = path.stat()
        except OSError:
            return False
        state = self.files.get(name)
        if state is None:
            return self._load(name, path)
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) == (state.inode, state.size,
                                                              state.mtime_ns) \
                and state.offset == stat.st_size:
            return False  # unchanged, and no unfinished last line waiting to settle
        if stat.st_ino != state.inode or stat.st_size < state.offset or \
                self.store.find(name) is None:
            return self._load(name, path)
        return self._tail(name, path, state, stat)

    def _sidecar(self, name: str, kind: str) -> Path:
        return self.directory / f".{name}.{kind}"

    def _recover(self, name: str, path: Path) -> None:
        """Drop what a crash left of an unacknowledged ingest batch (see ``append``)."""
        intent = self._sidecar(name, "intent")
        try:
            inode, before, after = (int(n) for n in intent.read_text().split())
            stat = path.stat()
        except (OSError, ValueError):
            return
        size = stat.st_size
        # Only a record of this very file, whose batch stopped part-way, is acted on.
        if inode == stat.st_ino and before <= size < after:
            os.truncate(path, before)
            log.warning("dropped a torn ingest batch", extra={
                "event": "recover", "dataset": name, "bytes": size - before})
        intent.unlink(missing_ok=True)

    def _saved_schema(self, name: str) -> Schema | None:
        try:
            return Schema.from_fields(json.loads(self._sidecar(name, "schema.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _load(self, name: str, path: Path) -> bool:
        started = time.perf_counter()
        self._recover(name, path)
        try:
            stat = path.stat()
            with path.open("rb") as handle:
                data = handle.read(stat.st_size)
        except OSError as exc:
            self.store.fail(name, f"cannot read {path.name}: {exc.strerror}")
            return True
        settled = time.time() - stat.st_mtime > SETTLED_AFTER
        body = _complete(data, settled)
        header = body[:header_end(body)]
        self.files[name] = FileState(stat.st_ino, stat.st_size, stat.st_mtime_ns, len(body),
                                     header, body.count(b"\n"))
        try:
            reading = self._read(name, body)
        except Exception as exc:  # whatever is in the file, the server keeps serving
            if not isinstance(exc, SchemaError):
                log.exception("unexpected error reading a data file",
                              extra={"event": "error", "dataset": name})
            self.store.fail(name, f"{path.name}: {exc}")
            log.warning("cannot load dataset", extra={"event": "load_error", "dataset": name,
                                                      "error": str(exc)})
            return True
        dataset = self.store.create(name, reading.schema, source="file")
        dataset.append(reading.batch)
        dataset.warn(reading.warnings)
        log.info("dataset loaded", extra={
            "event": "reload", "dataset": name, "rows": len(dataset), "epoch": dataset.epoch,
            "skipped": reading.skipped, "warnings": len(reading.warnings),
            "ms": round((time.perf_counter() - started) * 1000, 1)})
        return True

    def _read(self, name: str, body: bytes) -> Reading:
        """Parse a whole file, with the schema ingest saved for it when it still fits."""
        saved = self._saved_schema(name)
        if saved is not None:
            try:
                reading: Reading = self.offload(read_table, body, saved, self.date_order)
                return reading
            except SchemaError:
                pass  # the file was rewritten with other columns: infer again
        reading = self.offload(read_table, body, None, self.date_order)
        return reading

    def _tail(self, name: str, path: Path, state: FileState, stat: os.stat_result,
              settled: bool = False) -> bool:
        try:
            with path.open("rb") as handle:
                if handle.read(len(state.header)) != state.header:
                    return self._load(name, path)  # rewritten in place
                handle.seek(state.offset)
                data = handle.read(stat.st_size - state.offset)
        except OSError:
            return False
        settled = settled or time.time() - stat.st_mtime > SETTLED_AFTER
        chunk = _complete(data, settled)
        state.size, state.mtime_ns = stat.st_size, stat.st_mtime_ns
        if not chunk.strip():
            state.offset += len(chunk)
            return False
        dataset = self.store.get(name)
        try:
            reading = self.offload(read_table, state.header + chunk, dataset.schema,
                                   self.date_order, state.lines - state.header.count(b"\n"))
        except ReadingChanged:
            return self._load(name, path)  # new lines settle what the load assumed: read again
        except Exception as exc:  # keep the last good data, show why the new lines are not in
            self.store.fail(name, f"{path.name}: appended lines unreadable: {exc}")
            state.offset += len(chunk)
            state.lines += chunk.count(b"\n")
            return True
        state.offset += len(chunk)
        state.lines += chunk.count(b"\n")
        self.store.clear_error(name)
        dataset.warn(reading.warnings)
        dataset.append(reading.batch)
        return True

    # -- ingest: the CSV files are the log -------------------------------------

    def append(self, name: str, points: Points) -> Dataset:
        """Validate ``points`` for dataset ``name``, make them durable, then apply them.

        One write per batch, fsync'd before this returns. A small intent record
        (file size before and after the batch) is fsync'd first, so a restart
        after a crash mid-write truncates the torn batch instead of loading part
        of it. New datasets are written aside and renamed into place.
        """
        with self._lock:
            path = self.directory / f"{name}.csv"
            dataset = self.store.find(name)
            if dataset is not None and dataset.source != "file":
                raise Conflict(f"dataset {name!r} is generated in memory (the demo); "
                                       "send points to another name")
            if dataset is not None and (why := dataset.schema.ingest_mismatch()):
                raise Conflict(f"{path.name} {why} and ingest writes comma-separated "
                               "UTF-8 with ISO-8601 timestamps; send points to another name")
            if dataset is not None:
                self._sync(name, path)  # take in lines others appended first
                dataset = self.store.find(name)
            if dataset is None and self.store.error(name) and path.exists():
                raise Conflict(f"{path.name} exists but cannot be read: "
                               f"{self.store.error(name)}")
            validated = self.offload(validate, points, dataset.schema if dataset else None)
            if dataset is None:
                dataset = self._create(name, path, validated)
            else:
                self._write(name, path, validated)
                dataset.append(validated.batch)
        self.store.changed(name)
        return dataset

    def _create(self, name: str, path: Path, validated: Validated) -> Dataset:
        columns = list(validated.schema.columns)
        data = _csv_bytes(columns, validated.rows, header=True)
        schema_file = self._sidecar(name, "schema.json")
        _durable_write(schema_file, json.dumps(asdict(validated.schema)).encode())
        self._sidecar(name, "intent").unlink(missing_ok=True)  # it described an older file
        partial = self._sidecar(name, "csv.partial")
        _durable_write(partial, data)
        os.replace(partial, path)
        _fsync_dir(self.directory)
        stat = path.stat()
        header = data[:data.find(b"\n") + 1]
        self.files[name] = FileState(stat.st_ino, stat.st_size, stat.st_mtime_ns, len(data),
                                     header, data.count(b"\n"))
        dataset = self.store.create(name, validated.schema, source="file")
        dataset.append(validated.batch)
        log.info("dataset created by ingest", extra={"event": "create", "dataset": name,
                                                     "rows": len(dataset)})
        return dataset

    def _write(self, name: str, path: Path, validated: Validated) -> None:
        state = self.files[name]
        # utf-8-sig: a header saved by Excel starts with a byte-order mark; comment lines
        # may come before it.
        columns = next(csv.reader([state.header.decode("utf-8-sig", "replace").splitlines()[-1]]))
        data = _csv_bytes([c.strip() for c in columns], validated.rows, header=False)
        schema_file = self._sidecar(name, "schema.json")
        if not schema_file.exists():  # pin the schema, so a reload reads labels as labels
            _durable_write(schema_file, json.dumps(asdict(validated.schema)).encode())
        with path.open("a+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size > 0 and os.pread(handle.fileno(), 1, size - 1) != b"\n":
                data = b"\n" + data  # the file's last line had no newline
            if size > state.offset:
                # Another writer left a last line without its newline: the newline we
                # add completes it, so read it in first rather than skip it.
                self._tail(name, path, state, os.fstat(handle.fileno()), settled=True)
            _durable_write(self._sidecar(name, "intent"),
                           f"{os.fstat(handle.fileno()).st_ino} {size} {size + len(data)}\n"
                           .encode())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            stat = os.fstat(handle.fileno())
        # The batch is whole on disk: its intent must not outlive it (a later rewrite of
        # the file could otherwise look like a torn batch). A crash before this unlink
        # leaves a record of a complete batch, which a restart ignores.
        self._sidecar(name, "intent").unlink(missing_ok=True)
        state.size, state.offset, state.mtime_ns = stat.st_size, stat.st_size, stat.st_mtime_ns
        state.lines += data.count(b"\n")


def _csv_bytes(columns: list[str], rows: list[dict[str, str]], header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _durable_write(path: Path, data: bytes) -> None:
    """Replace ``path``'s content with ``data`` and fsync it."""
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
