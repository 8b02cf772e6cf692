"""Dashboard storage: one small interface, and its implementation as files on disk.

``FileDashboardStore`` keeps ``<dir>/<name>.json`` in the canonical file form, so the
folder can live in git and be edited by hand. Cluster mode adds a Redis store behind
the same ``DashboardStore`` protocol.

Versions. A dashboard's version is an integer that grows with every saved change,
whoever made it, and survives restarts. It is kept beside the document, not in it:
``<dir>/.versions/<name>.json`` holds ``{"version": n, "sha256": <hash of the file>}``.
A version field inside the document would put a changing number into every diff and a
conflict into every merge, and a hand edit that forgot to bump it would go unseen.
Instead every read compares the file's hash with the recorded one: a file changed by
hand (an editor, ``git pull``) gets the next version at once, found by ``scan`` within
one scan interval or earlier by any ``get``/``list``/``put``; a save that writes the
same bytes is not a change to a reader but still gets a version of its own. Deleting
keeps the record as a tombstone (hash ``null``), so a dashboard made again under the
same name continues from a higher version, and an editor holding an old version can
never overwrite it. ``.versions`` ignores itself in git (it holds a ``.gitignore`` of
``*``). A fresh clone starts every dashboard at version 1. Hashes, not modification
times: mtimes repeat within a filesystem tick and go backwards on restores.

Writes are atomic and durable before they return: a temporary file in the same
folder, written and fsynced, renamed over the old one, then the folder fsynced. Every
read-and-write runs under a lock, a thread lock inside the process and ``flock`` on
``.versions/.lock`` across processes, so of two saves made against the same version
exactly one succeeds and the other gets ``VersionConflict``.
"""
from __future__ import annotations

import builtins
import errno
import fcntl
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import Conflict
from .document import CheckQuery, Dashboard, DocumentError, parse_document
from .fields import NAME, shown
from .fileform import dump_document, load_document

log = logging.getLogger("dash.dashboards")
RECORDS = ".versions"
MAX_FILE_BYTES = 1 << 20  # the largest valid document is 184 KiB (every limit reached)
NOT_FOLLOWED = "a symbolic link, which is not followed: put the file itself in dashboards/"


@dataclass(frozen=True)
class DashboardListing:
    """One dashboard of the list; a file that does not load has ``error`` instead of a title."""

    name: str
    version: int
    title: str | None = None
    panels: int | None = None  # how many
    error: str | None = None


