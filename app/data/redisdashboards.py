"""Dashboards in Redis for cluster mode: document bytes and an integer version per name.

A thin key-value layer; what a document means is decided elsewhere. Keys, under the
log's prefix:

- ``<p>dashboard:<name>``   HASH   ``doc`` (the JSON bytes; absent once deleted), ``version``
- ``<p>dashboards``         HASH   name -> version of every dashboard that exists
- ``<p>dashboards:changes`` STREAM ``name``, ``version``, ``event`` put|delete, newest 1,000

A deleted dashboard keeps its version, so one created again under that name goes on
counting and a page holding an old version never mistakes the new document for it.
Changes are a stream rather than pub/sub: a process that lost its connection for a while
reads what it missed from its cursor instead of losing the notifications.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from .redislog import (
    DEFAULT_PREFIX,
    TRANSPORT_ERRORS,
    LogUnavailable,
    connect,
    redacted,
    refusal,
)

CHANGES_MAXLEN = 1000
# Seconds a command may take before Redis counts as away. Dashboards are read while a page
# waits: a hung Redis (SIGSTOP, a frozen VM) costs a page at most this long, and nothing
# once the log's reader has noticed (``RedisDashboardStore``). It was 5 s here while
# cluster mode passed 1 s: one default now, the cluster's.
TIMEOUT = 1.0
# The longest a ``changes`` read may block (the product reads them without blocking); its
# connection waits this much more than ``TIMEOUT``.
MAX_BLOCK_MS = 1000

# ARGV[2] is the version the caller saw: '' to create (refused if it exists), else the
# number it must still be. Checks first, writes after (a Lua error keeps earlier writes).
PUT = """#!lua
local stored = redis.call('HMGET', KEYS[1], 'doc', 'version')
local current = tonumber(stored[2]) or 0
if ARGV[2] == '' then
  if stored[1] then return {0, current} end
elseif not stored[1] or tostring(current) ~= ARGV[2] then
  return {0, stored[1] and current or -1}
end
local version = current + 1
redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'version', version)
redis.call('HSET', KEYS[2], ARGV[1], version)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'name', ARGV[1],
           'version', version, 'event', 'put')
return {1, version}
"""

# ARGV[3] is the version the caller saw ('' to delete whatever is stored). Answers
# {1, version of the deletion}, {0, 0} if there is none, {-1, current} if it changed.
DELETE = """#!lua
local stored = redis.call('HMGET', KEYS[1], 'doc', 'version')
if not stored[1] then return {0, 0} end
if ARGV[3] ~= '' and stored[2] ~= ARGV[3] then return {-1, tonumber(stored[2])} end
local version = tonumber(stored[2]) + 1
redis.call('HDEL', KEYS[1], 'doc')
redis.call('HSET', KEYS[1], 'version', version)
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'name', ARGV[1],
           'version', version, 'event', 'delete')
return {1, version}
"""


class VersionConflict(Exception):
    """The stored version is not the one the write expected; ``current`` is None if absent."""

    def __init__(self, name: str, current: int | None) -> None:
        state = "does not exist" if current is None else f"is at version {current}"
        super().__init__(f"dashboard {name!r} {state}")
        self.current = current


@dataclass(frozen=True)
class StoredDashboard:
    """A dashboard's document bytes and version."""

    document: bytes
    version: int


@dataclass(frozen=True)
class DashboardChange:
    """One saved change: ``event`` is "put" or "delete"; ``id`` is the cursor after it."""

    id: str
    name: str
    version: int
    event: str


