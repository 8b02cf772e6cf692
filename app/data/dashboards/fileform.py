"""The dashboard file form: one canonical JSON text per document, made to diff well in git.

Stable key order, defaults left out, one panel per block and one threshold or filter
per line: a change made in the browser is a one-line diff, and ``dump_document`` of a
loaded canonical file gives back the same bytes.
"""
from __future__ import annotations

import json
from typing import Any

from .document import CheckQuery, Dashboard, DocumentError, Panel, parse_document
from .fields import DEFAULT_WIDTH, shown


def document_dict(dashboard: Dashboard) -> dict[str, Any]:
    """The document as JSON-ready dict in file order, defaults left out (``panels`` stays)."""
    doc: dict[str, Any] = {"title": dashboard.title}
    if dashboard.description:
        doc["description"] = dashboard.description
    for key in ("window", "start", "end", "tz"):
        if getattr(dashboard, key) is not None:
            doc[key] = getattr(dashboard, key)
    if dashboard.filters:
        doc["filters"] = {label: list(values) for label, values in dashboard.filters}
    doc["panels"] = [_panel_dict(panel) for panel in dashboard.panels]
    return doc


def _panel_dict(panel: Panel) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": panel.id}
    if panel.title:
        doc["title"] = panel.title
    doc["type"] = panel.type
    if panel.width != DEFAULT_WIDTH:
        doc["width"] = panel.width
    doc["dataset"] = panel.dataset
    if panel.query:
        doc["query"] = panel.query
    if panel.type == "stat" and panel.reduce != "last":
        doc["reduce"] = panel.reduce
    if panel.thresholds:
        doc["thresholds"] = [{"value": _plain(t.value), "color": t.color}
                             for t in panel.thresholds]
    return doc


def _plain(value: float) -> int | float:
    """70.0 written as 70: whole numbers stay whole in the file (exact below 2**53)."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _inline(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _block(items: list[str], brackets: str, indent: int) -> str:
    """``items`` one per line inside ``brackets``, indented two more than ``indent``."""
    if not items:
        return brackets
    pad = " " * (indent + 2)
    body = ",\n".join(pad + item for item in items)
    return f"{brackets[0]}\n{body}\n{' ' * indent}{brackets[1]}"


def dump_document(dashboard: Dashboard) -> bytes:
    """The canonical file: UTF-8 JSON, 2-space indent, one panel per block, trailing newline."""
    fields = []
    for key, value in document_dict(dashboard).items():
        if key == "filters":
            text = _block([f"{_inline(k)}: {_inline(v)}" for k, v in value.items()], "{}", 2)
        elif key == "panels":
            text = _block([_panel_text(panel) for panel in value], "[]", 2)
        else:
            text = _inline(value)
        fields.append(f"{_inline(key)}: {text}")
    return (_block(fields, "{}", 0) + "\n").encode("utf-8")


def _panel_text(panel: dict[str, Any]) -> str:
    fields = []
    for key, value in panel.items():
        if key == "thresholds":
            text = _block([_inline(threshold) for threshold in value], "[]", 6)
        else:
            text = _inline(value)
        fields.append(f"{_inline(key)}: {text}")
    return _block(fields, "{}", 4)


class _Duplicate(ValueError):
    pass


class _Constant(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Duplicate(key)
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise _Constant(name)


def decode_json(data: bytes) -> Any:
    """UTF-8 JSON as Python; ``DocumentError`` (field ``document``) for repeated keys, NaN,
    Infinity or any text that is not JSON: none of them may be read one way by us and
    another by the next tool."""
    def fail(message: str) -> DocumentError:
        return DocumentError([{"panel": None, "field": "document", "message": message}])
    try:
        text = data.decode("utf-8-sig")  # an editor's byte-order mark is not content
    except UnicodeDecodeError as exc:
        raise fail(f"is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Duplicate as exc:
        raise fail(f"the key {shown(exc.args[0])} appears twice in one object") from None
    except _Constant as exc:
        raise fail(f"{exc.args[0]} is not a JSON number") from None
    except json.JSONDecodeError as exc:
        raise fail(f"is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise fail("nests objects or lists too deeply") from None
    except ValueError as exc:  # a number of more than 4300 digits
        raise fail(f"is not JSON we can read: {exc}") from None


def load_document(data: bytes, check_query: CheckQuery) -> Dashboard:
    """``parse_document`` of a file's bytes; the inverse of ``dump_document``."""
    return parse_document(decode_json(data), check_query)

