"""The dashboard document: the model (frozen values) and its validation.

``parse_document`` turns a JSON-decoded object into a ``Dashboard`` or raises
``DocumentError`` listing every problem, each naming its panel ``id`` and field, so a
400 can show them all at once.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import Rejected
from .fields import (
    COLUMNS,
    DEFAULT_WIDTH,
    MAX_DESCRIPTION,
    MAX_FILTER_LABELS,
    MAX_FILTER_VALUES,
    MAX_PANELS,
    MAX_QUERY,
    MAX_TEXT,
    MAX_THRESHOLDS,
    MAX_TITLE,
    PANEL_KEYS,
    PANEL_TYPES,
    REDUCERS,
    THRESHOLD_KEYS,
    TOP_KEYS,
    check_color,
    check_label,
    check_name,
    check_text,
    check_tz,
    check_window,
    instant_ns,
    kind_of,
    shown,
)

CheckQuery = Callable[[str, str], str]
MAX_EXACT_INT = 2 ** 53  # larger whole numbers lose digits as float64 (ingest's limit too)
MAX_PROBLEMS = 100  # listed in a 400; items past a count limit are not checked one by one


class DocumentError(Rejected, ValueError):
    """A document that does not validate; nothing was saved.

    ``errors`` lists each problem as ``{"panel": id or None, "field", "message"}`` (the
    first ``MAX_PROBLEMS``); the message joins the first ten, e.g.
    ``panel 'cpu': width: 13 is not 1 to 12``.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        shown = "; ".join(describe(error) for error in errors[:10])
        message = shown + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
        super().__init__(message, errors[:MAX_PROBLEMS])  # a 400 with every problem


def describe(error: dict[str, Any]) -> str:
    """One problem as text: ``panel 'cpu': width: 13 is not 1 to 12``."""
    where = f"panel {error['panel']!r}: " if error["panel"] is not None else ""
    return f"{where}{error['field']}: {error['message']}"


@dataclass(frozen=True)
class Threshold:
    """A level on a panel: a line on a chart, the colour a stat takes from ``value`` up."""

    value: float
    color: str  # a CSS colour name or #rgb / #rrggbb, lower case


