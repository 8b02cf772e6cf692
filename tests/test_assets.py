"""Static files: versioned URLs cached for a year, compressed once per version; pages
compressed; figures left as they are."""
from __future__ import annotations

import gzip
import re

import brotli
import pytest
from flask.testing import FlaskClient

from app import ROOT


def versioned(html: str, filename: str) -> str:
    """The URL the page uses for ``filename``."""
    found = re.search(rf'"(/static/{re.escape(filename)}\?v=[0-9a-f]{{12}})"', html)
    assert found, f"no versioned URL for {filename}"
    return found.group(1)


@pytest.mark.parametrize("filename", ["vendor/plotly-basic-4.1.1.min.js", "dash.js",
                                      "theme.js", "dash.css"])
def test_versioned_assets_are_cached_a_year_and_compressed(client: FlaskClient,
                                                           filename: str) -> None:
    url = versioned(client.get("/d/hosts").get_data(as_text=True), filename)
    original = (ROOT / "static" / filename).read_bytes()
    answer = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert answer.headers["Content-Encoding"] == "br"
    assert "Accept-Encoding" in answer.headers["Vary"]
    assert brotli.decompress(answer.data) == original
    assert len(answer.data) < len(original) / 2
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == original
    plain = client.get(url)
    assert "Content-Encoding" not in plain.headers and plain.data == original


def test_unversioned_or_outdated_urls_are_revalidated(client: FlaskClient) -> None:
    for url in ("/static/dash.js", "/static/dash.js?v=000000000000"):
        answer = client.get(url)
        assert answer.headers["Cache-Control"] == "no-cache"
        again = client.get(url, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304
    assert client.get("/static/nope.js").status_code == 404
    assert client.get("/static/../app/config.py").status_code == 404


def test_pages_are_compressed_and_figures_are_not(client: FlaskClient) -> None:
    page = client.get("/d/hosts", headers={"Accept-Encoding": "br"})
    assert page.headers["Content-Encoding"] == "br"
    assert b"<html" in brotli.decompress(page.data)
    figure = client.get("/api/d/hosts/figure", headers={"Accept-Encoding": "br, gzip"})
    assert "Content-Encoding" not in figure.headers


def test_json_answers_say_they_vary_by_encoding_as_pages_do(client: FlaskClient) -> None:
    for url in ("/api/d/hosts/figure", "/api/d/hosts/poll?timeout=0", "/d/hosts"):
        answer = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200, url
        assert "Accept-Encoding" in answer.headers["Vary"], url
