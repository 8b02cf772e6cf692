"""The view page over HTTP: live refreshes that send only what changed, frozen table pages,
pages past the end, the time picker, the 400 page, and markup that a strict CSP allows."""
from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
from flask import Flask
from flask.testing import FlaskClient

REFRESH = {"HX-Request": "true", "X-Dash-Refresh": "1"}
LIVE_BLOCKS = ("notes", "range", "facets", "stats", "table")


def blocks_of(header: str) -> dict[str, str]:
    """``X-Dash-Blocks`` as {block: hash}."""
    return dict(item.split(":") for item in header.split())


def ids_in(html: str) -> list[str]:
    """The ids of the top-level fragments of a refresh answer, in order."""
    return re.findall(r'^<\w+ id="([\w-]+)"', html, flags=re.MULTILINE)


def append_line(data_dir: Path, line: str, state: Any) -> None:
    """Append one line to hosts.csv and let the data folder pick it up."""
    with (data_dir / "hosts.csv").open("a") as file:
        file.write(line + "\n")
    state.folder.scan()


def test_a_live_refresh_sends_only_the_blocks_that_changed(
        client: FlaskClient, data_dir: Path, state: Any) -> None:
    url = "/d/hosts?metric=cpu&host=web-1"
    first = client.get(url, headers=REFRESH)
    assert first.status_code == 200
    assert ids_in(first.get_data(as_text=True)) == list(LIVE_BLOCKS)
    have = first.headers["X-Dash-Blocks"]
    assert list(blocks_of(have)) == list(LIVE_BLOCKS)

    same = client.get(url, headers={**REFRESH, "X-Dash-Have": have})
    assert same.status_code == 204 and same.get_data() == b""  # nothing new: nothing sent

    # web-2 gets a point: this view's rows and stats are the same, its facets count it, and
    # its range line ends later.
    append_line(data_dir, "2024-05-01T00:03:00Z,23,63,web-2,us", state)
    changed = client.get(url, headers={**REFRESH, "X-Dash-Have": have})
    assert changed.status_code == 200
    assert ids_in(changed.get_data(as_text=True)) == ["range", "facets"]
    assert "00:03:00" in changed.get_data(as_text=True)
    assert blocks_of(changed.headers["X-Dash-Blocks"])["stats"] == blocks_of(have)["stats"]


def test_a_live_refresh_sends_only_the_blocks_on_screen(client: FlaskClient) -> None:
    url = "/d/hosts?metric=cpu"
    some = client.get(url, headers={**REFRESH, "X-Dash-Want": "range stats"})
    assert ids_in(some.get_data(as_text=True)) == ["range", "stats"]
    assert list(blocks_of(some.headers["X-Dash-Blocks"])) == list(LIVE_BLOCKS)  # all hashes
    none = client.get(url, headers={**REFRESH, "X-Dash-Want": ""})
    assert none.status_code == 204


@pytest.mark.parametrize("accepted, encoding, decode", [
    ("gzip", "gzip", gzip.decompress),
    ("gzip, deflate, br", "br", brotli.decompress),
    ("br;q=0.5, gzip", "gzip", gzip.decompress),
])
def test_a_live_refresh_is_compressed_once_for_every_viewer(
        client: FlaskClient, accepted: str, encoding: str, decode: Callable[[bytes], bytes],
        ) -> None:
    headers = {**REFRESH, "Accept-Encoding": accepted}
    plain = client.get("/d/hosts?metric=cpu&by=host", headers=REFRESH).get_data()
    packed = [client.get("/d/hosts?metric=cpu&by=host", headers=headers) for _ in range(2)]
    assert all(r.headers["Content-Encoding"] == encoding for r in packed)
    assert packed[0].get_data() == packed[1].get_data()  # the same bytes, compressed once
    assert decode(packed[0].get_data()) == plain
    assert len(packed[0].get_data()) < len(plain) / 2
    assert "Accept-Encoding" in packed[0].headers["Vary"]


@pytest.fixture
def small_pages(app: Flask) -> Flask:
    """Two rows a page: ``hosts`` has 6 cpu points, 3 pages."""
    app.config["TABLE_PAGE_SIZE"] = 2
    return app


