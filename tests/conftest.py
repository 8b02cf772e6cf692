"""Fixtures: a fresh app per test over a temporary data folder, its HTTP and socket clients."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient

from app import create_app
from app.state import AppState
from tests.samples import WIDE_CSV


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """An empty data folder; tests drop CSV files into it."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def write_csv(data_dir: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``<data_dir>/<name>.csv``."""
    def write(name: str, text: str) -> Path:
        path = data_dir / f"{name}.csv"
        path.write_text(text)
        return path
    return write


@pytest.fixture
def app_config(data_dir: Path) -> dict[str, Any]:
    """Settings for the test app: no background loops, the temporary data folder."""
    return {"TESTING": True, "DATA_DIR": str(data_dir), "BACKGROUND": False, "DEMO": False}


@pytest.fixture
def app(app_config: dict[str, Any], write_csv: Callable[[str, str], Path]) -> Iterator[Flask]:
    """A fresh app with one wide dataset, ``hosts``."""
    write_csv("hosts", WIDE_CSV)
    yield create_app(app_config)


@pytest.fixture
def state(app: Flask) -> AppState:
    """The app's shared state (store, folder, live)."""
    return app.extensions["dash"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """HTTP test client."""
    return app.test_client()


@pytest.fixture
def socket_client(app: Flask, client: FlaskClient) -> Iterator[SocketIOTestClient]:
    """A connected Socket.IO test client."""
    sc = app.extensions["socketio"].test_client(app, flask_test_client=client)
    yield sc
    if sc.is_connected():
        sc.disconnect()
