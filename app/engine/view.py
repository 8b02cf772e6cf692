"""A view: the URL's query string parsed once, validated against an allow-list, canonicalised."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import urlencode

from ..data.errors import ParamError
from ..instants import (
    DAY,
    FIRST_INSTANT,
    HOUR,
    MINUTE,
    SECOND,
    UTC,
    duration_or,
    format_duration,
    format_instant,
    parse_duration,
    parse_instant_in,
    time_zone_named,
)

WINDOWS: dict[str, int | None] = {
    "5m": 5 * MINUTE, "15m": 15 * MINUTE, "1h": HOUR, "6h": 6 * HOUR, "24h": DAY,
    "7d": 7 * DAY, "30d": 30 * DAY, "all": None,
}
AGGREGATIONS = ("auto", "raw", "mean", "sum", "min", "max", "count", "p50", "p90", "p95",
                "p99")
BUCKETS: dict[str, int | None] = {
    "auto": None, "1s": SECOND, "10s": 10 * SECOND, "1m": MINUTE, "5m": 5 * MINUTE,
    "15m": 15 * MINUTE, "1h": HOUR, "24h": DAY,
}
SINGLE = ("window", "start", "end", "agg", "bucket", "by", "tz", "page")
RESERVED = frozenset(("metric", *SINGLE))
MAX_PAGE = 1_000_000
T = TypeVar("T")
PAGE = re.compile(r"[0-9]{1,7}")  # ASCII digits only: "²".isdigit() is True


class ViewError(ParamError):
    """Query parameters of a view that are not allowed: ``problems`` is every (param,
    message), in the order given; ``param`` and ``message`` are the first."""

    names_every = True  # parse_view checks every parameter before it refuses


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

    def with_window(self, window: str) -> View:
        """This view over ``window`` back from the newest point (start and end dropped), page 1."""
        return replace(self, window=window, start=None, end=None, page=1)

    def with_range(self, start: int, end: int) -> View:
        """This view from ``start`` to ``end`` (ns, both shown), page 1."""
        return replace(self, window="all", start=start, end=end, page=1)

    def span(self, oldest: int | None, newest: int | None) -> tuple[int, int] | None:
        """The instants (ns, both ends shown) the view covers for data from ``oldest`` to
        ``newest``; a window is as long as it says even where the data starts later. None
        without data."""
        if oldest is None or newest is None:
            return None
        lo, hi = self.time_range(newest)
        return (oldest if lo is None else lo), (newest if hi is None else hi)

    def stepped(self, direction: int, oldest: int | None, newest: int | None) -> View | None:
        """The range as long as this one just before (``direction`` -1) or after (+1) it, or
        None where there is no data to step to. A step forward that ends less than one step
        before the newest point (or past it) becomes a window again, so the view follows new
        data: on live data the newest point moves on while a step back is shown, and "later"
        would otherwise stop a few seconds short of it."""
        span = self.span(oldest, newest)
        if span is None or oldest is None or newest is None:
            return None
        lo, hi = span
        length = hi - lo
        if length <= 0:
            return None
        if direction < 0:
            if lo <= oldest:
                return None
            return self.with_range(max(lo - length, FIRST_INSTANT), lo)
        if hi >= newest:
            return None
        if hi + 2 * length > newest:
            return self.with_window(format_duration(max(SECOND, -(-length // SECOND) * SECOND)))
        return self.with_range(hi, hi + length)

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


def view_key(dataset: str, view: View) -> str:
    """``dataset?query`` of the view's chart (every table page of a view shares it): its
    live room's name and its key in the figure cache."""
    return f"{dataset}?{view.chart.query}"


