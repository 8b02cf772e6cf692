"""eventlet's HTTP protocol and connection pool with the limits a public server needs
(eventlet only; what is decided from a request's head alone is in ``framing``).

- **Header timeout**: a request line and headers that do not arrive within
  ``header_timeout`` seconds close the connection, and so does a keep-alive
  connection idle that long. eventlet waits forever: 1,100 half-open requests held
  every one of its 1,024 request slots, and ``/healthz`` took 35-69 s.
- **Pace**: once the headers are in, a request's body must keep arriving, and its answer
  must keep being read, at ``min_rate`` bytes a second on average after the first
  ``header_timeout`` seconds (Apache's ``RequestReadTimeout body=...,MinRate=500``, for
  both directions). A timeout per read only caught clients that stopped: a body sent a
  byte every 4 s, or an export read 2 bytes a second, held a request slot for hours.
  WebSockets keep their own heartbeat timeouts instead; only a real handshake to
  ``/socket.io/`` is one (``framing.is_websocket_handshake``).
- **Body framing** (``framing.framing_problem``): what eventlet and the standard library
  could read two ways is a 400 or a 501, and so is a header section that ended without
  its blank line (the client went away, or was shown the door). Chunked bodies are
  marked ``wsgi.input_terminated``: eventlet ends them at the last chunk, so Werkzeug
  reads them whole, up to the app's size limit (it read them as empty).
- **Its own answers** (414, 431, 400 and 501 above, and the standard library's errors)
  carry the security headers every other answer has.
- **The pool** (``Pool``): one client address holds at most ``per_client`` connections
  (past that: 503 at once), and when every slot is taken, the connection that has waited
  longest for a request (idle keep-alive, or headers not finished) makes room for the new
  one, instead of the server stopping to accept.
- **WebSockets** (``places.WebSocketPlaces``): a handshake takes a place before it is
  upgraded, or is answered 503 (the server's are taken) or 429 (its address's are), with
  ``Retry-After``; the request gives the place back when it ends, unless
  ``websocket.Protocol`` handed it to the connection's reader with the connection.
- **Accepting** (``Listener``): out of open files (EMFILE, ENFILE) or kernel memory, the
  server waits and accepts again, logging it at most every ``log_every`` seconds; eventlet
  re-raised the error and the process exited.
"""
from __future__ import annotations

import errno
import logging
import math
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import eventlet
import eventlet.wsgi

from .framing import error_answer, framing_problem, is_websocket_handshake
from .places import RETRY_AFTER, Place, Refused, WebSocketPlaces

Headers = Sequence[tuple[str, str]]
ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets the connection


class HeaderTimeout(socket.timeout):
    """The request's headers did not arrive in time (eventlet closes the connection)."""


