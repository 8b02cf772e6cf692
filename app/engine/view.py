"""A view: the URL's query string parsed once, validated against an allow-list, canonicalised."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from ..instants import (
    SECOND,
    UTC,
    format_duration,
    format_instant,
    is_time_zone,
    parse_duration,
    parse_instant,
)

WINDOWS: dict[str, int | None] = {
    "5m": 300 * SECOND, "15m": 900 * SECOND, "1h": 3600 * SECOND, "6h": 6 * 3600 * SECOND,
    "24h": 86400 * SECOND, "7d": 7 * 86400 * SECOND, "30d": 30 * 86400 * SECOND, "all": None,
}
AGGREGATIONS = ("auto", "raw", "mean", "sum", "min", "max", "count", "p50", "p90", "p95",
                "p99")
BUCKETS: dict[str, int | None] = {
    "auto": None, "1s": SECOND, "10s": 10 * SECOND, "1m": 60 * SECOND, "5m": 300 * SECOND,
    "15m": 900 * SECOND, "1h": 3600 * SECOND, "24h": 86400 * SECOND,
}
SINGLE = ("window", "start", "end", "agg", "bucket", "by", "tz", "page")
RESERVED = frozenset(("metric", *SINGLE))
MAX_PAGE = 1_000_000
PAGE = re.compile(r"[0-9]{1,7}")  # ASCII digits only: "²".isdigit() is True


class ViewError(ValueError):
    """A query parameter that is not allowed; ``param`` names it for the 400 message."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class View:
    """What to show: metrics, label filters, time range, aggregation, split and table page."""

    metrics: tuple[str, ...] = ()
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    window: str = "all"
    start: int | None = None  # ns since the epoch, UTC
    end: int | None = None
    agg: str = "auto"
    bucket: str = "auto"
    by: str = "series"  # "series", "none" (one trace per metric) or a label name
    tz: str = UTC  # the IANA zone times are written in; instants stay UTC
    page: int = 1

    @property
    def query(self) -> str:
        """The canonical query string: equal for every URL that means the same view."""
        pairs: list[tuple[str, str]] = [("metric", m) for m in self.metrics]
        for label, values in self.filters:
            pairs += [(label, v) for v in values]
        if self.start is None and self.end is None and self.window != "all":
            pairs.append(("window", self.window))
        if self.start is not None:
            pairs.append(("start", format_instant(self.start)))
        if self.end is not None:
            pairs.append(("end", format_instant(self.end)))
        if self.agg != "auto":
            pairs.append(("agg", self.agg))
        if self.bucket != "auto" and self.agg != "raw":
            pairs.append(("bucket", self.bucket))
        if self.by != "series":
            pairs.append(("by", self.by))
        if self.tz != UTC:
            pairs.append(("tz", self.tz))
        if self.page != 1:
            pairs.append(("page", str(self.page)))
        return urlencode(pairs, safe="/:")  # readable: tz=Asia/Tokyo, start=...T12:00:00Z

    @property
    def chart(self) -> View:
        """The same view without what only the table uses (its page): the chart's identity."""
        return replace(self, page=1)

    def toggled(self, label: str, value: str) -> View:
        """This view with ``label=value`` added to or removed from its filters, on page 1."""
        filters = dict(self.filters)
        values = set(filters.get(label, ()))
        values ^= {value}
        if values:
            filters[label] = tuple(sorted(values))
        else:
            filters.pop(label, None)
        return replace(self, filters=tuple(sorted(filters.items())), page=1)

    def at_page(self, page: int) -> View:
        """This view showing table page ``page``."""
        return replace(self, page=max(1, page))

    def filter_values(self, label: str) -> tuple[str, ...]:
        """The selected values of ``label`` (empty when it is not filtered)."""
        return dict(self.filters).get(label, ())

    def time_range(self, newest: int | None) -> tuple[int | None, int | None]:
        """Inclusive (start, end) in ns; ``None`` is open. Windows count back from ``newest``."""
        if self.start is not None or self.end is not None:
            return self.start, self.end
        if self.window == "all" or newest is None:
            return None, None
        return newest - parse_duration(self.window), None

    @property
    def bucket_ns(self) -> int | None:
        """The bucket asked for, in ns; None for ``auto``."""
        return None if self.bucket == "auto" else parse_duration(self.bucket)


