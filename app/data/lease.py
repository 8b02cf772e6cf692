"""A lease in Redis: one holder at a time among the processes of a cluster, taken over
by another within its time to live when the holder dies (cluster mode's demo writer)."""
from __future__ import annotations

import uuid
from typing import Any

from .redislog import TRANSPORT_ERRORS, LogUnavailable, connect

# Renew only a lease this holder still has: a holder that stalled past its time to live
# and lost the lease to another must not take it back by writing over it.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """The key ``key`` holds this holder's token for ``ttl`` seconds after each ``hold``."""

    def __init__(self, url: str, key: str, ttl: float, timeout: float = 2.0) -> None:
        self.key = key
        self.ttl_ms = max(1, round(ttl * 1000))
        self.token = uuid.uuid4().hex
        self._client: Any = connect(url, timeout)  # Any: redis-py's reply unions
        self._renew: Any = self._client.register_script(RENEW)
        self._release: Any = self._client.register_script(RELEASE)

    def hold(self) -> bool:
        """True if this holder has the lease now: renewed if it had it, taken if it was
        free; False while another holds it. ``LogUnavailable`` if Redis cannot be reached."""
        try:
            if self._renew(keys=[self.key], args=[self.token, self.ttl_ms]) == 1:
                return True
            return bool(self._client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis is unreachable: {exc}") from exc

    def release(self) -> None:
        """Give the lease up now if this holder has it (another may take it at once)."""
        try:
            self._release(keys=[self.key], args=[self.token])
        except TRANSPORT_ERRORS:
            pass  # it expires by itself

    def close(self) -> None:
        """Close the connection."""
        self._client.close()
