"""The data folder: load new CSV files, tail appended lines, reload rewritten ones."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .schema import SchemaError, is_valid_name, read_table
from .store import Store

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
    header: bytes  # first line, newline included


def _complete(data: bytes, settled: bool) -> bytes:
    """The part of ``data`` made of whole lines; all of it once the file has settled."""
    if settled or data.endswith(b"\n"):
        return data
    cut = data.rfind(b"\n")
    return data[:cut + 1] if cut >= 0 else b""


class DataFolder:
    """Keeps the store in step with ``*.csv`` files directly in one folder."""

    def __init__(self, store: Store, directory: str | os.PathLike[str]) -> None:
        self.store = store
        self.directory = Path(directory)
        self.files: dict[str, FileState] = {}
        self._warned: set[str] = set()

    def scan(self) -> set[str]:
        """One pass over the folder; returns the names of datasets that changed."""
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
            seen.add(name)
            if self._sync(name, path):
                changed.add(name)
        for name in set(self.files) - seen:
            del self.files[name]
            self.store.datasets.pop(name, None)
            self.store.errors.pop(name, None)
            log.info("dataset file removed", extra={"event": "remove", "dataset": name})
            changed.add(name)
        for name in changed:
            self.store.changed(name)
        return changed

    def reload(self, name: str) -> bool:
        """Read a file-backed dataset again from scratch (a new epoch); False if not a file."""
        path = self.directory / f"{name}.csv"
        if not is_valid_name(name) or not path.is_file():
            return False
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
                                                              state.mtime_ns):
            return False
        if stat.st_ino != state.inode or stat.st_size < state.offset or name not in \
                self.store.datasets:
            return self._load(name, path)
        return self._tail(name, path, state, stat)

    def _load(self, name: str, path: Path) -> bool:
        started = time.perf_counter()
        try:
            stat = path.stat()
            with path.open("rb") as handle:
                data = handle.read(stat.st_size)
        except OSError as exc:
            self.store.errors[name] = f"cannot read {path.name}: {exc.strerror}"
            return True
        settled = time.time() - stat.st_mtime > SETTLED_AFTER
        body = _complete(data, settled)
        header = body[:body.find(b"\n") + 1] if b"\n" in body else body
        self.files[name] = FileState(stat.st_ino, stat.st_size, stat.st_mtime_ns, len(body),
                                     header)
        try:
            schema, batch = read_table(body)
        except Exception as exc:  # whatever is in the file, the server keeps serving
            if not isinstance(exc, SchemaError):
                log.exception("unexpected error reading a data file",
                              extra={"event": "error", "dataset": name})
            self.store.errors[name] = f"{path.name}: {exc}"
            log.warning("cannot load dataset", extra={"event": "load_error", "dataset": name,
                                                      "error": str(exc)})
            return True
        dataset = self.store.create(name, schema, source="file")
        dataset.append(batch)
        log.info("dataset loaded", extra={
            "event": "reload", "dataset": name, "rows": len(dataset), "epoch": dataset.epoch,
            "skipped": batch.skipped, "ms": round((time.perf_counter() - started) * 1000, 1)})
        return True

    def _tail(self, name: str, path: Path, state: FileState, stat: os.stat_result) -> bool:
        try:
            with path.open("rb") as handle:
                if handle.read(len(state.header)) != state.header:
                    return self._load(name, path)  # rewritten in place
                handle.seek(state.offset)
                data = handle.read(stat.st_size - state.offset)
        except OSError:
            return False
        settled = time.time() - stat.st_mtime > SETTLED_AFTER
        chunk = _complete(data, settled)
        state.size, state.mtime_ns = stat.st_size, stat.st_mtime_ns
        if not chunk.strip():
            state.offset += len(chunk)
            return False
        dataset = self.store.datasets[name]
        try:
            _, batch = read_table(state.header + chunk, dataset.schema)
        except Exception as exc:  # keep the last good data, show why the new lines are not in
            self.store.errors[name] = f"{path.name}: appended lines unreadable: {exc}"
            state.offset += len(chunk)
            return True
        state.offset += len(chunk)
        self.store.errors.pop(name, None)
        dataset.append(batch)
        return True
