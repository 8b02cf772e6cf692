"""Static files under versioned URLs, cached for a year, and compressed responses.

``asset_url("dash.js")`` is ``/static/dash.js?v=<hash of its bytes>``: a URL that
names one version of the file, so browsers keep it a year and never ask again
(``Cache-Control: immutable``); a changed file gets a new URL. Any other static URL
is revalidated on every use, as before. Pages and static files are compressed by
Flask-Compress (brotli, else gzip); static files are compressed once per version
and kept in memory: plotly's 1.19 MB costs ~30-80 ms of brotli once, not per request.
"""
from __future__ import annotations

import hashlib
import mimetypes
import threading
from pathlib import Path

from flask import Flask, Response, request, url_for
from flask_compress import Compress

YEAR = 365 * 86400
HASH_CHARS = 12
# What is worth compressing: pages, fragments, scripts, styles, SVG. JSON figures and
# polls are left alone: per-client compression of a 200 KB figure costs ~4 ms a client
# an update (DASH_COMPRESSION decides that for Socket.IO; the proxy may do it instead).
MIMETYPES = ["text/html", "text/css", "text/javascript", "application/javascript",
             "image/svg+xml", "text/plain"]


class Assets:
    """The static folder's files: their version (a hash of the bytes) and their bytes,
    read again when a file's size or modification time changes (thread-safe)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self._known: dict[str, tuple[tuple[int, int], str, bytes]] = {}
        self._lock = threading.Lock()

    def _path(self, filename: str) -> Path | None:
        path = (self.folder / filename).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return None
        return path

    def read(self, filename: str) -> tuple[str, bytes] | None:
        """(version, bytes) of a static file, or None if there is no such file."""
        path = self._path(filename)
        if path is None:
            return None
        stat = path.stat()
        mark = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            hit = self._known.get(filename)
        if hit and hit[0] == mark:
            return hit[1], hit[2]
        body = path.read_bytes()
        version = hashlib.sha256(body).hexdigest()[:HASH_CHARS]
        with self._lock:
            self._known[filename] = (mark, version, body)
        return version, body

    def version(self, filename: str) -> str | None:
        """The version of a static file (12 hex digits of its SHA-256), None if missing."""
        found = self.read(filename)
        return found[0] if found else None


class StaticCache:
    """Flask-Compress's cache backend: keeps compressed static files (keys ``static:``),
    never pages, whose bytes change with every request."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        """The compressed bytes kept under ``key``."""
        with self._lock:
            return self._items.get(key)

    def set(self, key: str, value: bytes) -> None:
        """Keep ``value`` if ``key`` names a static file version."""
        if ";static:" in key:
            with self._lock:
                self._items[key] = value


def register(app: Flask) -> None:
    """Serve static files from memory with versioned, year-long caching; compress
    responses; add the ``asset_url`` template global."""
    assets = Assets(Path(app.static_folder or "static"))
    app.extensions["dash_assets"] = assets
    app.config.setdefault("COMPRESS_MIMETYPES", MIMETYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    # Brotli 4 (Flask-Compress's default): a 60 KB view page in ~2.5 ms, fragments in
    # ~0.4 ms; 5 saves 14% for ~1.5x the CPU, per response. Plotly's 1.19 MB -> 401 KB,
    # once per version (11 would give 329 KB but takes 3.9 s).
    app.config.setdefault("COMPRESS_BR_LEVEL", 4)
    app.config.setdefault("COMPRESS_LEVEL", 6)
    app.config.setdefault("COMPRESS_STREAMS", False)  # exports stream as they are
    app.config.setdefault("COMPRESS_CACHE_BACKEND", StaticCache)

    def cache_key(_request: object) -> str:
        """Static files: one key per file and version (the bytes', whatever the URL
        says); pages: a key StaticCache never keeps."""
        filename = (request.view_args or {}).get("filename")
        if request.endpoint == "static" and filename:
            return f"static:{filename}:{assets.version(filename)}"
        return "page"

    app.config.setdefault("COMPRESS_CACHE_KEY", cache_key)
    app.config.setdefault("COMPRESS_REGISTER", False)  # registered below, in front of it
    compress = Compress(app)
    compressible = frozenset(app.config["COMPRESS_MIMETYPES"])

    def compressed(response: Response) -> Response:
        """Flask-Compress's answer; one it would never compress (JSON: figures, every
        long-poll's answer) only gets its ``Vary``, without the ~10 µs of its checks."""
        if response.mimetype in compressible:
            return compress.after_request(response)
        vary = response.headers.get("Vary")  # as Flask-Compress marks every answer
        if not vary:
            response.headers["Vary"] = "Accept-Encoding"
        elif "accept-encoding" not in vary.lower():
            response.headers["Vary"] = f"{vary}, Accept-Encoding"
        return response

    app.after_request(compressed)

    def static(filename: str) -> Response:
        found = assets.read(filename)
        if found is None:
            return Response("not found", 404, mimetype="text/plain")
        version, body = found
        mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        response = Response(body, mimetype=mimetype)
        if request.args.get("v") == version:
            response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        else:  # an unversioned or outdated URL: always ask whether it changed
            response.headers["Cache-Control"] = "no-cache"
            response.set_etag(version)
            response.make_conditional(request)
        return response

    app.view_functions["static"] = static

    def asset_url(filename: str) -> str:
        """The URL of a static file with its version: cacheable for a year."""
        version = assets.version(filename)
        if version is None:
            raise FileNotFoundError(f"no static file {filename!r}")
        return url_for("static", filename=filename, v=version)

    app.add_template_global(asset_url)