def _instant(param: str, text: str) -> int:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise ViewError(param, str(exc)) from None


def _choice(param: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ViewError(param, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _duration(param: str, value: str, keyword: str) -> str:
    """``keyword`` or a duration, canonical (``120m`` -> ``2h``); ViewError naming ``param``."""
    if value == keyword:
        return value
    try:
        return format_duration(parse_duration(value))
    except ValueError as exc:
        raise ViewError(param, f"{exc}; or {keyword}") from None


def _names(names: Iterable[str]) -> str:
    listed = ", ".join(names)
    return listed or "(none)"


def parse_view(pairs: Iterable[tuple[str, str]], metrics: Sequence[str],
               labels: Iterable[str], ignore: Iterable[str] = ()) -> View:
    """Parse query pairs for a dataset with these metrics and labels; ``ViewError`` if invalid.

    Empty values of reserved parameters count as absent (an HTML form sends them);
    parameters in ``ignore`` belong to the endpoint (``since``, ``format``...), not the view.
    """
    label_names = tuple(labels)
    skip = set(ignore)
    chosen_metrics: list[str] = []
    filters: dict[str, set[str]] = {}
    single: dict[str, str] = {}
    for key, value in pairs:
        if key in skip:
            continue
        if key == "metric":
            if value == "":
                continue
            if value not in metrics:
                raise ViewError("metric", f"{value!r} is not a metric of this dataset; "
                                          f"metrics are {_names(metrics)}")
            if value not in chosen_metrics:
                chosen_metrics.append(value)
        elif key in SINGLE:
            if value == "":
                continue
            if key in single and single[key] != value:
                raise ViewError(key, "given more than once with different values")
            single[key] = value
        elif key in label_names:
            filters.setdefault(key, set()).add(value)
        else:
            raise ViewError(key, f"unknown parameter; this dataset's labels are "
                                 f"{_names(label_names)}, and the view's parameters are "
                                 f"{', '.join(sorted(RESERVED))}")
    window = _duration("window", single.get("window", "all"), "all")
    start = _instant("start", single["start"]) if "start" in single else None
    end = _instant("end", single["end"]) if "end" in single else None
    if start is not None and end is not None and start > end:
        raise ViewError("start", f"start ({single['start']}) is after end ({single['end']})")
    agg = _choice("agg", single.get("agg", "auto"), AGGREGATIONS)
    bucket = _duration("bucket", single.get("bucket", "auto"), "auto")
    by = single.get("by", "series")
    if by not in ("series", "none") and by not in label_names:
        raise ViewError("by", f"{by!r} is not series, none or a label of this dataset; "
                              f"labels are {_names(label_names)}")
    tz = single.get("tz", UTC)
    if not is_time_zone(tz):
        raise ViewError("tz", f"{tz!r} is not an IANA time zone; write it like UTC, "
                              "Europe/Berlin, America/New_York or Asia/Kolkata")
    page_text = single.get("page", "1")
    if not PAGE.fullmatch(page_text) or not 1 <= int(page_text) <= MAX_PAGE:
        raise ViewError("page", f"{page_text!r} is not a page number (1, 2, 3...)")
    if not chosen_metrics and metrics:
        chosen_metrics = [metrics[0]]
    return View(
        metrics=tuple(sorted(chosen_metrics)),
        filters=tuple((name, tuple(sorted(filters[name]))) for name in sorted(filters)),
        window=window,
        start=start,
        end=end,
        agg=agg,
        bucket=bucket if agg != "raw" else "auto",
        by=by,
        tz=tz,
        page=int(page_text),
    )