class Pace:
    """Deadlines for one connection's reads and writes, hooked into its green socket.

    eventlet bounds each wait for the socket by ``gettimeout()``; here that is the time
    left before the current direction's deadline, which starts ``timeout`` seconds after
    the request began (reads) or after the answer's first write (writes) and moves on by
    one second for every ``min_rate`` bytes that go through. ``remove`` gives the socket
    its own timeouts back (a WebSocket's).
    """

    __slots__ = ("_socket", "min_rate", "read_by", "reading", "timeout", "write_by")

    def __init__(self, sock: Any, timeout: float, min_rate: float) -> None:
        self._socket = sock
        self.timeout, self.min_rate = timeout, min_rate
        self.reading = True
        self.read_by = time.monotonic() + timeout
        self.write_by: float | None = None
        kind = type(sock)

        def recv_into(buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
            self.reading = True
            count: int = kind.recv_into(sock, buffer, nbytes, flags)
            self.read_by += count / self.min_rate
            return count

        def send(data: Any, flags: int = 0) -> int:
            self.reading = False
            if self.write_by is None:
                self.write_by = time.monotonic() + self.timeout
            try:
                count: int = kind.send(sock, data, flags)
            except TimeoutError:
                # Given up on: reset rather than close, or the kernel would go on sending
                # what it holds (up to its send buffer) as slowly as the client reads.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, ABORT)
                self.write_by = -math.inf  # and the writes still to come fail at once
                raise
            self.write_by += count / self.min_rate
            return count

        def gettimeout() -> float:
            deadline = self.read_by if self.reading or self.write_by is None else self.write_by
            # Never more than ``timeout`` for one wait either: bytes the kernel buffered
            # count as sent, and its buffers hold megabytes.
            return min(self.timeout, max(deadline - time.monotonic(), 0.001))

        # Instance attributes win over GreenSocket's methods: SocketIO's reads and writes,
        # and eventlet's waits for the socket, all go through these.
        sock.recv_into, sock.send, sock.gettimeout = recv_into, send, gettimeout

    def request(self) -> None:
        """A new request starts: its reads get ``timeout`` seconds plus their bytes' due."""
        self.reading = True
        self.read_by = time.monotonic() + self.timeout
        self.write_by = None

    def remove(self) -> None:
        """Unhook from the socket (a WebSocket now, or closed): its own timeouts apply."""
        for name in ("recv_into", "send", "gettimeout"):
            self._socket.__dict__.pop(name, None)


class _Watch:
    """The header reader, noting whether the header section ended at end of input."""

    def __init__(self, lines: Any) -> None:
        self._lines, self.ended = lines, False

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self._lines.readline(size)
        self.ended = self.ended or not line
        return line


def turn_away(sock: Any, answer: bytes) -> None:
    """Answer a connection that is not served with ``answer`` (a whole HTTP answer), then
    close it once the client has read it (reading what it sent, so the close is no reset)."""
    try:
        sock.settimeout(1.0)
        sock.sendall(answer)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


class Pool(eventlet.GreenPool):  # type: ignore[misc]
    """eventlet's pool of request green threads (one a connection until it becomes a
    WebSocket), which one client address cannot fill and idle connections never keep full.

    ``exempt(address)`` is True for addresses with no cap of their own (trusted proxies:
    every client behind one shares its address).
    """

    def __init__(self, size: int, per_client: int, exempt: Callable[[str], bool],
                 refusal: bytes) -> None:
        super().__init__(size)
        self.per_client, self.exempt, self.refusal = per_client, exempt, refusal
        self.by_client: dict[str, int] = {}
        self.waiting: dict[Any, None] = {}  # protocols waiting for a request, oldest first
        self.turned_away = 0
        self.evicted = 0

    def spawn(self, function: Callable[..., Any], connection: list[Any]) -> Any:
        """Serve ``connection`` (eventlet's ``[address, socket, state]``) in the pool; a
        503 instead past the cap of its address; room made first if the pool is full."""
        address, sock = connection[0], connection[1]
        client = str(address[0] if isinstance(address, tuple) else address)
        if self.by_client.get(client, 0) >= self.per_client and not self.exempt(client):
            self.turned_away += 1
            return eventlet.spawn(turn_away, sock, self.refusal)
        if self.free() <= 0 and self.waiting:
            oldest = next(iter(self.waiting))
            del self.waiting[oldest]
            self.evicted += 1
            oldest.evict()
        self.by_client[client] = self.by_client.get(client, 0) + 1
        thread = super().spawn(function, connection)
        thread.link(self._done, client)
        return thread

    def _done(self, _thread: Any, client: str) -> None:
        left = self.by_client.get(client, 1) - 1
        if left > 0:
            self.by_client[client] = left
        else:
            self.by_client.pop(client, None)


class Protocol(eventlet.wsgi.HttpProtocol):  # type: ignore[misc]
    """eventlet's HTTP protocol with a header timeout, paced bodies and answers, strict
    framing, and security headers on the answers it writes itself."""

    # Set per server by ``app.live.transport.http_protocol``.
    header_timeout = 10.0  # seconds
    min_rate = 500.0  # bytes a second
    security_headers: Headers = ()
    pool: Pool | None = None
    websockets: WebSocketPlaces | None = None
    _deadline: Any = None
    pace: Pace | None = None
    place: Place | None = None  # this connection's WebSocket place, while the request holds it

    def evict(self) -> None:
        """Close this connection, idle between requests, to make room (``Pool``)."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def setup(self) -> None:
        """eventlet's setup, with Nagle's algorithm off for this connection (TCP_NODELAY)."""
        # An answer over eventlet's 16 KB write buffer goes out as two writes, headers then
        # body; with Nagle on, the body's last segment waited for the client's delayed ACK
        # of the headers: every 30-58 KB figure GET on a keep-alive connection took 44 ms
        # (bench/keepalive.py). WebSocket frames, one write each, go out at once too.
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):  # not TCP (a Unix socket), or already gone
            pass
        super().setup()

    def handle_one_request(self) -> None:
        """One request, its line and headers read within ``header_timeout`` seconds."""
        if self.pace is None:  # the first request, or after a WebSocket handshake refused
            self.pace = Pace(self.connection, self.header_timeout, self.min_rate)
        self.pace.request()
        if self.pool is not None:
            self.pool.waiting[self] = None
        self._deadline = eventlet.Timeout(self.header_timeout, HeaderTimeout())
        try:
            super().handle_one_request()
        finally:
            self._deadline.cancel()
            if self.pool is not None:
                self.pool.waiting.pop(self, None)
            if self.place is not None:  # the upgrade failed, or its WebSocket closed here
                self.place.release()
                self.place = None

    def _read_request_line(self) -> str:
        line: str = super()._read_request_line()
        if len(line) >= self.server.url_length_limit:  # eventlet's own 414 has no headers
            self._refuse(414, "the request line is too long")
            return ""
        return line

    def parse_request(self) -> bool:
        """eventlet's (the standard library's) parsing, then the framing checks."""
        watch = _Watch(self.rfile)
        self.rfile: Any = watch
        try:
            parsed = bool(super().parse_request())
        except (eventlet.wsgi.HeaderLineTooLong, eventlet.wsgi.HeadersTooLarge):
            self._refuse(431, "the request's headers are too large")
            return False
        finally:
            self._deadline.cancel()  # the headers are in
            if self.pool is not None:
                self.pool.waiting.pop(self, None)
        if not parsed:
            return False
        if watch.ended:  # no blank line: the client (or Pool) closed mid-headers
            self.close_connection = 1
            return False
        problem = framing_problem(self.headers)
        if problem is not None:
            self._refuse(*problem)
            return False
        if is_websocket_handshake(self.command, self.path, self.headers):
            if not self._take_place():
                return False
            if self.pace is not None:
                self.pace.remove()  # the WebSocket's heartbeat decides from here
                self.pace = None
                self.connection.settimeout(None)
        return True

    def _take_place(self) -> bool:
        """A WebSocket place for this handshake; False once refused (503 or 429 written)."""
        if self.websockets is None:
            return True
        address = self.conn_state[0]
        taken = self.websockets.take(str(address[0] if isinstance(address, tuple)
                                         else address))
        if isinstance(taken, Refused):
            self._refuse(taken.status, taken.reason, (("Retry-After", str(RETRY_AFTER)),))
            return False
        self.place = taken
        return True

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The standard library's error answers (bad request line, too many headers...),
        always with a status line and headers: a request line it could not read counts as
        HTTP/0.9, whose answers have neither."""
        if self.request_version == "HTTP/0.9":  # type: ignore[has-type]
            self.request_version = "HTTP/1.0"
        # The standard phrase in the status line; the detail (which may quote the client's
        # bytes) only in the escaped HTML body.
        super().send_error(code, None, explain or message)

    def end_headers(self) -> None:
        """Headers end: the security headers go in first (only ``send_error`` gets here)."""
        for name, value in self.security_headers:
            self.send_header(name, value)
        super().end_headers()

    def _refuse(self, status: int, reason: str, extra: Headers = ()) -> None:
        self.wfile.write(error_answer(status, reason, [*self.security_headers, *extra]))
        self.wfile.flush()
        self.close_connection = 1

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        if (self.headers.get("Transfer-Encoding") or "").strip(" \t").lower() == "chunked":
            environ["wsgi.input_terminated"] = True
        return environ

    def finish(self) -> None:
        """eventlet's, and the socket's pace unhooked."""
        try:
            super().finish()
        finally:
            if self.pace is not None:
                self.pace.remove()


