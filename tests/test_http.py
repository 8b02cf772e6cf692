"""HTTP: pages, fragments, the JSON API and its error codes, configuration layers."""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.config import from_environment
from app.state import AppState


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["datasets"] == 1


def test_api_datasets_describes_each_dataset(client: FlaskClient) -> None:
    [hosts] = client.get("/api/datasets").json
    assert hosts["name"] == "hosts"
    assert hosts["rows"] == 6 and hosts["points"] == 12  # 6 rows x 2 metrics
    assert hosts["metrics"] == ["cpu", "mem"]
    assert hosts["labels"] == {"host": ["web-1", "web-2"], "region": ["eu", "us"]}
    assert hosts["start"] == "2024-05-01T00:00:00Z"
    assert hosts["end"] == "2024-05-01T00:02:00Z"
    assert hosts["version"] >= 1 and hosts["epoch"]


def test_api_figure_is_plotly_json_for_the_view(client: FlaskClient) -> None:
    body = client.get("/api/d/hosts/figure?by=host&metric=mem").json
    assert body["dataset"] == "hosts"
    assert body["query"] == "metric=mem&by=host"
    assert [t["name"] for t in body["figure"]["data"]] == ["web-1", "web-2"]
    assert [t["y"] for t in body["figure"]["data"]] == [[50, 51, 52], [60, 61, 62]]
    assert body["figure"]["layout"]["xaxis"]["type"] == "date"


def test_api_figure_is_built_once_per_version(client: FlaskClient, state: Any) -> None:
    client.get("/api/d/hosts/figure?metric=cpu")
    builds = state.live.figures.builds
    client.get("/api/d/hosts/figure?window=all&metric=cpu&agg=auto")
    assert state.live.figures.builds == builds


