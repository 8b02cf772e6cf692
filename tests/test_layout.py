"""The README's layout lists every module of the app, and no module that is gone."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
MODULE = re.compile(r"(?<![\w/.])([\w/]+\.py)\b")


def layout_modules(readme: str) -> set[str]:
    """Paths of the modules the README's layout block names, resolved under the package
    heading (``app/data/``) they are indented under."""
    section = readme.split("## Layout", 1)[1]
    block = section.split("```", 2)[1]
    package, found = "", set[str]()
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            head = line.split()[0]
            package = head if head.startswith("app/") and head.endswith("/") else ""
        found.update(package + name if line.startswith(" ") else name
                     for name in MODULE.findall(line))
    return found


def app_modules() -> set[str]:
    """Every module of ``app/`` with more in it than a docstring."""
    return {str(p.relative_to(ROOT)) for p in (ROOT / "app").rglob("*.py")
            if len(p.read_text().splitlines()) > 1}


def test_the_layout_names_every_module_of_the_tree() -> None:
    listed = {m for m in layout_modules((ROOT / "README.md").read_text())
              if m.startswith("app/")}
    assert sorted(app_modules() - listed) == []  # modules the README does not name
    assert sorted(listed - app_modules()) == []  # names of modules that are gone


@pytest.mark.parametrize("block, expected", [
    ("app/data/            data in\n  reader.py   read()\n  dashboards/store.py  files\n",
     {"app/data/reader.py", "app/data/dashboards/store.py"}),
    ("app/__init__.py  create_app\nwsgi.py  thin\n", {"app/__init__.py", "wsgi.py"}),
])
def test_layout_modules_resolve_names_under_their_package(block: str,
                                                          expected: set[str]) -> None:
    assert layout_modules(f"## Layout\n\n```\n{block}```\n") == expected


# Data flows one way (README "Layout"): each package imports nothing from those after it.
DOWNSTREAM = {
    "app.data": ("app.engine", "app.live", "app.web"),
    "app.engine": ("app.live", "app.web"),
    "app.live": ("app.web",),
}
# Flask's request and app context reach only the web edge and the two modules that wire it.
FLASK = ("flask", "flask_socketio", "flask_wtf", "flask_compress", "werkzeug")
FLASK_ALLOWED = ("app.web", "app.state", "app")
# The libraries' private parts app/live/transport/internals.py probes at start-up: only the
# fence (app/live/transport/) may touch them, so a release that moves one breaks one place.
FENCE = "app.live.transport"
PRIVATE_ATTRIBUTES = {"_send_eio_packet", "_sendlock", "conn_state", "websocket_closed",
                      "_read_request_line", "url_length_limit", "last_ping"}
PRIVATE_CHAINS = {("eio", "sockets"), ("queue", "qsize")}
PRIVATE_MODULES = ("eventlet.websocket", "eventlet.wsgi", "eventlet.greenio",
                   "engineio.socket", "engineio.async_drivers")


def module_name(path: Path) -> str:
    """``app/live/rooms.py`` -> ``app.live.rooms``; a package's ``__init__.py`` -> the
    package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def within(module: str, packages: tuple[str, ...]) -> bool:
    """Whether ``module`` is one of ``packages`` or inside one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``, relative ones resolved
    against ``module``; ``from x import y`` counts as both ``x`` and ``x.y``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every use in ``tree`` of the libraries' private parts: attributes,
    attribute chains, names in strings (``getattr(x, "_sendlock")``), private modules."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in PRIVATE_ATTRIBUTES:
                found.append((node.lineno, f".{node.attr}"))
            if isinstance(node.value, ast.Attribute | ast.Name):
                owner = node.value.attr if isinstance(node.value, ast.Attribute) \
                    else node.value.id
                if (owner, node.attr) in PRIVATE_CHAINS:
                    found.append((node.lineno, f"{owner}.{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value in PRIVATE_ATTRIBUTES:
            found.append((node.lineno, repr(node.value)))
    return found


def layering_breaches(path: Path, source: str) -> list[str]:
    """``file:line: what`` for each import or private use in ``source`` (the file at
    ``path``) that breaks the layering rules above."""
    module, rel = module_name(path), path.relative_to(ROOT)
    tree = ast.parse(source, str(rel))
    breaches = []
    for line, name in imported(tree, module, path.name == "__init__.py"):
        for layer, forbidden in DOWNSTREAM.items():
            if within(module, (layer,)) and within(name, forbidden):
                breaches.append(f"{rel}:{line}: {layer} imports {name} (data flows one way)")
        if within(name, FLASK) and not (module in FLASK_ALLOWED
                                        or within(module, ("app.web",))):
            breaches.append(f"{rel}:{line}: imports {name} outside app/web")
        if within(name, PRIVATE_MODULES) and not within(module, (FENCE,)):
            breaches.append(f"{rel}:{line}: imports {name} outside app/live/transport/")
    if not within(module, (FENCE,)):
        breaches += [f"{rel}:{line}: uses {what} outside app/live/transport/"
                     for line, what in private_uses(tree)]
    return sorted(set(breaches))


def test_every_module_keeps_the_layering_rules() -> None:
    breaches = [b for path in sorted((ROOT / "app").rglob("*.py"))
                for b in layering_breaches(path, path.read_text())]
    assert breaches == [], "\n".join(breaches)


@pytest.mark.parametrize("path, source, expected", [
    ("app/data/store.py", "from app.engine.view import View\n",
     ["app/data/store.py:1: app.data imports app.engine.view (data flows one way)",
      "app/data/store.py:1: app.data imports app.engine.view.View (data flows one way)"]),
    ("app/engine/view.py", "x = 1\nfrom ..live import rooms\n",
     ["app/engine/view.py:2: app.engine imports app.live (data flows one way)",
      "app/engine/view.py:2: app.engine imports app.live.rooms (data flows one way)"]),
    ("app/live/__init__.py", "import app.web.sockets\n",
     ["app/live/__init__.py:1: app.live imports app.web.sockets (data flows one way)"]),
    ("app/engine/charts.py", "from flask import request\n",
     ["app/engine/charts.py:1: imports flask outside app/web",
      "app/engine/charts.py:1: imports flask.request outside app/web"]),
    ("app/live/rooms.py", "n = server.eio.sockets[sid].queue.qsize()\n",
     ["app/live/rooms.py:1: uses eio.sockets outside app/live/transport/",
      "app/live/rooms.py:1: uses queue.qsize outside app/live/transport/"]),
    ("app/web/sockets.py", "server._send_eio_packet(p, sid)\ngetattr(ws, '_sendlock')\n",
     ["app/web/sockets.py:1: uses ._send_eio_packet outside app/live/transport/",
      "app/web/sockets.py:2: uses '_sendlock' outside app/live/transport/"]),
    ("app/__init__.py", "import eventlet.wsgi\nfrom flask import Flask\n",
     ["app/__init__.py:1: imports eventlet.wsgi outside app/live/transport/"]),
    # Allowed: Flask at the edge, the fence's own internals, engine reading data.
    ("app/web/api.py", "from flask import request\nfrom app.live import rooms\n", []),
    ("app/state.py", "from flask import current_app\n", []),
    ("app/live/transport/http.py", "import eventlet.wsgi\nserver._send_eio_packet(p)\n", []),
    ("app/engine/view.py", "from app.data.store import Store\nfrom . import browse\n", []),
])
def test_layering_breaches_name_file_and_line(path: str, source: str,
                                              expected: list[str]) -> None:
    assert layering_breaches(ROOT / path, source) == expected