def test_a_table_page_past_the_first_stays_and_counts_new_rows(
        small_pages: Flask, client: FlaskClient, data_dir: Path, state: Any) -> None:
    url = "/d/hosts?metric=cpu&agg=raw&page=2"
    page = client.get(url).get_data(as_text=True)
    assert 'data-page="2" data-total="6"' in page
    have = client.get(url, headers={**REFRESH, "X-Dash-Frozen": "6"}).headers["X-Dash-Blocks"]
    append_line(data_dir, "2024-05-01T00:03:00Z,13,53,web-1,eu", state)
    append_line(data_dir, "2024-05-01T00:04:00Z,14,54,web-1,eu", state)
    answer = client.get(url, headers={**REFRESH, "X-Dash-Frozen": "6", "X-Dash-Have": have})
    html = answer.get_data(as_text=True)
    assert "table" not in ids_in(html)  # its rows would have shifted by two
    assert "table-news" in ids_in(html)
    news = html[html.index('id="table-news"'):]
    assert "2 new rows since this page was shown" in news
    assert 'href="/d/hosts?metric=cpu&amp;agg=raw"' in news  # the newest rows: page 1
    # On page 1 the rows follow the data.
    first = client.get("/d/hosts?metric=cpu&agg=raw", headers=REFRESH).get_data(as_text=True)
    assert "table" in ids_in(first) and "00:04:00" in first


