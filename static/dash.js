// realtime-dash view page client. The page works without this file; with it, the chart
// follows its view live: over Socket.IO (WebSocket, or Engine.IO's HTTP polling when
// WebSockets are blocked), or over /api/d/<dataset>/poll when the socket cannot connect at
// all. Versions and epochs make every resync exact. Facets, stats and the table follow the
// chart's version: only the blocks that changed are fetched, and they are morphed into the
// page (idiomorph), so focus, scroll and open boxes stay where they are.
(function () {
  "use strict";

  const FALLBACK_AFTER_FAILURES = 2; // socket connect errors before long-polling
  const FRAGMENT_REFRESH_MS = 1000; // facets, stats and table refresh at most this often
  // Without a push for this long, the page asks the server what it holds (the range line):
  // a socket that stalls while the data goes on is then said ("Behind"), not hidden.
  const CHECK_MS = 10000;
  const POLL_TIMEOUT_S = 25;
  // A refresh (the check above included) unanswered this long: "No answer from the server"
  // (static/livestatus.js); a push or an answer says "Live" again.
  const ANSWER_MS = window.dashLive ? window.dashLive.ANSWER_MS : 4000;
  const PAUSED_MARK = {
    text: "Paused", name: "paused", showarrow: false, xref: "paper", yref: "paper",
    x: 1, y: 1, xanchor: "right", yanchor: "bottom", font: {size: 14},
    bgcolor: "rgba(255, 196, 0, 0.35)", borderpad: 3,
  };

  const chartEl = () => document.getElementById("chart");
  // The view the page shows; HTMX morphs this element when the view changes.
  const metaEl = () => document.getElementById("view-meta");
  const statusEl = () => document.getElementById("live-status");

  let socket = null;
  let watching = null; // {dataset, query, subscribed}
  let version = null; // version and epoch of what the chart shows
  let epoch = null;
  let transport = "none"; // websocket | polling | long-poll
  let connected = false;
  let linkDown = false; // cluster mode: the server cannot reach the shared log (Redis)
  let everConnected = false;
  let paused = false;
  let stale = false; // updates were skipped (paused or hidden): resync on return
  let firstDraw = true; // a new view: its first figure is drawn even while paused
  // Paused on a new view, its blocks (with the navigation) and its chart (over the socket,
  // after it) can be of versions a tick apart: the older side is asked again, this many
  // times at most, until both show one version (agree()).
  const AGREE_ROUNDS = 5;
  let agreeing = 0;
  let catchingUp = false; // a refresh that brings the blocks to the chart's version, paused
  let failures = 0;
  let longPoll = null; // {stop: bool} while the long-poll loop runs
  let figure = null; // the last whole figure drawn (its layout and config, to redraw)
  // The server's clock, NTP-style from every answer (static/livestatus.js).
  const clock = window.dashLive ? new window.dashLive.Clock() : null;
  // What the server said it holds, version by version (static/livestatus.js).
  const freshness = window.dashLive ? new window.dashLive.Freshness() : null;
  let statusError = null; // why the server would not let us watch this view
  let unanswered = false; // a refresh has waited ANSWER_MS for its answer

  // -- ages -------------------------------------------------------------------

  function serverNow() {
    return clock ? clock.now() : Date.now();
  }

  function updateAges() {
    if (!window.dashLive) return;
    for (const el of document.querySelectorAll(".ago[data-at]")) {
      // A point is never newer than now: what is left of the clocks' skew reads "just now".
      const text = window.dashLive.ageWords(Math.max(0, serverNow() - Number(el.dataset.at)) / 1000);
      if (el.textContent !== text) el.textContent = text;
    }
  }

  function clockFromAnswer(date, sent, answered) {
    if (clock) clock.fromAnswer(date, sent, answered);
  }

  // The page's own render time: until an answer's Date says better.
  function readClock() {
    const meta = metaEl();
    if (clock && meta && meta.dataset.serverNow) clock.fromPage(Number(meta.dataset.serverNow));
  }

  // The range line says what the server held when it was drawn: its version, epoch, newest
  // point and when the data last changed (static/livestatus.js judges the page by them).
  function readFreshness() {
    const range = document.getElementById("range");
    const meta = metaEl();
    if (!freshness || !range || !meta || range.dataset.version === undefined) return;
    freshness.note(meta.dataset.dataset, {
      version: Number(range.dataset.version), epoch: range.dataset.epoch,
      newest: range.dataset.newest ? Number(range.dataset.newest) : null,
      changedAt: Number(range.dataset.changedAt),
    });
  }

  // -- status -----------------------------------------------------------------

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text; // unchanged: not announced again
  }

  // The version the page shows: the chart's, or the server's drawing until Plotly's.
  function shownVersions() {
    const meta = metaEl();
    const shown = new Map();
    if (version !== null) shown.set(watching ? watching.dataset : meta.dataset.dataset,
                                     {version: version, epoch: epoch});
    else if (meta && meta.dataset.version) shown.set(meta.dataset.dataset,
      {version: Number(meta.dataset.version), epoch: meta.dataset.epoch});
    return shown;
  }

  function showStatus() {
    if (!statusEl() || !window.dashLive) return;
    const meta = metaEl();
    const pending = chartEl() && chartEl().dataset.pending;
    const live = connected && !linkDown && !paused && !(meta && meta.dataset.error);
    const now = serverNow();
    const line = window.dashLive.statusLine({
      problem: meta && meta.dataset.error ? "fix " + meta.dataset.error + " first" : statusError,
      paused: paused, pending: pending, unanswered: unanswered, lastUpdate: lastPush,
      connected: connected && !linkDown, everConnected: everConnected,
      judged: live && freshness ? freshness.judge(shownVersions(), now) : null, now: now,
      transport: transport,
    });
    line.details = (version !== null ? "showing version " + version : "") +
      (pending ? " · version " + pending + " waiting" : "") +
      (epoch ? " · epoch " + epoch : "");
    window.dashLive.show(line);
    const button = document.getElementById("pause");
    if (button) {
      button.hidden = false;
      setText(button, paused ? "resume" : "pause");
      button.setAttribute("aria-pressed", paused ? "true" : "false");
    }
  }

  function setTransport(name, isConnected) {
    transport = name;
    connected = isConnected;
    if (isConnected) everConnected = true;
    showStatus();
  }

  // -- drawing ----------------------------------------------------------------

  function mine(payload) {
    return watching && payload.dataset === watching.dataset && payload.query === watching.query;
  }

  function holding() {
    return paused || document.hidden;
  }

  // An update arrived while paused or hidden: note its version, draw nothing.
  function hold(payload) {
    stale = true;
    chartEl().dataset.pending = String(payload.version);
    showStatus();
  }

  function countPoints(el) {
    return (el.data || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
  }

  // The figure's layout in the page's theme (static/theme.js: window.dashTheme.apply), with
  // the "Paused" mark while paused. A copy: Plotly writes into the layout it is given, and
  // the figure's own layout is what a redraw starts from.
  function layoutFor(layout) {
    let out = JSON.parse(JSON.stringify(layout || {}));
    const theme = window.dashTheme;
    if (theme && typeof theme.apply === "function") out = theme.apply(out);
    if (paused) out.annotations = (out.annotations || []).concat([PAUSED_MARK]);
    hoverWhole(out);
    return out;
  }

  // The hover box lists every metric at that time, also where metrics in different units
  // are drawn one above the other (they share the time axis, not the plot), and writes the
  // time with its zone.
  function hoverWhole(out) {
    out.hoversubplots = "axis";
    const meta = metaEl();
    const zone = new URLSearchParams(meta ? meta.dataset.query : "").get("tz") || "UTC";
    const axis = out.xaxis;
    if (axis && axis.hoverformat && !axis.hoverformat.endsWith(" " + zone)) {
      axis.hoverformat += " " + zone.replace(/%/g, "%%");
    }
  }

  // The chart in words for screen readers (the figure's "summary": what it shows, its span,
  // the last values), in a visually hidden paragraph after #chart.
  function describe(summary) {
    if (!summary) return;
    let el = document.getElementById("chart-summary");
    if (!el) {
      el = document.createElement("p");
      el.id = "chart-summary";
      el.className = "sr";
      chartEl().after(el);
    }
    setText(el, summary);
  }

  function configFor(fig) {
    return fig.config || {responsive: true, displaylogo: false};
  }

  function draw(fig) {
    figure = fig;
    const el = chartEl();
    window.Plotly.react(el, fig.data, layoutFor(fig.layout), configFor(fig));
    listenForZoom(el);
    describe(fig.summary);
  }

  // The same data again with a new theme or pause mark.
  function redraw() {
    const el = chartEl();
    if (!figure || !el || !el.data) return;
    window.Plotly.react(el, el.data, layoutFor(figure.layout), configFor(figure));
  }

  function drawn(payload, first) {
    const el = chartEl();
    lastPush = Date.now();
    unanswered = false; // the server pushed: it is answering
    version = payload.version;
    epoch = payload.epoch;
    el.dataset.version = String(payload.version);
    el.dataset.epoch = payload.epoch;
    el.dataset.query = payload.query;
    el.dataset.points = String(countPoints(el));
    delete el.dataset.pending;
    showStatus();
    // The page (or the navigation) brought this view's blocks as of one version: they are
    // behind when the chart is newer.
    const meta = metaEl();
    if (!first || (meta && (meta.dataset.epoch !== payload.epoch ||
                            Number(meta.dataset.version) < payload.version))) {
      LIVE_BLOCKS.forEach((block) => behind.add(block));
      refreshFragments();
    }
  }

  function fullFigure(payload) {
    if (!mine(payload)) return;
    if (holding() && !firstDraw) {
      hold(payload);
      return;
    }
    if (payload.epoch === epoch && version !== null && payload.version < version) return;
    const first = firstDraw;
    draw(payload.figure);
    firstDraw = false;
    stale = false;
    drawn(payload, first);
    if (first && holding()) agree();
  }

  // Paused: chart and blocks frozen at one version. Blocks older than the chart are
  // fetched once more (they come at its version or later); a chart older than the blocks
  // is drawn again. Each round's two answers are a few ms apart, ticks 500 ms: one or two
  // rounds agree.
  function agree() {
    if (!holding() || agreeing <= 0 || version === null) return;
    const range = document.getElementById("range");
    const blocks = range && range.dataset.version !== undefined ? Number(range.dataset.version) : NaN;
    if (!Number.isFinite(blocks) || blocks === version) {
      agreeing = 0;
      return;
    }
    agreeing -= 1;
    if (blocks < version) {
      LIVE_BLOCKS.forEach((block) => behind.add(block));
      catchingUp = true;
      if (refreshTimer) clearTimeout(refreshTimer);
      refreshTimer = null;
      runRefresh();
    } else {
      firstDraw = true;
      resync();
    }
  }

  function extendFigure(change) {
    if (!mine(change)) return;
    if (holding()) {
      hold(change);
      return;
    }
    if (change.epoch !== epoch || change.base_version !== version) {
      resync(); // we missed something: ask for the whole figure
      return;
    }
    window.dashLive.applyChange(chartEl(), change);
    describe(change.summary);
    drawn(change, false);
  }

  // Ask for the whole figure of the current view, by whichever transport is up.
  function resync() {
    stale = false;
    if (socket && socket.connected && watching) {
      watching.subscribed = false;
      subscribe();
    } else if (longPoll) {
      version = null; // the next poll answers at once
      restartLongPoll();
    }
  }

  // -- zoom: dragging on the chart sets the view's start and end ---------------

  // Plotly's axis range ends are wall-clock strings of the view's zone ("2024-05-01
  // 12:00:00.25"); the server reads start/end without an offset in that zone. Whole
  // seconds: the start rounded down, the end up, so the URL stays readable.
  function wholeSecond(text, up) {
    const m = /^(\d{4})-(\d\d)-(\d\d)(?:[ T](\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?)?$/
      .exec(String(text).trim());
    if (!m) return null;
    let ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] || 0),
                      Number(m[5] || 0), Number(m[6] || 0));
    if (up && m[7] && /[1-9]/.test(m[7])) ms += 1000;
    return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
  }

  // The time range of each view a drag-zoom left, newest last (as the URL had it: window,
  // start, end): a double-click or "Reset axes" goes back to it. The zoomed view's chart
  // already spans its whole range, so Plotly's own reset would change nothing.
  const zooms = [];

  function setRange(range) {
    for (const [name, value] of Object.entries(range)) {
      const box = document.getElementById("f-" + name);
      if (box) box.value = value;
    }
  }

  function zoomTo(from, to) {
    const form = document.getElementById("controls");
    const start = wholeSecond(from, false);
    const end = wholeSecond(to, true);
    if (!form || !start || !end) return;
    const url = new URLSearchParams(window.location.search);
    zooms.push({window: url.get("window") || "", start: url.get("start") || "",
                end: url.get("end") || ""});
    setRange({window: "", start: start, end: end});
    form.requestSubmit(); // htmx sends it: the URL, stats, table and chart follow
  }

  function zoomOut() {
    const form = document.getElementById("controls");
    if (!form || !zooms.length) return;
    setRange(zooms.pop());
    form.requestSubmit();
  }

  let zoomable = null;
  function listenForZoom(el) {
    if (zoomable === el || typeof el.on !== "function") return;
    zoomable = el;
    el.on("plotly_relayout", (change) => {
      const from = change["xaxis.range[0]"];
      const to = change["xaxis.range[1]"];
      if (from !== undefined && to !== undefined) zoomTo(from, to);
      else if (change["xaxis.autorange"] === true) zoomOut();
    });
  }

  // -- Socket.IO --------------------------------------------------------------

  function subscribe() {
    const meta = metaEl();
    if (!meta || !socket || !socket.connected) return;
    if (meta.dataset.error) {
      showStatus();
      return;
    }
    const wanted = {dataset: meta.dataset.dataset, query: meta.dataset.query};
    const same = watching && watching.dataset === wanted.dataset &&
      watching.query === wanted.query;
    if (same && watching.subscribed) return; // htmx swapped a fragment of the same view
    if (watching && !same) {
      socket.emit("unsubscribe", {dataset: watching.dataset, query: watching.query});
      version = null;
    }
    if (!same) {
      firstDraw = true;
      agreeing = AGREE_ROUNDS; // a new view: its rounds to agree while paused
    }
    watching = {dataset: wanted.dataset, query: wanted.query, subscribed: true};
    statusError = null;
    socket.emit("subscribe", wanted, (ack) => {
      if (!ack || !ack.ok) {
        statusError = ack ? ack.error : "the server did not answer";
        showStatus();
      }
    });
  }

  function startSocket() {
    socket = window.io({reconnectionDelayMax: 5000, auth: {parts: true}});
    socket.on("connect", () => {
      failures = 0;
      linkDown = false; // the server says so on connect when it is not
      stopLongPoll();
      if (watching) watching.subscribed = false; // a new connection has no rooms yet
      setTransport(socket.io.engine.transport.name, true);
      socket.io.engine.on("upgrade", () => setTransport(socket.io.engine.transport.name, true));
      subscribe();
    });
    socket.on("disconnect", () => {
      if (!longPoll) setTransport(transport, false);
    });
    // Cluster mode: the server lost (or regained) the shared log; its data may be old.
    socket.on("link", (link) => {
      linkDown = !link.up;
      showStatus();
    });
    socket.on("connect_error", () => {
      failures += 1;
      // While the long-poll carries the view, the socket keeps trying quietly: its failures
      // say nothing about the updates the page is getting.
      if (longPoll) return;
      setTransport(transport, false);
      if (failures >= FALLBACK_AFTER_FAILURES) startLongPoll();
    });
    socket.on("update_chart", fullFigure);
    socket.on("extend_chart", extendFigure);
  }

  // -- long-poll fallback -----------------------------------------------------

  function pollUrl() {
    const meta = metaEl();
    const params = new URLSearchParams(meta.dataset.query);
    if (version !== null) params.set("since", String(version));
    if (epoch !== null) params.set("epoch", epoch);
    params.set("timeout", String(POLL_TIMEOUT_S));
    return meta.dataset.pollUrl + "?" + params.toString();
  }

  async function pollLoop(run) {
    while (!run.stop) {
      const meta = metaEl();
      if (!meta || meta.dataset.error) return;
      const query = meta.dataset.query;
      if (!watching || watching.query !== query) {
        firstDraw = true;
        agreeing = AGREE_ROUNDS;
      }
      watching = {dataset: meta.dataset.dataset, query: query, subscribed: false};
      let answer;
      try {
        const sent = Date.now();
        answer = await fetch(pollUrl(), {cache: "no-store"});
        clockFromAnswer(answer.headers.get("Date"), sent, Date.now());
        if (answer.status !== 200 && answer.status !== 204) {
          // A busy server (503) says when to come back: a little later than that, spread.
          const after = Number(answer.headers.get("Retry-After")) || 2;
          throw Object.assign(new Error("poll answered " + answer.status), {after});
        }
      } catch (error) {
        if (run.stop) return;
        setTransport("long-poll", false);
        const after = (error && error.after) || 2;
        await new Promise((resolve) => setTimeout(resolve, after * 1000 * (1 + Math.random() / 2)));
        continue;
      }
      if (run.stop) return;
      setTransport("long-poll", true);
      if (answer.status === 200) {
        const payload = await answer.json();
        if (holding() && !firstDraw) {
          hold(payload);
          await new Promise((resolve) => { run.resume = resolve; });
        } else {
          fullFigure(payload);
        }
      }
    }
  }

  function startLongPoll() {
    longPoll = {stop: false};
    pollLoop(longPoll);
  }

  function stopLongPoll() {
    if (longPoll) {
      longPoll.stop = true;
      if (longPoll.resume) longPoll.resume();
      longPoll = null;
    }
  }

  function restartLongPoll() {
    stopLongPoll();
    startLongPoll();
  }

  // -- facets, stats and table: the blocks on screen that changed, morphed in place ------

  const LIVE_BLOCKS = ["notes", "range", "facets", "stats", "table"]; // their element ids
  let shown = {}; // block -> the server's hash of what the page shows (X-Dash-Blocks)
  const behind = new Set(); // blocks older than the chart's version
  const onScreen = new Set(LIVE_BLOCKS); // until IntersectionObserver says otherwise
  let refreshTimer = null;
  let lastRefresh = 0;
  let lastPush = 0; // when the chart last drew a version (this browser's clock)
  let navigations = 0; // user requests (links, the form) started so far
  let navigating = 0; // user requests in flight
  let refreshing = null; // the AbortController of the refresh in flight

  function parseBlocks(text) {
    const out = {};
    for (const item of (text || "").split(/\s+/)) {
      const [block, hash] = item.split(":");
      if (block && hash) out[block] = hash;
    }
    return out;
  }

  // What a page or navigation answer brought: every block as of its version.
  function readShown() {
    const meta = metaEl();
    shown = parseBlocks(meta && meta.dataset.blocks);
    behind.clear();
  }

  // Blocks off screen are not fetched (a wall screen showing the chart gets its line of
  // words and nothing else); one scrolled into view while behind is fetched at once.
  function watchScreen() {
    if (!("IntersectionObserver" in window)) return;
    const observer = new IntersectionObserver((entries) => {
      let revealed = false;
      for (const entry of entries) {
        const block = entry.target.id;
        if (entry.isIntersecting) {
          revealed = revealed || (!onScreen.has(block) && behind.has(block));
          onScreen.add(block);
        } else {
          onScreen.delete(block);
        }
      }
      if (revealed) refreshFragments(true);
    });
    for (const id of LIVE_BLOCKS) {
      const el = document.getElementById(id);
      if (el) observer.observe(el); // morphs keep the element: it stays observed
    }
  }

  // Keep <details> as the reader left them, open or shut.
  function keepOpen(name, element) {
    return !(name === "open" && element.localName === "details");
  }

  // Controls the user changed since the last request went out. The answer to that request
  // does not know them: morphing it in must leave them as typed (a "to" typed while the
  // answer to "from" was on its way), and the next request sends them.
  const edited = new Set();

  function noteEdit(event) {
    const target = event.target;
    if (target && target.form && target.form.id === "controls") edited.add(target);
  }

  // The box being typed in (since it got focus) keeps its text too. Any other box is
  // rewritten the way the page writes times, focused or not: after a drag-zoom (Plotly
  // keeps the focus where it was) the focused "to" box showed the raw "23:33:01", without
  // its zone's abbreviation, and after a double-click the URL's "2026-11-30T22:35:00Z".
  const typing = new Set();

  function noteTyping(event) {
    const target = event.target;
    if (target && target.form && target.form.id === "controls") typing.add(target);
  }

  function keepEdited(oldNode) {
    return !edited.has(oldNode) && !(typing.has(oldNode) && oldNode === document.activeElement);
  }

  function applyFragments(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    for (const fresh of Array.from(template.content.children)) {
      const old = fresh.id ? document.getElementById(fresh.id) : null;
      if (!old) continue;
      fresh.removeAttribute("hx-swap-oob");
      window.Idiomorph.morph(old, fresh, {morphStyle: "outerHTML"});
      const now = document.getElementById(fresh.id);
      if (now && window.htmx) window.htmx.process(now); // links whose href changed
    }
    readFreshness();
    updateAges();
    showStatus();
  }

  // A new version: every block is behind; those on screen are asked for, at most every
  // FRAGMENT_REFRESH_MS (at once for one just scrolled into view).
  function refreshFragments(now) {
    if (refreshTimer || !document.getElementById("table") || !window.Idiomorph) return;
    const wait = now ? 0 : Math.max(0, lastRefresh + FRAGMENT_REFRESH_MS - Date.now());
    refreshTimer = setTimeout(runRefresh, wait);
  }

  // The request names the blocks wanted (on screen and behind) and the hashes of what the
  // page shows; the answer carries the changed ones only (or is a 204). Past the first
  // table page the rows stay; the answer says how many new ones came. A user's own request
  // always wins: no refresh starts while one is in flight, and one in flight is dropped.
  async function runRefresh() {
    refreshTimer = null;
    const meta = metaEl();
    const catchUp = catchingUp;
    catchingUp = false;
    if ((holding() && !catchUp) || navigating || !meta || meta.dataset.error) return;
    // The range line is always asked for, on screen or not: the status line reads it; a
    // catch-up while paused asks for every block (all are frozen at the chart's version).
    const want = LIVE_BLOCKS.filter((block) => (catchUp || onScreen.has(block) ||
                                                block === "range") && behind.has(block));
    if (!want.length) return;
    want.forEach((block) => behind.delete(block)); // a version drawn meanwhile adds them back
    lastRefresh = Date.now();
    const started = navigations;
    const headers = {
      "HX-Request": "true", "X-Dash-Refresh": "1", "X-Dash-Want": want.join(" "),
      "X-Dash-Have": Object.entries(shown).map(([block, hash]) => block + ":" + hash).join(" "),
    };
    const showing = shownVersions().get(meta.dataset.dataset);
    if (showing) headers["X-Dash-Shown"] = showing.version + " " + showing.epoch;
    const table = document.getElementById("table");
    const frozen = table && Number(table.dataset.page) > 1;
    if (frozen) headers["X-Dash-Frozen"] = table.dataset.total;
    const controller = new AbortController();
    refreshing = controller;
    const sent = Date.now();
    const silent = setTimeout(() => {
      unanswered = true;
      showStatus();
    }, ANSWER_MS);
    // Given up after CHECK_MS: the next check asks again on a fresh request.
    const giveUp = setTimeout(() => controller.abort(), CHECK_MS);
    try {
      const answer = await fetch(window.location.pathname + window.location.search,
                                 {headers: headers, cache: "no-store", signal: controller.signal});
      clearTimeout(silent);
      clockFromAnswer(answer.headers.get("Date"), sent, Date.now());
      if (unanswered) {
        unanswered = false;
        showStatus();
      }
      const html = answer.status === 200 ? await answer.text() : "";
      if (started !== navigations) return; // moved on: the navigation brought its blocks
      if (holding() && !catchUp) { // paused meanwhile: what the page shows stays as it was
        want.forEach((block) => behind.add(block));
        return;
      }
      const missedAt = answer.headers.get("X-Dash-Missed-At");
      if (missedAt && showing && freshness) {
        freshness.noteMissed(meta.dataset.dataset, showing.version, showing.epoch, Number(missedAt));
      }
      if (html) applyFragments(html);
      else if (missedAt) showStatus();
      const current = parseBlocks(answer.headers.get("X-Dash-Blocks"));
      for (const block of want) {
        if (current[block] && !(frozen && block === "table")) shown[block] = current[block];
      }
    } catch (error) {
      want.forEach((block) => behind.add(block)); // offline: the next version asks again
    } finally {
      clearTimeout(silent);
      clearTimeout(giveUp);
      if (refreshing === controller) refreshing = null;
      if (catchUp) agree(); // the blocks came: do they show the chart's version now?
    }
  }

  function trackNavigation() {
    let sent = 0;
    document.body.addEventListener("htmx:beforeRequest", () => {
      sent = Date.now();
      edited.clear(); // this request carries what the form holds now
      navigations += 1;
      navigating += 1;
      if (refreshing) refreshing.abort();
    });
    document.body.addEventListener("htmx:afterRequest", (event) => {
      navigating = Math.max(0, navigating - 1);
      const xhr = event.detail && event.detail.xhr;
      if (xhr && xhr.status) clockFromAnswer(xhr.getResponseHeader("Date"), sent, Date.now());
    });
  }

  function resume() {
    showStatus();
    if (!holding() && stale) resync();
  }

  function togglePause() {
    paused = !paused;
    showStatus();
    if (!paused && stale && !document.hidden) {
      resync(); // one whole figure, drawn without the mark
    } else {
      redraw(); // the mark on or off
    }
  }

  // Typing a window drops start and end (they would win over it); typing either end drops
  // the window: the form sends what the user means, and no box says "6h" over a range.
  function keepRangeBoxesApart(event) {
    const id = event.target && event.target.id;
    const clear = (boxId) => {
      const box = document.getElementById(boxId);
      if (box && box.value) {
        box.value = "";
        edited.add(box); // emptied on the user's behalf: as good as typed
      }
    };
    if (id === "f-window") {
      clear("f-start");
      clear("f-end");
    } else if (id === "f-start" || id === "f-end") {
      clear("f-window");
    }
  }

  function setUp() {
    const pause = document.getElementById("pause");
    if (pause) pause.addEventListener("click", togglePause);
    const refresh = document.getElementById("refresh");
    if (refresh) {
      refresh.hidden = false;
      refresh.addEventListener("click", () => {
        if (socket && socket.connected && watching) {
          socket.emit("refresh_data", {dataset: watching.dataset});
        }
      });
    }
    document.addEventListener("visibilitychange", resume);
    // static/theme.js announces a new scheme on document; redraw from the figure's own
    // layout so the pause mark stays (capture at the window: whichever node it fires on).
    window.addEventListener("dash-theme", redraw, true);
    trackNavigation();
    // HTMX morphed in a new view: follow it.
    document.body.addEventListener("htmx:afterSettle", () => {
      readClock();
      readShown();
      readFreshness();
      updateAges();
      if (socket && socket.connected) {
        subscribe();
      } else if (longPoll && watching && metaEl() &&
                 watching.query !== metaEl().dataset.query) {
        version = null;
        restartLongPoll();
      }
      showStatus();
    });
    setInterval(() => {
      updateAges();
      showStatus();
      // No push for a while: is the server holding newer data than this page shows?
      if (connected && !holding() && Date.now() - Math.max(lastPush, lastRefresh) > CHECK_MS) {
        behind.add("range");
        refreshFragments(true);
      }
    }, 1000);
  }

  function start() {
    if (!chartEl() || !metaEl() || typeof window.Plotly === "undefined") return;
    if (window.Idiomorph) {
      // htmx's morphs (navigation) keep open boxes and what someone is typing, as ours do.
      // The box being typed in is kept by keepEdited, not merely the focused one.
      window.Idiomorph.defaults.ignoreActiveValue = false;
      window.Idiomorph.defaults.callbacks.beforeAttributeUpdated = keepOpen;
      window.Idiomorph.defaults.callbacks.beforeNodeMorphed = keepEdited;
    }
    readClock();
    readShown();
    readFreshness();
    updateAges();
    watchScreen();
    if (window.dashLive) window.dashLive.labelCharts(document.getElementById("chart-panel"));
    setUp();
    setTransport("none", false);
    if (typeof window.io === "function") {
      startSocket();
    } else {
      startLongPoll();
    }
  }

  // -- "use my time zone": one click sets tz to the browser's own zone ----------

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (error) {
      return null;
    }
  }

  function offerMyZone() {
    const button = document.getElementById("my-zone");
    const input = document.getElementById("f-tz");
    const zone = browserZone();
    if (!button || !input) return;
    button.hidden = !zone || zone === input.value;
    if (zone) button.textContent = "use my time zone (" + zone + ")";
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("#my-zone") : null;
    const input = document.getElementById("f-tz");
    if (!button || !input || !browserZone()) return;
    input.value = browserZone();
    input.form.requestSubmit();
  });
  document.addEventListener("input", noteEdit);
  document.addEventListener("input", noteTyping);
  document.addEventListener("focusout", (event) => typing.delete(event.target));
  document.addEventListener("input", keepRangeBoxesApart);

  function boot() {
    offerMyZone();
    document.body.addEventListener("htmx:afterSettle", offerMyZone);
    start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", boot);
  } else {
    boot();
  }
})();