# accept() failing because the process or the system is short of something for now: this
# process's open files (EMFILE), the system's (ENFILE), kernel memory (ENOBUFS, ENOMEM).
# eventlet.wsgi.server re-raised them and the process exited for good.
SHORT_OF = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# A connection that failed before it was accepted: accept(2) says to retry at once.
# eventlet.wsgi.server re-raised ECONNABORTED too, and stopped serving on ECONNRESET.
CONNECTION_GONE = frozenset({errno.ECONNABORTED, errno.ECONNRESET, errno.EPROTO,
                             errno.EPERM, errno.ENETDOWN, errno.ENOPROTOOPT,
                             errno.EHOSTDOWN, errno.ENONET, errno.EHOSTUNREACH,
                             errno.EOPNOTSUPP, errno.ENETUNREACH})


class Listener:
    """The listening socket as ``eventlet.wsgi.server`` sees it, whose ``accept`` rides out
    a shortage instead of raising it.

    Short of files or memory, ``accept`` waits (``first_pause`` seconds, doubling up to
    ``longest_pause``: Go's net/http does the same) and tries again, while the connections
    already open are served and, closing, free what was short; the connections that arrive
    meanwhile wait in the listen backlog. A warning is logged at once, then at most every
    ``log_every`` seconds with the number of failed accepts since the last one. A connection
    gone before it was accepted is skipped. Everything else is the socket's own.
    """

    def __init__(self, sock: Any, first_pause: float = 0.005, longest_pause: float = 1.0,
                 log_every: float = 10.0, sleep: Callable[[float], Any] = eventlet.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 log: logging.Logger | None = None) -> None:
        self.socket = sock
        self.first_pause, self.longest_pause, self.log_every = (first_pause, longest_pause,
                                                                log_every)
        self._sleep, self._clock = sleep, clock
        self._log = log or logging.getLogger("dash.transport")
        self.failures = 0  # accepts that failed short of something, in all
        self._unreported = 0
        self._reported_at: float | None = None

    def accept(self) -> tuple[Any, Any]:
        """The next connection and its address, once one can be accepted."""
        pause = 0.0
        while True:
            try:
                connection: tuple[Any, Any] = self.socket.accept()
                return connection
            except OSError as exc:
                if exc.errno in CONNECTION_GONE:
                    continue
                if exc.errno not in SHORT_OF:
                    raise
                pause = min(max(2 * pause, self.first_pause), self.longest_pause)
                self._short_of(exc, pause)
                self._sleep(pause)

    def _short_of(self, exc: OSError, pause: float) -> None:
        self.failures += 1
        self._unreported += 1
        now = self._clock()
        if self._reported_at is not None and now - self._reported_at < self.log_every:
            return
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        self._log.warning(
            f"cannot accept connections ({name}: {exc.strerror}); waiting for open ones to "
            "close (DASH_MAX_CONNECTIONS and DASH_MAX_WEBSOCKETS must fit the open-files "
            "limit)",
            extra={"event": "accept_error", "errno": name, "failed": self._unreported,
                   "pause": pause})
        self._reported_at, self._unreported = now, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.socket, name)