def _choice(param: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ViewError(param, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _names(names: Iterable[str]) -> str:
    listed = ", ".join(names)
    return listed or "(none)"


def parse_view(pairs: Iterable[tuple[str, str]], metrics: Sequence[str],
               labels: Iterable[str], ignore: Iterable[str] = ()) -> View:
    """Parse query pairs for a dataset with these metrics and labels; ``ViewError`` if invalid,
    naming every bad parameter at once.

    Empty values of reserved parameters count as absent (an HTML form sends them);
    parameters in ``ignore`` belong to the endpoint (``since``, ``format``...), not the view.
    ``start`` and ``end`` without an offset are wall-clock times in the view's ``tz``.
    """
    label_names = tuple(labels)
    skip = set(ignore)
    pairs = [(key, value) for key, value in pairs if key not in skip]
    order = {key: n for n, (key, _) in reversed(list(enumerate(pairs)))}  # first place of each
    problems: dict[str, str] = {}  # param -> message, the first problem of each param
    chosen_metrics: list[str] = []
    unknown_metrics: list[str] = []
    filters: dict[str, set[str]] = {}
    single: dict[str, str] = {}
    for key, value in pairs:
        if key == "metric":
            if value == "":
                continue
            if value not in metrics:
                unknown_metrics += [] if value in unknown_metrics else [value]
            elif value not in chosen_metrics:
                chosen_metrics.append(value)
        elif key in SINGLE:
            if value == "":
                continue
            if key in single and single[key] != value:
                problems.setdefault(key, "given more than once with different values")
            single.setdefault(key, value)
        elif key in label_names:
            filters.setdefault(key, set()).add(value)
        else:
            problems.setdefault(key, f"unknown parameter; this dataset's labels are "
                                     f"{_names(label_names)}, and the view's parameters are "
                                     f"{', '.join(sorted(RESERVED))}")
    if unknown_metrics:
        what = "is not a metric" if len(unknown_metrics) == 1 else "are not metrics"
        problems["metric"] = (f"{', '.join(repr(m) for m in unknown_metrics)} {what} of this "
                              f"dataset; metrics are {_names(metrics)}")

    def check(param: str, parse: Callable[[], T], fallback: T) -> T:
        if param in problems:
            return fallback
        try:
            return parse()
        except ViewError as exc:
            problems[param] = exc.message
        except ValueError as exc:
            problems[param] = str(exc)
        return fallback

    tz = check("tz", lambda: _time_zone(single.get("tz", UTC)), UTC)
    window = check("window", lambda: duration_or(single.get("window", "all"), "all"), "all")
    start = check("start", lambda: parse_instant_in(single["start"], tz), None) \
        if "start" in single else None
    end = check("end", lambda: parse_instant_in(single["end"], tz), None) \
        if "end" in single else None
    if start is not None and end is not None and start > end:
        problems["start"] = f"start ({single['start']}) is after end ({single['end']})"
    agg = check("agg", lambda: _choice("agg", single.get("agg", "auto"), AGGREGATIONS), "auto")
    bucket = check("bucket", lambda: duration_or(single.get("bucket", "auto"), "auto"), "auto")
    by = check("by", lambda: _split(single.get("by", "series"), label_names), "series")
    page = check("page", lambda: _page(single.get("page", "1")), 1)
    if problems:  # in the order the URL gives them
        listed = sorted(problems.items(), key=lambda item: order.get(item[0], len(order)))
        raise ViewError(*listed[0], listed)
    if not chosen_metrics and metrics:
        chosen_metrics = [metrics[0]]
    ranged = start is not None or end is not None
    return View(
        metrics=tuple(sorted(chosen_metrics)),
        filters=tuple((name, tuple(sorted(filters[name]))) for name in sorted(filters)),
        window="all" if ranged else window,  # start/end replace the window: one meaning
        start=start,
        end=end,
        agg=agg,
        bucket=bucket if agg != "raw" else "auto",
        by=by,
        tz=tz,
        page=page,
    )


def _time_zone(tz: str) -> str:
    """The IANA name ``tz`` spells in any case (``instants.time_zone_named``); ``ViewError``
    naming ``tz`` else."""
    canonical = time_zone_named(tz)
    if canonical is None:
        raise ViewError("tz", f"{tz!r} is not an IANA time zone; write it like UTC, "
                              "Europe/Berlin, America/New_York or Asia/Kolkata")
    return canonical


def _split(by: str, label_names: tuple[str, ...]) -> str:
    if by not in ("series", "none") and by not in label_names:
        raise ViewError("by", f"{by!r} is not series, none or a label of this dataset; "
                              f"labels are {_names(label_names)}")
    return by


def _page(text: str) -> int:
    if not PAGE.fullmatch(text) or not 1 <= int(text) <= MAX_PAGE:
        raise ViewError("page", f"{text!r} is not a page number (1, 2, 3...)")
    return int(text)