@pytest.mark.parametrize("url, status, error", [
    ("/api/d/nope/figure", 404, "unknown dataset 'nope'"),
    ("/api/d/hosts/figure?window=3x", 400, "window: '3x' is not a duration"),
    ("/api/d/hosts/figure?agg=median", 400, "agg: 'median' is not one of auto, raw, mean"),
    ("/api/d/hosts/figure?colour=red", 400, "colour: unknown parameter; this dataset's labels"
                                            " are host, region"),
    ("/api/d/hosts/figure?metric=disk", 400, "metric: 'disk' is not a metric of this dataset;"
                                             " metrics are cpu, mem"),
    ("/api/d/hosts/figure?start=2024-05-02&end=2024-05-01", 400, "start: start (2024-05-02)"
                                                                 " is after end"),
    ("/api/d/hosts/figure?by=zone", 400, "by: 'zone' is not series, none or a label"),
])
def test_api_errors_are_json_and_name_the_problem(client: FlaskClient, url: str, status: int,
                                                 error: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    assert response.is_json
    assert error in response.json["error"]


def test_index_lists_datasets_and_file_errors(client: FlaskClient, write_csv: Any,
                                              state: Any) -> None:
    write_csv("broken", "name,colour\nbob,red\n")
    state.folder.scan()
    html = client.get("/").get_data(as_text=True)
    assert 'href="/d/hosts"' in html
    assert "cpu, mem" in html
    assert "no timestamp column" in html


def test_index_fragment_for_htmx(client: FlaskClient) -> None:
    response = client.get("/", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'href="/d/hosts"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_view_page_has_controls_chart_and_vendored_scripts(client: FlaskClient) -> None:
    response = client.get("/d/hosts?metric=cpu&host=web-1&by=region")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<form id="controls"' in html and 'method="get"' in html
    assert 'data-query="metric=cpu&amp;host=web-1&amp;by=region"' in html
    assert '<input type="hidden" name="host" value="web-1">' in html
    for script in ("vendor/htmx-2.0.11.min.js", "vendor/socket.io-4.8.3.min.js",
                   "vendor/plotly-basic-4.1.1.min.js", "dash.js"):
        assert re.search(rf'src="/static/{re.escape(script)}\?v=[0-9a-f]{{12}}"', html)
    assert "cdn" not in html.lower()
    assert "HX-Request" in response.headers["Vary"]


def test_a_view_url_redirects_to_its_canonical_form(client: FlaskClient) -> None:
    response = client.get("/d/hosts?by=region&start=&end=&host=web-1&window=all&agg=auto")
    assert response.status_code == 302
    assert response.headers["Location"] == "/d/hosts?metric=cpu&host=web-1&by=region"
    assert client.get("/d/hosts").status_code == 200  # the bare URL is fine as it is


def test_view_fragments_for_htmx_have_no_page_around_them(client: FlaskClient) -> None:
    response = client.get("/d/hosts?by=host", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    for fragment in ("controls", "notes", "range", "view-meta", "add-panel", "facets", "stats",
                     "table"):
        assert f'id="{fragment}"' in html
    # Morphed into their namesakes (focus stays); "add to dashboard" is swapped whole.
    assert html.count('hx-swap-oob="morph"') == 7 and html.count('hx-swap-oob="true"') == 1
    assert 'id="chart"' not in html  # the live chart stays; it follows #view-meta
    assert response.headers["HX-Push-Url"] == "/d/hosts?metric=cpu&by=host"
    assert "HX-Request" in response.headers["Vary"]


def test_bad_parameter_page_is_400_with_the_message_and_the_controls(
        client: FlaskClient) -> None:
    response = client.get("/d/hosts?window=3x")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<strong>window</strong>: &#39;3x&#39; is not a duration" in html
    assert '<form id="controls"' in html


def test_unknown_dataset_page_is_404(client: FlaskClient) -> None:
    response = client.get("/d/nope")
    assert response.status_code == 404
    assert "No dataset called" in response.get_data(as_text=True)


def test_a_file_dropped_in_later_appears_on_the_next_scan(
        client: FlaskClient, write_csv: Any, state: Any) -> None:
    write_csv("later", "time,temp\n2024-01-01 00:00,1.5\n2024-01-01 01:00,2.5\n")
    assert state.folder.scan() == {"later"}
    assert client.get("/api/d/later/figure").json["figure"]["data"][0]["y"] == [1.5, 2.5]


def test_secret_key_is_required_outside_debug_and_testing(data_dir: Any) -> None:
    with pytest.raises(RuntimeError, match="DASH_SECRET_KEY"):
        create_app({"DATA_DIR": str(data_dir), "BACKGROUND": False})


def test_config_layers_env_then_mapping(monkeypatch: pytest.MonkeyPatch, data_dir: Any) -> None:
    monkeypatch.setenv("DASH_TABLE_PAGE_SIZE", "7")
    monkeypatch.setenv("DASH_ALLOWED_ORIGINS", "https://a.example, https://b.example/")
    app = create_app({"TESTING": True, "DATA_DIR": str(data_dir), "BACKGROUND": False,
                      "AUTO_MAX_POINTS": 9})
    assert app.config["TABLE_PAGE_SIZE"] == 7
    assert app.config["ALLOWED_ORIGINS"] == ("https://a.example", "https://b.example")
    assert app.config["AUTO_MAX_POINTS"] == 9


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="DASH_PORT='http' is not valid"):
        from_environment({"DASH_PORT": "http"})


def test_bad_parameter_keeps_the_users_other_choices(client: FlaskClient) -> None:
    html = client.get("/d/hosts?window=3x&by=host&agg=max").get_data(as_text=True)
    assert "<strong>window</strong>" in html
    assert "<option selected>host</option>" in html
    assert "<option selected>max</option>" in html
    assert 'data-error="window"' in html  # the live chart does not watch a broken view


def test_bad_parameter_over_htmx_swaps_only_the_controls(client: FlaskClient) -> None:
    response = client.get("/d/hosts?start=2024-05-02&end=2024-05-01",
                          headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<strong>start</strong>: start (2024-05-02) is after end" in html
    assert 'id="controls"' in html and 'id="table"' not in html and 'id="facets"' not in html
    assert response.headers["HX-Push-Url"] == "false"


@pytest.mark.parametrize("method, url, status", [
    ("get", "/api/nope", 404),
    ("get", "/api/d/hosts/points", 405),
    ("delete", "/api/d/hosts/figure", 405),
])
def test_api_errors_are_json_even_for_unknown_routes(client: FlaskClient, method: str, url: str,
                                                    status: int) -> None:
    response = getattr(client, method)(url)
    assert response.status_code == status
    assert response.is_json and response.json["error"]


def test_page_errors_stay_html(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_api_datasets_lists_failed_files_with_every_field(client: FlaskClient, write_csv: Any,
                                                          state: Any) -> None:
    write_csv("broken", "name,colour\nbob,red\n")
    state.folder.scan()
    broken = next(d for d in client.get("/api/datasets").json if d["name"] == "broken")
    assert "no timestamp column" in broken["error"]
    assert {k: broken[k] for k in ("rows", "metrics", "labels", "start", "end", "version",
                                   "epoch")} == {"rows": None, "metrics": [], "labels": {},
                                                 "start": None, "end": None, "version": None,
                                                 "epoch": None}


def test_canonical_redirect_keeps_a_url_prefix(client: FlaskClient) -> None:
    response = client.get("/d/hosts?by=host", base_url="http://localhost/dash")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dash/d/hosts?metric=cpu&by=host"
    again = client.get("/d/hosts?metric=cpu&by=host", base_url="http://localhost/dash")
    assert again.status_code == 200


def test_live_fragment_refreshes_of_one_view_and_version_are_computed_once(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch, state: Any) -> None:
    from app.web import pages as routes

    calls: list[str] = []
    real = routes.browse_context
    def counted(*args: Any) -> Any:
        calls.append("browse")
        return real(*args)

    monkeypatch.setattr(routes, "browse_context", counted)
    headers = {"HX-Request": "true", "X-Dash-Refresh": "1"}
    bodies = {client.get("/d/hosts?metric=cpu&by=host", headers=headers).get_data(as_text=True)
              for _ in range(3)}
    assert len(calls) == 1 and len(bodies) == 1
    [body] = bodies
    assert 'id="table"' in body and 'id="controls"' not in body  # live blocks only
    state.store.get("hosts").touch()  # a new version: computed again, once
    client.get("/d/hosts?metric=cpu&by=host", headers=headers)
    assert len(calls) == 2


def test_a_view_in_another_time_zone_writes_every_time_there_and_names_the_zone(
        client: FlaskClient) -> None:
    html = client.get("/d/hosts?metric=cpu&agg=raw&tz=Asia/Tokyo").get_data(as_text=True)
    assert "last at (Asia/Tokyo)" in html and "time (Asia/Tokyo)" in html
    # hosts.csv's newest point is 2024-05-01T00:02:00Z: 09:02 in Tokyo
    table = html[html.index('id="table"'):]
    assert "2024-05-01 09:02:00" in table and "00:02:00" not in table
    figure = client.get("/api/d/hosts/figure?metric=cpu&agg=raw&tz=Asia/Tokyo").json
    assert figure["query"] == "metric=cpu&agg=raw&tz=Asia/Tokyo"
    assert figure["figure"]["layout"]["xaxis"]["title"]["text"] == "time (Asia/Tokyo)"
    assert figure["figure"]["data"][0]["x"][-1] == "2024-05-01T09:02:00"
    rows = client.get("/api/d/hosts/rows?metric=cpu&agg=raw&tz=Asia/Tokyo&format=json").json
    assert rows["rows"][0]["timestamp"] == "2024-05-01T09:02:00+09:00"


@pytest.mark.parametrize("path, kind", [
    ("/d/broken", "page"),
    ("/d/broken?metric=cpu", "page"),
    ("/api/d/broken/figure", "json"),
    ("/api/d/broken/rows?format=csv", "json"),
    ("/api/d/broken/poll?timeout=0", "json"),
])
def test_a_file_that_failed_to_load_answers_422_with_its_error(
        client: FlaskClient, write_csv: Any, state: AppState, path: str, kind: str) -> None:
    write_csv("broken", "when,what\nyesterday,nothing\n")
    state.folder.scan()
    response = client.get(path)
    assert response.status_code == 422
    if kind == "json":
        assert response.json["dataset"] == "broken"
        assert "no timestamp column" in response.json["error"]
    else:
        html = response.get_data(as_text=True)
        assert "“broken” could not be read" in html and "no timestamp column" in html
    assert client.get("/d/nothing-called-this").status_code == 404
    assert client.get("/api/d/nothing-called-this/figure").status_code == 404


def test_rows_left_out_are_counted_and_explained_on_every_page(
        client: FlaskClient, write_csv: Any, state: AppState) -> None:
    # lines 3 and 5 hold no timestamp
    write_csv("logger", "time,temp\n2024-05-01T12:00:00Z,20\nsoon,21\n"
                        "2024-05-01T12:02:00Z,22\nlater,23\n")
    state.folder.scan()
    [entry] = [d for d in client.get("/api/datasets").json if d["name"] == "logger"]
    assert entry["skipped"] == 2 and entry["rows"] == 2
    assert any("2 rows" in note and "lines 3, 5" in note for note in entry["warnings"]), \
        entry["warnings"]
    index = client.get("/").get_data(as_text=True)
    assert "2 rows left out" in index and "lines 3, 5" in index
    page = client.get("/d/logger").get_data(as_text=True)
    assert "2 rows of the file left out" in page and "lines 3, 5" in page


def test_a_chart_across_a_clock_change_says_its_axis_follows_the_clocks(
        client: FlaskClient, write_csv: Any, state: AppState) -> None:
    # 15-minute points across 2024-11-03 06:00Z, when New York's clocks went back
    rows = [f"2024-11-03T{h:02d}:{m:02d}:00Z,{h * 4 + m // 15}" for h in range(3, 9)
            for m in (0, 15, 30, 45)]
    write_csv("fold", "timestamp,v\n" + "\n".join(rows) + "\n")
    state.folder.scan()
    new_york = client.get("/api/d/fold/figure?tz=America/New_York").json["figure"]
    assert "as clocks read" in new_york["layout"]["xaxis"]["title"]["text"]
    utc = client.get("/api/d/fold/figure").json["figure"]
    assert utc["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    table = client.get("/d/fold?tz=America/New_York&agg=raw", follow_redirects=True).get_data(
        as_text=True)
    assert "2024-11-03 01:00:00 EDT" in table and "2024-11-03 01:00:00 EST" in table
