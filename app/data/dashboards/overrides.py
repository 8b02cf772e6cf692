"""URL overrides and effective views: the query each panel shows on one dashboard URL.

Three layers set a panel's view, bottom to top: the panel's own ``query``, the
dashboard document, the page URL (``/dashboards/fleet?window=24h&region=us&tz=UTC``).
Each layer applies to the result of the ones below it:

- Time range: a layer that sets ``start`` or ``end`` replaces the whole range below it
  (``window``, ``start`` and ``end``) with its own ``start``/``end``, an unset side
  being open; a layer that sets only ``window`` replaces the range with that window.
  In a URL ``start``/``end`` win over ``window``, as in a view; a document may not
  give both.
- ``tz``: the topmost layer that sets one wins.
- Label filters: a label a layer filters replaces that label's filter below it, in
  every panel whose dataset has the label; a panel whose dataset lacks it ignores it.
  In a URL, a label given only empty values (``region=``, an emptied form field)
  removes that label's filter: the panels show every value of it.

The result is an ordinary view query string; the app canonicalises it with its
view parser, so equal views share one room and one computation.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode

from ...instants import UTC, format_instant, names_its_zone, parse_instant_in
from ..errors import ParamError
from .document import Dashboard, Panel
from .fields import (
    MAX_FILTER_LABELS,
    MAX_FILTER_VALUES,
    MAX_TEXT,
    VIEW_PARAMETERS,
    check_label,
    check_text,
    check_tz,
    check_window,
)

T = TypeVar("T")
TIME = ("window", "start", "end")
SETTINGS = ("window", "start", "end", "tz")  # what a dashboard URL may set besides labels

# A dataset's label names; None while it is not loaded (its labels are unknown).
LabelsOf = Callable[[str], Collection[str] | None]


class OverrideError(ParamError):
    """A dashboard URL parameter that is not allowed; ``param`` names it for the 400 (the
    first found: a URL is refused at its first bad parameter)."""


@dataclass(frozen=True)
class Overrides:
    """What a dashboard URL sets over the document; ``None`` where it keeps the document's.

    ``filters`` holds (label, values) sorted by label; empty values clear that label.
    """

    window: str | None = None
    start: str | None = None
    end: str | None = None
    tz: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def query(self) -> str:
        """The canonical query string: equal for every URL that overrides the same way."""
        pairs = [(key, value) for key in SETTINGS
                 if (value := getattr(self, key)) is not None]
        for label, values in self.filters:
            pairs += [(label, value) for value in values] if values else [(label, "")]
        return urlencode(pairs, safe="/:")


class _Layer(Protocol):
    """What the document and the URL both set (read-only: both are frozen)."""

    @property
    def window(self) -> str | None: ...
    @property
    def start(self) -> str | None: ...
    @property
    def end(self) -> str | None: ...
    @property
    def tz(self) -> str | None: ...
    @property
    def filters(self) -> tuple[tuple[str, tuple[str, ...]], ...]: ...


def parse_overrides(pairs: Iterable[tuple[str, str]], ignore: Iterable[str] = (),
                    zone: str | None = None) -> Overrides:
    """Parse a dashboard URL's query pairs; ``OverrideError`` names a bad parameter.

    Empty ``window``/``start``/``end``/``tz`` count as absent (an HTML form sends them);
    parameters in ``ignore`` belong to the endpoint (``cursor``, ``timeout``), not the view.
    ``start``/``end`` are read as a view reads them (``url_instant``), in the URL's ``tz``
    or else ``zone`` (the document's ``tz``; None: each panel's own).
    """
    skip = set(ignore)
    single: dict[str, str] = {}
    filters: dict[str, list[str]] = {}
    for key, value in pairs:
        if key in skip:
            continue
        if key in SETTINGS:
            if value == "":
                continue
            if key in single and single[key] != value:
                raise OverrideError(key, "given more than once with different values")
            single[key] = value
        elif key in VIEW_PARAMETERS:
            raise OverrideError(key, "a dashboard URL sets only window, start, end, tz and "
                                     "label filters; change the panel's query to change "
                                     f"its {key}")
        else:
            _check(key, check_label, key)
            _check(key, check_text, value, MAX_TEXT)
            values = filters.setdefault(key, [])
            if value != "" and value not in values:
                values.append(value)
            if len(values) > MAX_FILTER_VALUES:
                raise OverrideError(key, f"more than {MAX_FILTER_VALUES} values")
    if len(filters) > MAX_FILTER_LABELS:
        raise OverrideError(sorted(filters)[MAX_FILTER_LABELS],
                            f"more than {MAX_FILTER_LABELS} labels are filtered")
    if "window" in single:  # canonical, as a view writes it: one URL per meaning
        single["window"] = _check("window", check_window, single["window"])
    if "tz" in single:  # canonical too: tz=utc is tz=UTC
        single["tz"] = _check("tz", check_tz, single["tz"])
    zone = single.get("tz", zone)
    read = {key: _check(key, url_instant, single[key], zone)
            for key in ("start", "end") if key in single}
    if "start" in read and "end" in read and read["start"][0] > read["end"][0]:
        raise OverrideError("start", f"start ({single['start']}) is after end ({single['end']})")
    for key, (_ns, canonical) in read.items():
        single[key] = canonical
    ranged = "start" in single or "end" in single
    return Overrides(window=None if ranged else single.get("window"),
                     start=single.get("start"), end=single.get("end"), tz=single.get("tz"),
                     filters=tuple((label, tuple(sorted(values)))
                                   for label, values in sorted(filters.items())))


def url_instant(text: str, zone: str | None) -> tuple[int, str]:
    """A dashboard URL's ``start``/``end`` as (int64 ns, canonical spelling), read as a view
    reads its own (``instants.parse_instant_in``: space or ``T``, offsets, ``Z``, zone
    abbreviations), wall-clock times in ``zone``; ``ValueError`` in a view's words.

    With a zone, or with an offset, the spelling is a view URL's: the instant in UTC with a
    ``Z`` (``2024-05-02 01:30`` in Europe/Berlin is ``2024-05-01T23:30:00Z``). Without a
    zone a wall-clock time stays one (``2024-05-02T01:30:00``): each panel reads it in its
    own ``tz``, as the form says (``ns`` is then that time read in UTC, for ordering)."""
    ns = parse_instant_in(text, zone or UTC)
    if zone is None and not names_its_zone(text):
        return ns, format_instant(ns).removesuffix("Z")
    return ns, format_instant(ns)


def _check(param: str, check: Callable[..., T], *args: object) -> T:
    try:
        return check(*args)
    except ValueError as exc:
        raise OverrideError(param, str(exc)) from None


def effective_query(dashboard: Dashboard, panel: Panel, overrides: Overrides,
                    labels_of: LabelsOf) -> str:
    """The panel's query with the dashboard's and then the URL's settings applied (see above).

    ``labels_of(dataset)`` gives the dataset's label names, ``None`` if it is not loaded
    (then no filter applies: the panel has no view until it is).
    """
    labels = set(labels_of(panel.dataset) or ())
    pairs = parse_qsl(panel.query, keep_blank_values=True)
    for layer in (dashboard, overrides):
        pairs = _apply(pairs, layer, labels)
    return urlencode(pairs, safe="/:")


def _apply(pairs: list[tuple[str, str]], layer: _Layer,
           labels: Collection[str]) -> list[tuple[str, str]]:
    def without(*keys: str) -> list[tuple[str, str]]:
        return [(key, value) for key, value in pairs if key not in keys]
    if layer.start is not None or layer.end is not None:
        pairs = without(*TIME) + [(key, value) for key in ("start", "end")
                                  if (value := getattr(layer, key)) is not None]
    elif layer.window is not None:
        pairs = [*without(*TIME), ("window", layer.window)]
    if layer.tz is not None:
        pairs = [*without("tz"), ("tz", layer.tz)]
    for label, values in layer.filters:
        if label in labels:
            pairs = without(label) + [(label, value) for value in values]
    return pairs


def effective_queries(dashboard: Dashboard, overrides: Overrides,
                      labels_of: LabelsOf) -> list[tuple[Panel, str]]:
    """``effective_query`` of every panel in order; ``OverrideError`` for a URL label that
    no panel's dataset has (it would change nothing: most likely a typo). While one of the
    datasets is not loaded its labels are unknown, and no label is refused."""
    known: dict[str, Collection[str] | None] = {}
    for panel in dashboard.panels:
        if panel.dataset not in known:
            labels = labels_of(panel.dataset)
            known[panel.dataset] = None if labels is None else set(labels)
    every_label = set().union(*(labels for labels in known.values() if labels is not None))
    for label, _values in overrides.filters:
        if dashboard.panels and None not in known.values() and label not in every_label:
            raise OverrideError(label, "no panel's dataset has this label; labels are "
                                       f"{', '.join(sorted(every_label)) or '(none)'}")
    return [(panel, effective_query(dashboard, panel, overrides, known.__getitem__))
            for panel in dashboard.panels]
