"""Dashboards in Redis (cluster mode) behind the ``DashboardStore`` protocol.

The documents are validated and written in the file form exactly as ``FileDashboardStore``
writes them, and versioned by ``RedisDashboards`` (a Lua script checks the version and
writes in one step), so a dashboard saved at one process is what every process reads at
once. ``scan`` reads the changes stream from its cursor: the saves made at other
processes, which each process announces to its own pages and long-polls.
"""
from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .. import redisdashboards
from ..errors import Unavailable
from ..redislog import LogUnavailable
from .document import CheckQuery, Dashboard, DocumentError, parse_document
from .fields import NAME, shown
from .fileform import decode_json, dump_document, load_document
from .store import (
    MAX_FILE_BYTES,
    BrokenDashboard,
    DashboardListing,
    DashboardNotFound,
    VersionConflict,
)

log = logging.getLogger("dash.dashboards")
T = TypeVar("T")
RETRY_AFTER = 1  # seconds a client should wait while Redis is unreachable


class RedisDashboardStore:
    """Dashboards as Redis hashes with a version each, and their changes as a stream."""

    def __init__(self, documents: redisdashboards.RedisDashboards, check_query: CheckQuery,
                 reachable: Callable[[], bool] = lambda: True) -> None:
        self.documents = documents
        self.check_query = check_query
        self.reachable = reachable  # False while this process's reader has lost Redis
        self._cursor: str | None = None  # the changes stream, read up to here
        self._seen: dict[str, int] = {}  # name -> version at the last scan
        self._own: set[tuple[str, int]] = set()  # (name, version) saved by this process
        self._lock = threading.Lock()

    def _call(self, method: Callable[..., T], *args: Any) -> T:
        """``method(*args)`` with Redis away as the ``Unavailable`` (503) clients see; at
        once while the reader knows Redis is away (a hung Redis would hold a page for
        the whole timeout)."""
        unavailable = Unavailable("dashboards are kept in Redis, which cannot be reached "
                                  "right now; try again in a moment", RETRY_AFTER)
        if not self.reachable():
            raise unavailable
        try:
            return method(*args)
        except LogUnavailable as exc:
            log.debug("redis unavailable for dashboards", extra={"event": "redis",
                                                                 "error": str(exc)})
            raise unavailable from None

    def list(self) -> builtins.list[DashboardListing]:
        """Every dashboard by name; one that no longer loads here is listed with its error."""
        entries = []
        for name, stored in self._call(self.documents.all).items():
            loaded = self._parse(stored.document)
            entries.append(
                DashboardListing(name, stored.version, error=loaded) if isinstance(loaded, str)
                else DashboardListing(name, stored.version, loaded.title, len(loaded.panels)))
        return entries

    def get(self, name: str) -> tuple[Dashboard, int]:
        """The dashboard and its version; ``DashboardNotFound`` or ``BrokenDashboard``."""
        if not NAME.fullmatch(name):
            raise DashboardNotFound(name)
        stored = self._call(self.documents.get, name)
        if stored is None:
            raise DashboardNotFound(name)
        loaded = self._parse(stored.document)
        if isinstance(loaded, str):
            raise BrokenDashboard(name, stored.version, loaded)
        return loaded, stored.version

    def put(self, name: str, obj: Any, expected_version: int | None,
            check_query: CheckQuery | None = None) -> int:
        """Validate ``obj`` (with ``check_query``, by default this store's) and save it as
        ``name``; the new version (see ``DashboardStore``)."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise DocumentError([{"panel": None, "field": "name", "message": f"{shown(name)} "
                                  "is not 1 to 64 of the characters A-Z a-z 0-9 _ -"}])
        data = dump_document(parse_document(obj, check_query or self.check_query))
        try:
            version, _ = self._call(self.documents.put, name, data, expected_version)
        except redisdashboards.VersionConflict as exc:
            raise VersionConflict(exc.current) from None
        with self._lock:
            self._own.add((name, version))
        return version

    def delete(self, name: str, expected_version: int | None = None) -> None:
        """Remove ``name``; ``DashboardNotFound``, or ``VersionConflict`` if a version is
        expected and differs. The version goes on counting if it is made again."""
        if not NAME.fullmatch(name):
            raise DashboardNotFound(name)
        try:
            version = self._call(self.documents.delete, name, expected_version)
        except redisdashboards.VersionConflict as exc:
            raise VersionConflict(exc.current) from None
        if version is None:
            raise DashboardNotFound(name)
        with self._lock:
            self._own.add((name, version))

    def scan(self) -> dict[str, int | None]:
        """Dashboards saved or deleted since the last scan by other processes: {name:
        version, ``None`` if deleted}; the first scan names every dashboard."""
        with self._lock:
            if self._cursor is None or self._call(self.documents.missed, self._cursor):
                cursor = self._call(self.documents.last_change)  # before reading: none is lost
                now = {name: stored.version for name, stored in
                       self._call(self.documents.all).items()}
                changed: dict[str, int | None] = {
                    name: None for name in self._seen.keys() - now.keys()}
                changed.update((name, version) for name, version in now.items()
                               if self._seen.get(name) != version)
                self._cursor, self._seen = cursor, now
                self._own.clear()  # at worst a change made here is announced once more
                return changed
            changed = {}
            for change in self._call(self.documents.changes, self._cursor, 0):
                self._cursor = change.id
                version = change.version if change.event == "put" else None
                if version is None:
                    self._seen.pop(change.name, None)
                else:
                    self._seen[change.name] = version
                if (change.name, change.version) in self._own:
                    self._own.discard((change.name, change.version))
                    continue  # announced when it was saved here
                changed[change.name] = version
            return changed

    def seed(self, directory: Path) -> builtins.list[str]:
        """Save each valid ``<directory>/<name>.json`` that Redis has no dashboard of that
        name for (the example dashboard of a fresh cluster); the names saved."""
        saved = []
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            name = path.stem
            if not NAME.fullmatch(name) or self._call(self.documents.get, name) is not None:
                continue
            try:
                data = path.read_bytes()[:MAX_FILE_BYTES + 1]
                # Checked as a stored file is: at a fresh cluster's first process the demo
                # dataset its panels show was not there yet, and the copy was refused with
                # a warning ("'demo' is not a dataset") while every other process copied it.
                self.put(name, decode_json(data), None, self._check_stored_query)
            except (OSError, DocumentError) as exc:
                log.warning("dashboard file not copied to redis", extra={
                    "event": "dashboard_seed", "dashboard": name, "error": str(exc)})
                continue
            except VersionConflict:
                continue  # another process copied it first
            saved.append(name)
        return saved

    def _parse(self, data: bytes) -> Dashboard | str:
        """The dashboard in ``data``, or why it does not load here."""
        try:
            return load_document(data, self._check_stored_query)
        except DocumentError as exc:
            return exc.message

    def _check_stored_query(self, dataset: str, query: str) -> str:
        """``check_query`` for a saved document, as ``FileDashboardStore`` does it: a dataset
        not loaded at this process keeps the panel's query as saved (that panel shows why
        it has no view); only writes refuse an unknown dataset."""
        try:
            return self.check_query(dataset, query)
        except LookupError:
            return query