@dataclass(frozen=True, kw_only=True)
class Panel:
    """One box of the grid showing one view of one dataset."""

    id: str
    title: str = ""
    type: str  # timeseries | stat | table
    width: int = DEFAULT_WIDTH  # columns of 12
    dataset: str
    query: str = ""  # the view's canonical query string
    reduce: str = "last"  # what a stat shows; the other types ignore it
    thresholds: tuple[Threshold, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Dashboard:
    """A named page of panels sharing a time range, a time zone and label filters.

    ``window``/``start``/``end``/``tz`` are ``None`` where each panel keeps its own.
    ``filters`` holds (label, values) pairs, both sorted: equal filters, equal files.
    """

    title: str
    description: str = ""
    window: str | None = None
    start: str | None = None  # ISO-8601, as written
    end: str | None = None
    tz: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    panels: tuple[Panel, ...] = ()

    def filter_values(self, label: str) -> tuple[str, ...]:
        """The values the dashboard selects for ``label`` (empty when it does not filter it)."""
        return dict(self.filters).get(label, ())

    def panel(self, panel_id: str) -> Panel:
        """The panel with this id; ``KeyError`` if there is none."""
        for panel in self.panels:
            if panel.id == panel_id:
                return panel
        raise KeyError(panel_id)


class _Problems:
    """Collects every problem of one document so that a 400 can list them all."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def add(self, field: str, message: str, panel: str | None = None) -> None:
        self.errors.append({"panel": panel, "field": field, "message": message})

    def check(self, field: str, check: Callable[..., Any], value: Any, *args: Any,
              panel: str | None = None, **kwargs: Any) -> Any:
        """``check(value, ...)``, or ``None`` after noting its error."""
        try:
            return check(value, *args, **kwargs)
        except ValueError as exc:
            self.add(field, str(exc), panel)
            return None

    def unknown_keys(self, obj: dict[str, Any], allowed: tuple[str, ...], prefix: str,
                     what: str, panel: str | None = None) -> None:
        for key in obj:
            if key not in allowed:
                self.add(f"{prefix}{_shown(key)}",
                         f"unknown field; {what} has {', '.join(allowed)}", panel)


def _shown(key: str) -> str:
    """A key as it is named in a problem: a key of a megabyte is cut."""
    return key if len(key) <= 64 else key[:64] + "..."


def parse_document(obj: Any, check_query: CheckQuery) -> Dashboard:
    """Validate a JSON-decoded document; ``DocumentError`` lists every problem.

    ``check_query(dataset, query)`` returns the panel's canonical view query; it raises
    ``LookupError`` for an unknown dataset and ``ValueError`` (the view's own error, whose
    text names the parameter) for a bad query. ``null`` counts as absent for optional fields.
    """
    problems = _Problems()
    if not isinstance(obj, dict):
        raise DocumentError([{"panel": None, "field": "document",
                              "message": f"must be a JSON object, not {kind_of(obj)}"}])
    problems.unknown_keys(obj, TOP_KEYS, "", "a dashboard")
    given = {key: value for key, value in obj.items() if value is not None}
    title = ""
    if "title" not in given:
        problems.add("title", "is required")
    else:
        title = problems.check("title", check_text, given["title"], MAX_TITLE, required=True)
    description = problems.check("description", check_text, given.get("description", ""),
                                 MAX_DESCRIPTION, multiline=True)
    window = problems.check("window", check_window, given["window"]) if "window" in given else None
    start = problems.check("start", instant_ns, given["start"]) if "start" in given else None
    end = problems.check("end", instant_ns, given["end"]) if "end" in given else None
    if start is not None and end is not None and start > end:
        problems.add("start", f"{given['start']} is after end ({given['end']})")
    if "window" in given and ("start" in given or "end" in given):
        problems.add("window", "give either window or start/end, not both")
    tz = problems.check("tz", check_tz, given["tz"]) if "tz" in given else None
    filters = _filters(given.get("filters", {}), problems)
    panels = _panels(given.get("panels", []), check_query, problems)
    if problems.errors:
        raise DocumentError(problems.errors)
    return Dashboard(title=title, description=description or "", window=window,
                     start=given.get("start"), end=given.get("end"), tz=tz,
                     filters=filters, panels=panels)


def _filters(raw: Any, problems: _Problems) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(raw, dict):
        problems.add("filters", f'must be an object of label: [values], such as '
                                f'{{"region": ["eu"]}}, not {kind_of(raw)}')
        return ()
    if len(raw) > MAX_FILTER_LABELS:
        problems.add("filters", f"has {len(raw)} labels; at most {MAX_FILTER_LABELS} "
                                "are allowed")
    filters = []
    for label, values in list(raw.items())[:MAX_FILTER_LABELS]:
        field = f"filters.{_shown(label)}"
        if problems.check(field, check_label, label) is None:
            continue
        if not isinstance(values, list) or not values:
            problems.add(field, f'must be a list of one or more values, such as ["eu"], '
                                f"not {kind_of(values)}")
            continue
        if len(values) > MAX_FILTER_VALUES:
            problems.add(field, f"has {len(values)} values; at most {MAX_FILTER_VALUES} "
                                "are allowed")
        clean = [problems.check(f"{field}[{i}]", check_text, value, MAX_TEXT, required=True)
                 for i, value in enumerate(values[:MAX_FILTER_VALUES])]
        if None not in clean:
            filters.append((label, tuple(sorted(set(clean)))))  # repeats say nothing more
    # Sorted, labels and values: the file is the same whatever order an editor sent them in
    # (values are OR'ed, labels AND'ed: their order means nothing).
    return tuple(sorted(filters))


def _panels(raw: Any, check_query: CheckQuery, problems: _Problems) -> tuple[Panel, ...]:
    if not isinstance(raw, list):
        problems.add("panels", f"must be a list of panels, not {kind_of(raw)}")
        return ()
    if len(raw) > MAX_PANELS:
        problems.add("panels", f"has {len(raw)} panels; at most {MAX_PANELS} are allowed")
    first_index: dict[str, int] = {}
    panels = []
    for index, item in enumerate(raw[:MAX_PANELS]):
        panel = _panel(index, item, check_query, problems, first_index)
        if panel is not None:
            panels.append(panel)
    return tuple(panels)


def _panel(index: int, raw: Any, check_query: CheckQuery, problems: _Problems,
           first_index: dict[str, int]) -> Panel | None:
    where = f"panels[{index}]"
    if not isinstance(raw, dict):
        problems.add(where, f"must be an object, not {kind_of(raw)}")
        return None
    before = len(problems.errors)
    given = {key: value for key, value in raw.items() if value is not None}
    panel_id = None
    if "id" not in given:
        problems.add(f"{where}.id", "is required")
    else:
        panel_id = problems.check(f"{where}.id", check_name, given["id"])
    # Problems of a panel with a valid id name it; without one, its place in the list.
    ref, prefix = (panel_id, "") if panel_id is not None else (None, f"{where}.")
    if panel_id is not None:
        if panel_id in first_index:
            problems.add("id", f"{panel_id!r} is also the id of panels[{first_index[panel_id]}]; "
                               "panel ids are unique in a dashboard", ref)
        first_index.setdefault(panel_id, index)
    problems.unknown_keys(raw, PANEL_KEYS, prefix, "a panel", ref)
    title = problems.check(f"{prefix}title", check_text, given.get("title", ""), MAX_TITLE,
                           panel=ref)
    kind = None
    if "type" not in given:
        problems.add(f"{prefix}type", f"is required: one of {', '.join(PANEL_TYPES)}", ref)
    elif given["type"] not in PANEL_TYPES:
        problems.add(f"{prefix}type", f"{shown(given['type'])} is not one of "
                                      f"{', '.join(PANEL_TYPES)}", ref)
    else:
        kind = given["type"]
    width = given.get("width", DEFAULT_WIDTH)
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= COLUMNS:
        text = json.dumps(width) if isinstance(width, (bool, int, float, str)) else kind_of(width)
        problems.add(f"{prefix}width", f"{text[:64]} is not 1 to {COLUMNS}", ref)
    query = _query(given, check_query, problems, prefix, ref)
    reduce = given.get("reduce", "last")
    if "reduce" in given and kind not in (None, "stat"):
        problems.add(f"{prefix}reduce", f"only a stat panel has reduce; this one is a {kind}", ref)
    elif reduce not in REDUCERS:
        problems.add(f"{prefix}reduce", f"{shown(reduce)} is not one of {', '.join(REDUCERS)}", ref)
    thresholds = _thresholds(given.get("thresholds", []), kind, problems, prefix, ref)
    if len(problems.errors) > before or panel_id is None or kind is None or query is None:
        return None
    return Panel(id=panel_id, title=title, type=kind, width=width, dataset=given["dataset"],
                 query=query, reduce=reduce, thresholds=thresholds)


def _query(given: dict[str, Any], check_query: CheckQuery, problems: _Problems, prefix: str,
           ref: str | None) -> str | None:
    """The panel's canonical view query, asked of the app once dataset and query are text."""
    if "dataset" not in given:
        problems.add(f"{prefix}dataset", "is required", ref)
        dataset = None
    else:
        dataset = problems.check(f"{prefix}dataset", check_text, given["dataset"], MAX_TEXT,
                                 required=True, panel=ref)
    query = problems.check(f"{prefix}query", check_text, given.get("query", ""), MAX_QUERY,
                           panel=ref)
    if dataset is None or query is None:
        return None
    try:
        return check_query(dataset, query)
    except LookupError:
        problems.add(f"{prefix}dataset", f"{dataset!r} is not a dataset", ref)
    except ValueError as exc:
        problems.add(f"{prefix}query", str(exc), ref)
    return None


def _thresholds(raw: Any, kind: str | None, problems: _Problems, prefix: str,
                ref: str | None) -> tuple[Threshold, ...]:
    field = f"{prefix}thresholds"
    if not isinstance(raw, list):
        problems.add(field, f'must be a list such as [{{"value": 90, "color": "red"}}], '
                            f"not {kind_of(raw)}", ref)
        return ()
    if raw and kind == "table":
        problems.add(field, "a table panel has no thresholds (charts draw them as lines, "
                            "stats take their colour)", ref)
    if len(raw) > MAX_THRESHOLDS:
        problems.add(field, f"has {len(raw)} thresholds; at most {MAX_THRESHOLDS} are allowed",
                     ref)
    thresholds: list[Threshold] = []
    seen: dict[float, int] = {}
    for index, item in enumerate(raw[:MAX_THRESHOLDS]):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            problems.add(where, f'must be an object such as {{"value": 90, "color": "red"}}, '
                                f"not {kind_of(item)}", ref)
            continue
        problems.unknown_keys(item, THRESHOLD_KEYS, f"{where}.", "a threshold", ref)
        for key in THRESHOLD_KEYS:
            if item.get(key) is None:
                problems.add(f"{where}.{key}", "is required", ref)
        value = _number(item["value"], f"{where}.value", problems, ref) if (
            item.get("value") is not None) else None
        color = problems.check(f"{where}.color", check_color, item["color"], panel=ref) if (
            item.get("color") is not None) else None
        if value is not None and value in seen:
            problems.add(f"{where}.value", f"{item['value']} is also the value of "
                                           f"{field}[{seen[value]}]", ref)
        elif value is not None and color is not None:
            seen[value] = index
            thresholds.append(Threshold(value, color))
    return tuple(thresholds)


def _number(value: Any, field: str, problems: _Problems, ref: str | None) -> float | None:
    """A threshold's value as a float; whole numbers past 2^53 are refused, as ingest
    refuses them: a float64 would keep another number than the one written."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(field, f"must be a number, not {kind_of(value)}"
                     + (f" ({shown(value)})" if isinstance(value, str) else ""), ref)
        return None
    if isinstance(value, int) and abs(value) > MAX_EXACT_INT:
        problems.add(field, f"{str(value)[:40]} is a whole number too large to keep exactly "
                            "(more than 2^53); write it as a decimal such as 1.5e29", ref)
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        problems.add(field, "must be a finite number", ref)
        return None
    return number


def split_envelope(obj: Any, name: str) -> tuple[Any, int | None]:
    """A PUT body as (document, expected version): drops ``version`` and a ``name`` equal to
    ``name`` (a GET answer sent back as is); ``DocumentError`` names either if wrong."""
    if not isinstance(obj, dict):
        return obj, None
    doc = dict(obj)
    problems = _Problems()
    version = doc.pop("version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or version < 1):
        problems.add("version", f"{json.dumps(version)} is not a version (a whole number "
                                "from 1, as GET answered it)")
    given_name = doc.pop("name", None)
    if given_name is not None and given_name != name:
        problems.add("name", f"{shown(given_name)} differs from the name in the URL ({name!r}); "
                             "rename by saving under the new name and deleting the old one")
    if problems.errors:
        raise DocumentError(problems.errors)
    return doc, version