class RedisDashboards:
    """Dashboards' documents in Redis, written with a version check, changes as a stream."""

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, timeout: float = TIMEOUT,
                 max_block_ms: int = MAX_BLOCK_MS) -> None:
        self.url = redacted(url)  # what messages name; the password stays out of them
        self.prefix = prefix
        self.max_block_ms = max_block_ms
        # Any: see RedisLog (redis-py's reply unions; these replies are bytes).
        self._client: Any = connect(url, timeout)
        self._reader: Any = connect(url, timeout + max_block_ms / 1000)
        self._put: Any = self._client.register_script(PUT)
        self._delete: Any = self._client.register_script(DELETE)

    def close(self) -> None:
        """Close every connection."""
        self._client.close()
        self._reader.close()

    def _keys(self, name: str) -> list[str]:
        return [f"{self.prefix}dashboard:{name}", f"{self.prefix}dashboards",
                f"{self.prefix}dashboards:changes"]

    def get(self, name: str) -> StoredDashboard | None:
        """The stored document and version of ``name``, or None if there is none."""
        try:
            document, version = self._client.hmget(self._keys(name)[0], "doc", "version")
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        return None if document is None else StoredDashboard(document, int(version))

    def put(self, name: str, document: bytes, expected: int | None) -> tuple[int, bool]:
        """Save ``document``: (new version, True if created).

        ``expected`` None creates (``VersionConflict`` if it exists); an integer replaces
        only that stored version (``VersionConflict`` with the current one otherwise).
        Returns once Redis answered (on disk with ``appendfsync always``).
        """
        args = [name, "" if expected is None else str(expected), document, CHANGES_MAXLEN]
        try:
            ok, version = self._put(keys=self._keys(name), args=args)
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        except ResponseError as exc:
            if code := refusal(exc):
                raise LogUnavailable(f"Redis refused the write ({code}: {exc})") from exc
            raise
        if not ok:
            raise VersionConflict(name, None if int(version) < 0 else int(version))
        return int(version), expected is None

    def delete(self, name: str, expected: int | None = None) -> int | None:
        """Delete ``name``: the version its deletion got, or None if there was none.

        With ``expected``, only that stored version (``VersionConflict`` otherwise).
        """
        args = [name, CHANGES_MAXLEN, "" if expected is None else str(expected)]
        try:
            status, version = self._delete(keys=self._keys(name), args=args)
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        except ResponseError as exc:
            if code := refusal(exc):
                raise LogUnavailable(f"Redis refused the write ({code}: {exc})") from exc
            raise
        if status < 0:
            raise VersionConflict(name, int(version))
        return int(version) if status else None

    def all(self) -> dict[str, StoredDashboard]:
        """Every dashboard: name -> document and version (one round trip after the list)."""
        try:
            names = sorted(n.decode() for n in self._client.hkeys(f"{self.prefix}dashboards"))
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hmget(self._keys(name)[0], "doc", "version")
            found = pipe.execute()
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        return {name: StoredDashboard(doc, int(version))
                for name, (doc, version) in zip(names, found, strict=True) if doc is not None}

    def last_change(self) -> str:
        """The cursor of the newest change ("0-0" if none): start ``changes`` from here."""
        try:
            last = self._client.xrevrange(self._keys("")[2], count=1)
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        return last[0][0].decode() if last else "0-0"

    def changes(self, after: str, block_ms: int) -> list[DashboardChange]:
        """Changes saved after cursor ``after`` (any process), waiting up to ``block_ms`` ms.

        If the stream was trimmed past ``after`` (a reader away for over 1,000 saves),
        what was missed is not listed: call ``all`` again in that case.
        """
        block = max(1, min(block_ms, self.max_block_ms)) if block_ms > 0 else None
        try:
            reply = self._reader.xread({self._keys("")[2]: after}, block=block)
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        return [DashboardChange(raw_id.decode(), fields[b"name"].decode(),
                                int(fields[b"version"]), fields[b"event"].decode())
                for _, items in reply or [] for raw_id, fields in items]

    def missed(self, after: str) -> bool:
        """True if changes after cursor ``after`` were trimmed away: reload with ``all``."""
        try:
            info = self._client.xinfo_stream(self._keys("")[2])
        except ResponseError:
            return False  # no changes stream yet: nothing to miss
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        first = info.get("first-entry")
        if int(info["entries-added"]) <= int(info["length"]) or not first:
            return False  # nothing was ever trimmed
        # True also when the first change kept is simply the next one: a reload too many.
        first_id = first[0].decode() if isinstance(first[0], bytes) else str(first[0])
        return _id(first_id) > _id(after)


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
