"""HTML pages and their HTMX fragments."""
from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import brotli
from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
)
from jinja2_fragments.flask import render_block, render_blocks
from werkzeug.wrappers import Response as BaseResponse

from ..data.store import Snapshot
from ..engine import browse, svg
from ..engine.drawing import ChartLimits
from ..engine.view import AGGREGATIONS, BUCKETS, WINDOWS, View, ViewError, parse_view
from ..instants import format_instant
from ..state import AppState, app_state
from .catalog import describe
from .helpers import view_url
from .responses import is_htmx, vary_on_htmx

bp = Blueprint("pages", __name__)
# The blocks of view.html that an HTMX request gets back; each swaps itself in by id.
FRAGMENTS = ["controls", "notes", "range", "meta", "addpanel", "facets", "stats", "table"]
# The blocks that change with the data alone, refreshed live as new versions arrive.
LIVE_FRAGMENTS = ["notes", "range", "facets", "stats", "table"]
# Live refreshes are small HTML that compresses ~7x; each is compressed once per view and
# version, not once per viewer. For /d/demo?by=host (9.7 KB): brotli 6 1,298 B in 0.5 ms,
# gzip 6 1,446 B in 0.3 ms; brotli 11 saves 100 B more for 45 ms.
ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "br": lambda body: brotli.compress(body, quality=6),
    "gzip": lambda body: gzip.compress(body, 6, mtime=0),
}


def _revalidated(response: BaseResponse) -> BaseResponse:
    """An ETag and ``no-cache``: a browser asks again each time and gets a 304 without a body
    while nothing changed (the index refreshes itself every 3 s)."""
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/")
def index() -> BaseResponse:
    """The datasets, with links to their views."""
    context = {"datasets": describe(app_state().store)}
    if is_htmx():
        return _revalidated(vary_on_htmx(make_response(
            render_block("index.html", "datasets", **context))))
    return _revalidated(vary_on_htmx(make_response(render_template("index.html", **context))))


def browse_context(state: AppState, snap: Snapshot, view: View) -> dict[str, Any]:
    """Facets, stats and one page of rows for a view, from a single selection.

    The numpy work runs through ``state.offload`` (eventlet's thread pool under the real
    server), so a big dataset does not stall other clients' heartbeats.
    """
    context: dict[str, Any] = state.offload(_browse, snap, view, state.limits,
                                            current_app.config["TABLE_PAGE_SIZE"])
    return context


def _browse(snap: Snapshot, view: View, limits: ChartLimits, size: int) -> dict[str, Any]:
    sel, table = browse.view_rows(snap, view, limits)
    return {
        "facets": browse.facets(snap, view),
        "stats": browse.stats(snap, sel),
        "table": table,
        "page_rows": table.page(view.page, size),
        "pages": table.pages(size),
    }


def lenient_view(pairs: list[tuple[str, str]], metrics: tuple[str, ...],
                 labels: tuple[str, ...]) -> View:
    """The view without the parameters that are wrong, so the form keeps the user's choices."""
    for _ in range(len(pairs) + 1):
        try:
            return parse_view(pairs, metrics, labels)
        except ViewError as exc:
            pairs = [(k, v) for k, v in pairs if k not in exc.params]
    return parse_view((), metrics, labels)


def time_context(snap: Snapshot, view: View) -> dict[str, Any]:
    """What the time picker shows: the quick ranges, the steps back and forward by the
    window's length, and the data's first and last instants (ns)."""
    return {
        "oldest": snap.start, "newest": snap.end,
        "quick": [(w, view.with_window(w)) for w in WINDOWS],
        "earlier": view.stepped(-1, snap.start, snap.end),
        "later": view.stepped(+1, snap.start, snap.end),
    }