@pytest.mark.parametrize("page", ["4", "999", "1000000"])
def test_a_page_past_the_end_is_the_last_page(small_pages: Flask, client: FlaskClient,
                                               page: str) -> None:
    response = client.get(f"/d/hosts?metric=cpu&agg=raw&page={page}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/d/hosts?metric=cpu&agg=raw&page=3"
    fragments = client.get(f"/d/hosts?metric=cpu&agg=raw&page={page}",
                           headers={"HX-Request": "true"})
    assert fragments.headers["HX-Push-Url"] == "/d/hosts?metric=cpu&agg=raw&page=3"
    assert "page 3 of 3" in fragments.get_data(as_text=True)


def test_the_400_page_names_every_bad_parameter_and_keeps_every_good_choice(
        client: FlaskClient) -> None:
    response = client.get("/d/hosts?metric=mem&host=web-2&window=2hours&agg=median&by=host"
                          "&tz=Asia/Tokyo")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "2 parameters need a change" in html
    assert "<strong>window</strong>: &#39;2hours&#39; is not a duration" in html
    assert "<strong>agg</strong>: &#39;median&#39; is not one of" in html
    assert 'value="mem" checked' in html and 'value="cpu" checked' not in html
    assert '<input type="hidden" name="host" value="web-2">' in html
    assert re.search(r'id="f-window"[^>]*value="2hours"', html)  # what was typed, to correct
    assert "<option selected>median</option>" in html
    assert "<option selected>host</option>" in html
    assert re.search(r'id="f-tz"[^>]*value="Asia/Tokyo"', html)
    assert 'data-error="window, agg"' in html  # the chart does not watch a broken view
    assert "no labels" not in html and "No points" not in html  # both would be wrong
    assert html.count("Shown once the view's parameters are fixed.") == 3


def test_the_400_over_htmx_swaps_only_the_controls_with_every_problem(
        client: FlaskClient) -> None:
    response = client.get("/d/hosts?window=3x&bucket=2", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert ids_in(html) == ["controls"]
    assert "<strong>window</strong>" in html and "<strong>bucket</strong>" in html
    assert response.headers["HX-Push-Url"] == "false"


@pytest.mark.parametrize("query, shown", [
    ("metric=cpu&window=1m", "Last 1 min of data, to 2024-05-01 00:02:00 UTC"),
    ("metric=cpu", "All data, 2024-05-01 00:00:00 to 2024-05-01 00:02:00 UTC"),
    ("metric=cpu&start=2024-05-01T00:01:00Z&tz=Asia/Tokyo",
     "From 2024-05-01 09:01:00 to the newest point, 2024-05-01 09:02:00 Asia/Tokyo"),
    ("metric=cpu&start=2024-05-01T00:00:00Z&end=2024-05-01T00:01:00Z",
     "From 2024-05-01 00:00:00 to 2024-05-01 00:01:00 UTC."),
    ("metric=cpu&end=2024-05-01T00:01:00Z", "Everything up to 2024-05-01 00:01:00 UTC."),
])
def test_the_page_says_what_range_it_shows(client: FlaskClient, query: str, shown: str) -> None:
    html = client.get(f"/d/hosts?{query}").get_data(as_text=True)
    line = html[html.index('<p id="range"'):html.index("</p>", html.index('<p id="range"'))]
    assert shown in " ".join(re.sub(r"<[^>]+>", "", line).split())


def test_a_zone_typed_in_lower_case_is_shown_and_linked_as_iana_spells_it(
        client: FlaskClient) -> None:
    response = client.get("/d/hosts?metric=cpu&start=2024-05-01T00:01:00Z"
                          "&end=2024-05-01T00:02:00Z&tz=asia/tokyo")
    assert response.status_code == 302  # to the one canonical URL of the view
    assert response.headers["Location"].endswith("&tz=Asia/Tokyo")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="f-tz"[^>]*value="Asia/Tokyo"', html)
    assert "from (Asia/Tokyo)" in html
    assert re.search(r'id="f-start"[^>]*value="2024-05-01 09:01:00"', html)  # UTC+9
    assert ('id="step-earlier" hx-swap="none" href="/d/hosts?metric=cpu&amp;'
            'start=2024-05-01T00:00:00Z&amp;end=2024-05-01T00:01:00Z&amp;tz=Asia/Tokyo"') in html
    assert "asia/tokyo" not in html


def test_the_time_picker_writes_the_range_in_the_views_zone_and_offers_steps(
        client: FlaskClient) -> None:
    html = client.get("/d/hosts?metric=cpu&start=2024-05-01T00:01:00Z&end=2024-05-01T00:02:00Z"
                      "&tz=Asia/Tokyo").get_data(as_text=True)
    assert re.search(r'id="f-start"[^>]*value="2024-05-01 09:01:00"', html)
    assert re.search(r'id="f-end"[^>]*value="2024-05-01 09:02:00"', html)
    assert "from (Asia/Tokyo)" in html and "to (Asia/Tokyo)" in html
    assert re.search(r'id="f-window"[^>]*value=""', html)  # start/end replace the window
    assert ('id="step-earlier" hx-swap="none" href="/d/hosts?metric=cpu&amp;'
            'start=2024-05-01T00:00:00Z&amp;end=2024-05-01T00:01:00Z&amp;tz=Asia/Tokyo"') in html
    assert 'id="step-later"' not in html  # it ends at the newest point
    window = client.get("/d/hosts?metric=cpu&window=1h").get_data(as_text=True)
    assert re.search(r'class="quick"[^>]*href="/d/hosts\?metric=cpu&amp;window=15m">15 min<',
                     window)
    assert re.search(r'href="/d/hosts\?metric=cpu&amp;window=1h" aria-current="true">1 h<',
                     window)


@pytest.mark.parametrize("accepted", ["identity", "br"])
def test_the_index_answers_304_while_nothing_changed(client: FlaskClient, accepted: str) -> None:
    headers = {"HX-Request": "true", "Accept-Encoding": accepted}
    first = client.get("/", headers=headers)
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = client.get("/", headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""


@pytest.mark.parametrize("url", ["/", "/d/hosts", "/d/hosts?metric=cpu&by=host&page=1",
                                 "/d/hosts?window=3x&colour=red"])
def test_pages_need_no_inline_script_style_or_handlers(client: FlaskClient, url: str) -> None:
    """A Content-Security-Policy without 'unsafe-inline' allows all of the page."""
    html = client.get(url, follow_redirects=True).get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.findall(r"<[^>]*\sstyle=", html) == []
    assert re.findall(r"<[^>]*\son[a-z]+=", html) == []
    assert re.findall(r"<[^>]*\shx-on", html) == []


def test_the_range_boxes_round_trip_in_a_zone_whose_clocks_change(client: FlaskClient) -> None:
    html = client.get("/d/hosts?metric=cpu&start=2024-05-01T00:01:00Z&tz=Europe/Berlin"
                      ).get_data(as_text=True)
    written = re.search(r'id="f-start"[^>]*value="([^"]*)"', html)
    assert written is not None and written[1] == "2024-05-01 02:01:00 CEST"
    again = client.get("/d/hosts", query_string={"metric": "cpu", "start": written[1],
                                                 "end": "", "window": "",
                                                 "tz": "Europe/Berlin"})
    assert again.status_code == 302  # the same view, under its canonical URL
    assert again.headers["Location"] == ("/d/hosts?metric=cpu&start=2024-05-01T00:01:00Z"
                                         "&tz=Europe/Berlin")


def test_the_api_names_every_bad_parameter_too(client: FlaskClient) -> None:
    response = client.get("/api/d/hosts/figure?window=3x&agg=median")
    assert response.status_code == 400
    assert response.json["param"] == "window"
    assert [e["param"] for e in response.json["errors"]] == ["window", "agg"]
    assert response.json["error"].startswith("window: '3x' is not a duration")
    assert "; agg: 'median' is not one of" in response.json["error"]


def range_data(html: str) -> dict[str, str]:
    """The data attributes of the range line in ``html``."""
    found = re.search(r'<p id="range"[^>]*>', html)
    assert found is not None
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', found[0]))


MAY_FIRST_0002_MS = 1_714_521_720_000  # 2024-05-01T00:02:00Z, the newest point of hosts
MAY_FIRST_0003_MS = MAY_FIRST_0002_MS + 60_000


def test_the_range_line_says_what_the_server_holds_for_the_status_line(
        client: FlaskClient, data_dir: Path, state: Any) -> None:
    """Version, epoch, newest point and when the data changed (ms, the server's clock): the
    status line tells from them how new the page is and whether it is behind."""
    page = client.get("/d/hosts?metric=cpu&host=web-1").get_data(as_text=True)
    shown = range_data(page)
    snap = state.store.get("hosts").snapshot()
    assert (shown["version"], shown["epoch"]) == (str(snap.version), snap.epoch)
    assert shown["newest"] == str(MAY_FIRST_0002_MS)
    changed = int(shown["changed-at"])
    assert abs(changed - state.store.get("hosts").updated_at * 1000) < 1

    append_line(data_dir, "2024-05-01T00:03:00Z,23,63,web-2,us", state)  # another host
    refresh = client.get("/d/hosts?metric=cpu&host=web-1", headers=REFRESH)
    later = range_data(refresh.get_data(as_text=True))
    assert int(later["version"]) > int(shown["version"])
    assert later["newest"] == str(MAY_FIRST_0003_MS)  # the dataset's newest point
    assert int(later["changed-at"]) >= changed


@pytest.mark.parametrize("values, shown", [
    ([48.0, 45.22, 37.7], ["48.00", "45.22", "37.70"]),  # one number of decimals a column
    ([48.0, 12.0], ["48", "12"]),
    ([1_234_567.8], ["1,234,568"]),  # from 100,000 on no decimals...
    ([1_234_567.8, 2.5], ["1,234,567.80", "2.50"]),  # ...unless a neighbour needs them
    ([0.5, 0.0123, 3.0], ["0.5000", "0.0123", "3.0000"]),  # 0.0123 needs 4
    ([None, 5.25, float("nan")], ["", "5.25", "nan"]),
    ([], []),
])
def test_a_column_of_numbers_has_one_number_of_decimals(values: list[float | None],
                                                         shown: list[str]) -> None:
    from app.web.helpers import numbers

    assert numbers(values) == shown


@pytest.mark.parametrize("values, tz, shown", [
    (["2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z"], "UTC",
     ["2024-05-01 12:00:00", "2024-05-01 12:00:01"]),
    (["2024-05-01T12:00:00.000Z", "2024-05-01T12:00:01.000Z"], "UTC",  # no ".000"
     ["2024-05-01 12:00:00", "2024-05-01 12:00:01"]),
    (["2024-05-01T12:00:00.5Z", "2024-05-01T12:00:00.508Z", "2024-05-01T12:00:01Z"], "UTC",
     ["2024-05-01 12:00:00.500", "2024-05-01 12:00:00.508", "2024-05-01 12:00:01.000"]),
    ([1_714_564_800_000_001_000, None], "UTC", ["2024-05-01 12:00:00.000001", ""]),
    (["2024-11-03T05:30:00.25Z", "2024-11-03T06:30:00Z"], "America/New_York",  # clocks go back
     ["2024-11-03 01:30:00.250 EDT", "2024-11-03 01:30:00.000 EST"]),
])
def test_a_column_of_instants_has_one_precision(values: list[Any], tz: str,
                                                 shown: list[str]) -> None:
    from app.web.helpers import instants

    assert instants(values, tz) == shown


def test_the_stats_and_rows_columns_line_up(client: FlaskClient, data_dir: Path,
                                            state: Any) -> None:
    append_line(data_dir, "2024-05-01T00:03:00.5Z,12.25,63,web-1,eu", state)
    html = client.get("/d/hosts?metric=cpu&agg=raw").get_data(as_text=True)
    stats = re.search(r'<table class="stats">.*?</table>', html, re.S)
    assert stats is not None
    # web-1: count 4, min 10, mean 45.25 / 4 = 11.3125, max and last 12.25; web-2: count 3,
    # min 20, mean 21, max and last 22. min, mean, max and last share two decimals for
    # web-1's sake, whole minimums too (the rows table writes 10 as "10.00" as well).
    assert re.findall(r'<td class="num">([^<]*)</td>', stats[0]) == [
        "4", "10.00", "11.31", "12.25", "12.25",
        "3", "20.00", "21.00", "22.00", "22.00"]
    html = client.get("/d/hosts?metric=cpu&host=web-1&agg=raw").get_data(as_text=True)
    rows = re.search(r'<table class="rows">.*?</table>', html, re.S)
    assert rows is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', rows[0]) == [
        "12.25", "12.00", "11.00", "10.00"]
    assert re.findall(r"<tr><td>([^<]*)</td>", rows[0]) == [
        "2024-05-01 00:03:00.500", "2024-05-01 00:02:00.000", "2024-05-01 00:01:00.000",
        "2024-05-01 00:00:00.000"]


@pytest.mark.parametrize("url, loads", [
    ("/", False), ("/d/hosts", False), ("/d/hosts?window=2hours", False), ("/login", False),
    ("/dashboards", False),
])
def test_only_dashboard_pages_load_the_dashboard_stylesheet(client: FlaskClient, url: str,
                                                            loads: bool) -> None:
    html = client.get(url).get_data(as_text=True)
    assert "/static/dash.css" in html
    assert ("/static/dashboard.css" in html) is loads
