"""Origins compared as browsers compare them: scheme, host without case, default ports."""
from __future__ import annotations

import pytest

from app.web.origins import origin_checker, same_origin


@pytest.mark.parametrize("origin, host, scheme, same", [
    # the proxy: nginx sends $host:$server_port
    ("https://dash.example.com", "dash.example.com:443", None, True),
    ("https://dash.example.com", "dash.example.com:443", "https", True),
    ("http://dash.example.com", "dash.example.com:80", None, True),
    ("https://dash.example.com", "DASH.Example.COM", None, True),  # host names ignore case
    ("https://DASH.example.com", "dash.example.com", None, True),
    ("https://dash.example.com:443", "dash.example.com", "https", True),
    ("http://localhost:5000", "localhost:5000", None, True),
    ("http://127.0.0.1:5000", "127.0.0.1:5000", "http", True),
    ("http://[::1]:5000", "[::1]:5000", None, True),
    ("https://localhost", "localhost", None, True),  # TLS ended by a proxy nobody vouches for
    # not the same
    ("https://dash.example.com", "dash.example.com:80", None, False),  # 443 is not 80
    ("http://dash.example.com", "dash.example.com:443", None, False),
    ("https://dash.example.com", "dash.example.com", "http", False),  # a trusted proxy said http
    ("http://localhost:8080", "localhost:5000", None, False),
    ("http://evil.example:5000", "localhost:5000", None, False),
    ("http://dash.example.com.evil.example", "dash.example.com", None, False),
    ("http://[::1]:5000", "[::2]:5000", None, False),
    # malformed
    ("null", "localhost", None, False),  # sandboxed iframes and file:// pages send "null"
    ("", "localhost", None, False),
    ("ftp://localhost", "localhost", None, False),
    ("http://localhost:99999", "localhost", None, False),
    ("http://localhost:abc", "localhost", None, False),
    ("http://localhost", "localhost:abc", None, False),
    ("http://user@localhost", "localhost", None, False),
    ("http://localhost/path", "localhost", None, False),
    ("http://localhost", "", None, False),
])
def test_same_origin(origin: str, host: str, scheme: str | None, same: bool) -> None:
    assert same_origin(origin, host, scheme) is same


@pytest.mark.parametrize("origin, environ, extra, trusted, allowed", [
    (None, {"HTTP_HOST": "localhost"}, (), False, True),  # not a browser
    ("https://dash.example.com", {"HTTP_HOST": "dash.example.com:443",
                                  "wsgi.url_scheme": "http"}, (), False, True),
    # a trusted proxy said the browser used http: an https page is another origin
    ("https://dash.example.com", {"HTTP_HOST": "dash.example.com:443",
                                  "wsgi.url_scheme": "http", "dash.proxied": True}, (), True,
     False),
    ("https://dash.example.com", {"HTTP_HOST": "dash.example.com",
                                  "wsgi.url_scheme": "https", "dash.proxied": True}, (), True,
     True),
    # no trusted proxy vouched for this request's scheme: only host and port count
    ("https://dash.example.com", {"HTTP_HOST": "dash.example.com:443",
                                  "wsgi.url_scheme": "http"}, (), True, True),
    ("https://embed.example", {"HTTP_HOST": "localhost"}, ("https://Embed.example/",), False, True),
    ("https://other.example", {"HTTP_HOST": "localhost"}, ("https://embed.example",), False,
     False),
])
def test_origin_checker(origin: str | None, environ: dict[str, str], extra: tuple[str, ...],
                        trusted: bool, allowed: bool) -> None:
    assert origin_checker(extra, trusted_scheme=trusted)(origin, environ) is allowed