@dataclass(frozen=True)
class LiveBlocks:
    """The live blocks of one view at one version: HTML and a short hash of each."""

    html: dict[str, str]
    hashes: dict[str, str]

    @classmethod
    def render(cls, context: dict[str, Any]) -> LiveBlocks:
        """Render every live block once (shared by every viewer of the view and version)."""
        html = {block: render_block("view.html", block, **{**context, "oob": True})
                for block in LIVE_FRAGMENTS}
        return cls(html, {block: hashlib.blake2s(text.encode(), digest_size=6).hexdigest()
                          for block, text in html.items()})

    @property
    def header(self) -> str:
        """``block:hash`` pairs for the ``X-Dash-Blocks`` header, which the page sends back in
        ``X-Dash-Have`` so the next refresh leaves out what it already shows."""
        return " ".join(f"{block}:{digest}" for block, digest in self.hashes.items())


def _header_pairs(name: str) -> dict[str, str]:
    pairs = (item.partition(":") for item in request.headers.get(name, "").split())
    return {block: digest for block, _, digest in pairs}


def _header_int(name: str) -> int | None:
    text = request.headers.get(name, "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def live_blocks(state: AppState, name: str, snap: Snapshot, view: View,
                context: dict[str, Any]) -> LiveBlocks:
    """The view's live blocks at the snapshot's version, rendered once for every viewer."""
    return state.memo.get(("live", name, view.query, snap.version, snap.epoch),
                          lambda: LiveBlocks.render(context))


def live_refresh(name: str, snap: Snapshot, view: View, context: dict[str, Any],
                 blocks: LiveBlocks) -> BaseResponse:
    """Of the blocks the page wants (``X-Dash-Want``: those on screen; all without it), the
    ones it does not show yet (``X-Dash-Have``), brotli- or gzip-encoded if the browser takes
    it, or 204 when nothing changed. A table page other than the first stays as it is (its
    rows would shift under the reader); ``X-Dash-Frozen`` gives the number of rows it was
    drawn with, and the answer says how many came since."""
    state = app_state()
    key = (name, view.query, snap.version, snap.epoch)
    have = _header_pairs("X-Dash-Have")
    wanted = request.headers.get("X-Dash-Want")
    want = set(LIVE_FRAGMENTS if wanted is None else wanted.split())
    frozen = _header_int("X-Dash-Frozen") if view.page > 1 and "table" in want else None
    send = [block for block in LIVE_FRAGMENTS if block in want
            and blocks.hashes[block] != have.get(block)
            and not (block == "table" and frozen is not None)]
    new_rows = None
    if frozen is not None and context["table"] is not None:
        new_rows = max(0, context["table"].total - frozen)
    if not send and not new_rows:
        response = make_response("", 204)
    else:
        def body() -> bytes:
            text = "".join(blocks.html[block] for block in send)
            if new_rows:
                text += render_block("view.html", "tablenews", **{**context, "new_rows": new_rows})
            return text.encode()

        encoding = request.accept_encodings.best_match(tuple(ENCODERS))
        if encoding:  # Flask-Compress leaves an encoded answer alone
            response = make_response(state.memo.get(
                ("live-encoded", encoding, *key, tuple(send), new_rows),
                lambda: ENCODERS[encoding](body())))
            response.headers["Content-Encoding"] = encoding
        else:
            response = make_response(body())
        response.mimetype = "text/html"
    response.headers["X-Dash-Blocks"] = blocks.header
    # The chart's version and epoch (X-Dash-Shown: "41 <epoch>"): when the first version it
    # lacks came to be (ms), so "Behind" counts from there, not from the newest version.
    shown = (request.headers.get("X-Dash-Shown") or "").split()
    if len(shown) == 2 and shown[0].isdigit() and shown[1] == snap.epoch:
        missed = state.store.get(name).first_change_after(int(shown[0]))
        if missed is not None:
            response.headers["X-Dash-Missed-At"] = str(int(missed * 1000))
    response.headers["Cache-Control"] = "no-store"
    response.vary.update(("X-Dash-Refresh", "Accept-Encoding"))  # and no-store: no cache
    return vary_on_htmx(response)


