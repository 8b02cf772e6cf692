"""The README's layout lists every module of the app, and no module that is gone."""
from __future__ import annotations

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