class DashboardNotFound(LookupError):
    """No dashboard by that name (``name``)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no dashboard named {name!r}")
        self.name = name


class VersionConflict(Conflict):
    """The stored version is not the one the write expected; ``current`` is it (``None``:
    there is no such dashboard). Nothing was changed."""

    def __init__(self, current: int | None) -> None:
        self.current = current
        super().__init__("the dashboard was deleted meanwhile" if current is None else
                         f"the dashboard was changed meanwhile; it is now version {current}")


class BrokenDashboard(Exception):
    """The stored file does not load (``error`` says why); replace it with a PUT of
    ``version`` or fix it on disk."""

    def __init__(self, name: str, version: int, error: str) -> None:
        super().__init__(f"dashboards/{name}.json: {error}")
        self.name = name
        self.version = version
        self.error = error


class DashboardStore(Protocol):
    """Where dashboards are kept: files here, Redis in cluster mode."""

    def list(self) -> builtins.list[DashboardListing]:
        """Every dashboard by name, broken ones with their error."""

    def get(self, name: str) -> tuple[Dashboard, int]:
        """The dashboard and its version; ``DashboardNotFound``, ``BrokenDashboard``."""

    def put(self, name: str, obj: Any, expected_version: int | None) -> int:
        """Validate and save; the new version. Creating expects ``None``, replacing the
        stored version; else ``VersionConflict``. ``DocumentError`` if invalid."""

    def delete(self, name: str, expected_version: int | None = None) -> None:
        """Remove; ``DashboardNotFound``, or ``VersionConflict`` if a version is expected."""

    def scan(self) -> dict[str, int | None]:
        """{name: version, ``None`` if deleted} of the dashboards changed since the last scan
        other than by this store's own put/delete; a new store's first scan names them all."""


class FileDashboardStore:
    """Dashboards as ``<directory>/<name>.json``, versions in ``<directory>/.versions``."""

    def __init__(self, directory: Path | str, check_query: CheckQuery,
                 max_bytes: int = MAX_FILE_BYTES) -> None:
        self.directory = Path(directory)
        self.records = self.directory / RECORDS
        self.check_query = check_query
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # name -> version at the last scan or own write

    def list(self) -> builtins.list[DashboardListing]:
        """Every ``*.json`` file by name; one that does not load is listed with its error."""
        with self._locked():
            found = {name: self._current(name) for name in self._names()}
        entries = [DashboardListing(name, 0, error="the file name is not <name>.json with a "
                                                   "name of 1 to 64 of A-Z a-z 0-9 _ -")
                   for name in self._names(with_invalid=True) if not NAME.fullmatch(name)]
        for name, (data, version, error) in found.items():
            if version is None:
                continue  # deleted between listing the folder and reading the file
            loaded = self._parse(data, error)
            entries.append(
                DashboardListing(name, version, error=loaded) if isinstance(loaded, str)
                else DashboardListing(name, version, loaded.title, len(loaded.panels)))
        return sorted(entries, key=lambda entry: entry.name)

    def get(self, name: str) -> tuple[Dashboard, int]:
        """The dashboard and its version; ``DashboardNotFound`` or ``BrokenDashboard``."""
        if not NAME.fullmatch(name):
            raise DashboardNotFound(name)
        with self._locked():
            data, version, error = self._current(name)
        if version is None:
            raise DashboardNotFound(name)
        loaded = self._parse(data, error)
        if isinstance(loaded, str):
            raise BrokenDashboard(name, version, loaded)
        return loaded, version

    def put(self, name: str, obj: Any, expected_version: int | None) -> int:
        """Validate ``obj`` and save it as ``name``; the new version (see ``DashboardStore``)."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise DocumentError([{"panel": None, "field": "name", "message": f"{shown(name)} "
                                  "is not 1 to 64 of the characters A-Z a-z 0-9 _ -"}])
        data = dump_document(parse_document(obj, self.check_query))
        with self._locked(create=True):
            current = self._read_own(name)
            version, last = self._reconcile(name, current)
            if version != expected_version:
                raise VersionConflict(version)
            self._write(self.directory / f"{name}.json", data)
            self._write_record(name, last + 1, data)
            self._seen[name] = last + 1
        return last + 1

    def delete(self, name: str, expected_version: int | None = None) -> None:
        """Remove ``name``; ``DashboardNotFound``, or ``VersionConflict`` if a version is
        expected and differs. The version record stays, so a new one continues above it."""
        if not NAME.fullmatch(name):
            raise DashboardNotFound(name)
        with self._locked():
            version, last = self._reconcile(name, self._read_own(name))
            if version is None:
                raise DashboardNotFound(name)
            if expected_version is not None and expected_version != version:
                raise VersionConflict(version)
            os.unlink(self.directory / f"{name}.json")
            _fsync_folder(self.directory)
            self._write_record(name, last + 1, None)
            self._seen.pop(name, None)

    def scan(self) -> dict[str, int | None]:
        """Dashboards changed on disk since the last scan (hand edits, new and deleted files):
        {name: version, ``None`` if deleted}; meant to be called every scan interval."""
        with self._locked():
            now: dict[str, int] = {}
            for name in self._names():
                _data, version, _error = self._current(name)
                if version is not None:
                    now[name] = version
            changed: dict[str, int | None] = {
                name: None for name in self._seen.keys() - now.keys()}
            changed.update((name, version) for name, version in now.items()
                           if self._seen.get(name) != version)
            self._seen = now
        return changed

    # Inside the lock.

    @contextmanager
    def _locked(self, create: bool = False) -> Iterator[None]:
        """The thread lock and the folder's flock; the folder is made by the first write
        only: reading a data folder without dashboards leaves no trace in it."""
        with self._lock:
            if not self.records.is_dir():
                if not create and not self.directory.is_dir():
                    yield  # nothing to read, and nothing another process could write
                    return
                self.records.mkdir(parents=True, exist_ok=True)
                (self.records / ".gitignore").write_text("*\n")
            fd = os.open(self.records / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # and with it the flock

    def _names(self, with_invalid: bool = False) -> builtins.list[str]:
        if not self.directory.is_dir():
            return []
        names = sorted(entry.name[:-5] for entry in os.scandir(self.directory)
                       if entry.name.endswith(".json") and not entry.name.startswith("."))
        return names if with_invalid else [name for name in names if NAME.fullmatch(name)]

    def _read(self, name: str) -> bytes | None:
        """The file's bytes; ``None`` if it does not exist; ``OSError`` if unreadable, a
        symbolic link or not a regular file."""
        try:
            # O_NONBLOCK: a FIFO named like a dashboard must not hang the store.
            # O_NOFOLLOW: a link (``x.json -> /etc/passwd``) would show another file's
            # bytes in error messages and pages; dashboards are the folder's own files.
            fd = os.open(self.directory / f"{name}.json",
                         os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, NOT_FOLLOWED) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb") as file:
            return file.read(self.max_bytes + 1)

    def _read_own(self, name: str) -> bytes | None:
        """``_read`` for a write: a link or a file that is no regular file is a ``Conflict``
        naming it (409), never replaced or deleted blindly."""
        try:
            return self._read(name)
        except OSError as exc:
            raise Conflict(f"dashboards/{name}.json cannot be read ({exc.strerror}); move "
                           "it away first") from None

    def _current(self, name: str) -> tuple[bytes | None, int | None, str | None]:
        """(bytes, version, read error) of the file as it is now; version ``None``: absent."""
        try:
            data = self._read(name)
        except OSError as exc:
            record = self._read_record(name)
            return None, record[0] if record else 0, f"cannot be read: {exc.strerror}"
        version, _last = self._reconcile(name, data)
        return data, version, None

    def _reconcile(self, name: str, data: bytes | None) -> tuple[int | None, int]:
        """(version of ``data`` or ``None`` if absent, highest version ever given to
        ``name``); a file whose hash differs from the record's gets the next version."""
        record = self._read_record(name)
        last, recorded = record if record else (0, None)
        digest = hashlib.sha256(data).hexdigest() if data is not None else None
        if digest != recorded:
            last += 1
            self._write_record(name, last, data)
        return (last if data is not None else None), last

    def _read_record(self, name: str) -> tuple[int, str | None] | None:
        try:
            record = json.loads((self.records / f"{name}.json").read_bytes())
            version, digest = record["version"], record["sha256"]
            if (isinstance(version, bool) or not isinstance(version, int) or version < 0
                    or not isinstance(digest, (str, type(None)))):
                raise ValueError(record)
            return version, digest
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Starting again at 1 could repeat a version a client holds: warn loudly.
            log.warning("dashboard version record %s is unreadable (%s); starting again",
                        name, exc)
            return None

    def _write_record(self, name: str, version: int, data: bytes | None) -> None:
        digest = hashlib.sha256(data).hexdigest() if data is not None else None
        record = json.dumps({"version": version, "sha256": digest}).encode() + b"\n"
        self._write(self.records / f"{name}.json", record)

    def _write(self, path: Path, data: bytes) -> None:
        """Atomic and durable: temp file in the same folder, fsync, rename, fsync the folder."""
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o644
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                os.fchmod(file.fileno(), mode)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        _fsync_folder(path.parent)

    # Outside the lock.

    def _parse(self, data: bytes | None, error: str | None) -> Dashboard | str:
        """The dashboard in ``data``, or the error text of a file that does not load."""
        if error is not None or data is None:
            return error or "cannot be read"
        if len(data) > self.max_bytes:
            return f"the file is larger than {self.max_bytes} bytes"
        try:
            return load_document(data, self._check_stored_query)
        except DocumentError as exc:
            return exc.message

    def _check_stored_query(self, dataset: str, query: str) -> str:
        """``check_query`` for a saved file: a dataset that is not loaded right now (its file
        went away, failed to load, or is not ingested yet) keeps the panel's query as saved.
        Only writes refuse an unknown dataset; a stored dashboard stays whole, and that
        panel shows why it has no view (``AppState.panel_views``)."""
        try:
            return self.check_query(dataset, query)
        except LookupError:
            return query


def _fsync_folder(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