@bp.get("/d/<name>")
def view(name: str) -> BaseResponse:
    """A dataset's view page (or its fragments for HTMX); a bad parameter is a 400 page that
    names every bad parameter and keeps the rest."""
    state = app_state()
    dataset = state.store.get(name)
    pairs = list(request.args.items(multi=True))
    context: dict[str, Any] = {
        "name": name, "error": None, "oob": is_htmx(), "svg": None,
        "facets": [], "stats": [], "table": None, "page_rows": [], "pages": 1,
        "metrics": tuple(dataset.metrics.values), "labels": dataset.label_names,
        "windows": tuple(WINDOWS), "aggs": AGGREGATIONS, "buckets": tuple(BUCKETS),
        # What reading the file left out or assumed, and why it has no fresh data.
        "skipped": dataset.skipped, "notes": dataset.warnings,
        "file_error": state.store.error(name),
        "typed": {}, "new_rows": 0, "blocks": "", "version": "", "epoch": "",
        # When the data last changed, and this server's clock: the page says how long ago
        # in the browser's own time, whatever its clock says.
        "changed_at": int(dataset.updated_at * 1000), "server_now": int(time.time() * 1000),
    }
    status = 200
    refresh = bool(request.headers.get("X-Dash-Refresh"))
    try:
        snap, current = state.view_of(name, pairs)
    except ViewError as exc:
        context["error"], status = exc, 400
        # What the user typed for each bad parameter, shown back in its box to correct.
        context["typed"] = {k: v for k, v in pairs if k in exc.params and k != "metric"}
        current = lenient_view(pairs, context["metrics"], context["labels"])
        snap = dataset.snapshot()
    else:
        canonical = view_url(name, current)
        if request.query_string and not is_htmx() and \
                request.script_root + request.full_path.rstrip("?") != canonical:
            # One URL per view: bookmarks and rooms agree.
            return vary_on_htmx(redirect(canonical, 302))
        context.update(state.memo.get(("browse", name, current.query, snap.version, snap.epoch),
                                      lambda: browse_context(state, snap, current)))
        if current.page > context["pages"]:  # past the end: the last page, under its own URL
            current = current.at_page(context["pages"])
            if not is_htmx():
                return vary_on_htmx(redirect(view_url(name, current), 302))
            context.update(state.memo.get(
                ("browse", name, current.query, snap.version, snap.epoch),
                lambda: browse_context(state, snap, current)))
        if not is_htmx():
            figure = state.live.figures.payload(name, current)["figure"]
            context["svg"] = svg.render(figure, f"{name}: {', '.join(current.metrics)}")
    context["view"] = current
    context.update(time_context(snap, current))
    if status == 200:
        # The blocks are of this version. changed_at is read after the snapshot: a change
        # landing in between makes it later, never earlier, so the page never thinks the
        # server held this version longer than it did (static/livestatus.js "Behind").
        context.update(version=snap.version, epoch=snap.epoch,
                       changed_at=int(dataset.updated_at * 1000),
                       from_file=dataset.source == "file")  # "reload from disk" only then
        blocks = live_blocks(state, name, snap, current, context)
        if refresh:
            return live_refresh(name, snap, current, context, blocks)
        context["blocks"] = blocks.header  # the page sends these back: "I show those already"
    if is_htmx():
        # On a mistake only the controls (with the messages) change; the URL stays.
        fragments = FRAGMENTS if status == 200 else ["controls"]
        response = make_response("" if refresh else render_blocks("view.html", fragments,
                                                                  **context),
                                 204 if refresh else status)
        if not refresh:
            response.headers["HX-Push-Url"] = view_url(name, current) if status == 200 else "false"
        response.vary.add("X-Dash-Refresh")
    else:
        response = make_response(render_template("view.html", **context), status)
    return vary_on_htmx(response)


@bp.app_template_global()
def facet_id(label: str, value: str) -> str:
    """The HTML id of a facet value's link (``browse.facet_id``)."""
    return browse.facet_id(label, value)


@bp.app_template_filter()
def duration_words(duration: str) -> str:
    """``6h`` as ``6 h`` (``browse.duration_words``)."""
    return browse.duration_words(duration)


@bp.app_template_filter()
def instant_iso(ns: int) -> str:
    """An instant (ns) as ISO-8601 UTC, for ``<time datetime>``."""
    return format_instant(ns)


@bp.app_template_filter()
def age_at(ns: int, now_ms: int) -> str:
    """How long before ``now_ms`` (ms) the instant ``ns`` was: ``2 min ago``."""
    return browse.age_words((now_ms - ns / 1e6) / 1000)
