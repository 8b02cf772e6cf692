// realtime-dash client. The page works without this file; with it, the chart
// follows its view live: over Socket.IO (WebSocket, or Engine.IO's HTTP polling
// when WebSockets are blocked), or over /api/d/<dataset>/poll when the socket
// cannot connect at all. Versions and epochs make every resync exact.
(function () {
  "use strict";

  const FALLBACK_AFTER_FAILURES = 2; // socket connect errors before long-polling
  const FRAGMENT_REFRESH_MS = 1000; // tables and stats refresh at most this often
  const POLL_TIMEOUT_S = 25;

  const chartEl = () => document.getElementById("chart");
  // The view the page shows; HTMX swaps this element when the view changes.
  const metaEl = () => document.getElementById("view-meta");
  const statusEl = () => document.getElementById("live-status");

  let socket = null;
  let watching = null; // {dataset, query, subscribed}
  let version = null; // version and epoch of what the chart shows
  let epoch = null;
  let transport = "none"; // websocket | polling | long-poll
  let connected = false;
  let lastUpdate = 0;
  let paused = false;
  let stale = false; // updates were skipped (paused or hidden): resync on return
  let failures = 0;
  let longPoll = null; // {stop: bool} while the long-poll loop runs

  // -- status ---------------------------------------------------------------

  function ago() {
    if (!lastUpdate) return "";
    const seconds = Math.round((Date.now() - lastUpdate) / 1000);
    return seconds < 2 ? " · just now" : " · " + seconds + " s ago";
  }

  function showStatus() {
    const el = statusEl();
    if (!el) return;
    let state;
    let text;
    if (metaEl() && metaEl().dataset.error) {
      state = "error";
      text = "fix the view's " + metaEl().dataset.error + " to see it live";
    } else if (paused) {
      state = "paused";
      const pending = chartEl() && chartEl().dataset.pending;
      text = "paused · " + transport + (version !== null ? " · v" + version : "") +
        (pending ? " · v" + pending + " waiting" : "");
    } else if (connected) {
      state = "live";
      text = "live · " + transport + (version !== null ? " · v" + version : "") + ago();
    } else {
      state = "reconnecting";
      text = "reconnecting…" + (version !== null ? " (showing v" + version + ")" : "");
    }
    el.dataset.state = state;
    el.dataset.transport = transport;
    el.textContent = text;
    const button = document.getElementById("pause");
    if (button) {
      button.hidden = false;
      button.textContent = paused ? "resume" : "pause";
      button.setAttribute("aria-pressed", paused ? "true" : "false");
    }
  }

  function setTransport(name, isConnected) {
    transport = name;
    connected = isConnected;
    showStatus();
  }

  // -- drawing --------------------------------------------------------------

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

  function drawn(payload) {
    const el = chartEl();
    version = payload.version;
    epoch = payload.epoch;
    lastUpdate = Date.now();
    el.dataset.version = String(payload.version);
    el.dataset.epoch = payload.epoch;
    el.dataset.query = payload.query;
    el.dataset.points = String(countPoints(el));
    delete el.dataset.pending;
    showStatus();
    refreshFragments();
  }

  // The chart in words for screen readers: what it shows, its span, the last values.
  // (A visually hidden paragraph after #chart: Plotly's modebar buttons may not sit
  // inside an element with role="img".)
  function describe(summary) {
    if (!summary) return;
    let el = document.getElementById("chart-summary");
    if (!el) {
      el = document.createElement("p");
      el.id = "chart-summary";
      el.className = "sr";
      chartEl().after(el);
    }
    if (el.textContent !== summary) el.textContent = summary;
  }

  function fullFigure(payload) {
    if (!mine(payload)) return;
    if (holding()) {
      hold(payload);
      return;
    }
    if (payload.epoch === epoch && version !== null && payload.version < version) return;
    const fig = payload.figure;
    // The theme's colours (static/theme.js) and the server's Plotly config; the server's
    // SVG under #chart hides itself once Plotly has drawn (dash.css).
    const layout = window.dashTheme ? window.dashTheme.apply(fig.layout) : fig.layout;
    window.Plotly.react(chartEl(), fig.data, layout, fig.config);
    describe(fig.summary);
    stale = false;
    drawn(payload);
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
    const el = chartEl();
    window.Plotly.extendTraces(el, {x: change.x, y: change.y}, change.traces,
                               {x: change.max_points, y: change.max_points});
    describe(change.summary);
    drawn(change);
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

  // -- Socket.IO ------------------------------------------------------------

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
    watching = {dataset: wanted.dataset, query: wanted.query, subscribed: true};
    socket.emit("subscribe", wanted, (ack) => {
      if (!ack || !ack.ok) {
        const el = statusEl();
        if (el) {
          el.dataset.state = "error";
          el.textContent = "cannot watch this view: " + (ack ? ack.error : "no answer");
        }
      }
    });
  }

  function startSocket() {
    socket = window.io({reconnectionDelayMax: 5000});
    socket.on("connect", () => {
      failures = 0;
      stopLongPoll();
      if (watching) watching.subscribed = false; // a new connection has no rooms yet
      setTransport(socket.io.engine.transport.name, true);
      socket.io.engine.on("upgrade", () => setTransport(socket.io.engine.transport.name, true));
      subscribe();
    });
    socket.on("disconnect", () => setTransport(transport, false));
    socket.on("connect_error", () => {
      failures += 1;
      setTransport(transport, false);
      if (failures >= FALLBACK_AFTER_FAILURES && !longPoll) startLongPoll();
    });
    socket.on("update_chart", fullFigure);
    socket.on("extend_chart", extendFigure);
  }

  // -- long-poll fallback ---------------------------------------------------

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
      watching = {dataset: meta.dataset.dataset, query: meta.dataset.query, subscribed: false};
      try {
        const answer = await fetch(pollUrl(), {cache: "no-store"});
        if (run.stop) return;
        setTransport("long-poll", true);
        if (answer.status === 200) {
          const payload = await answer.json();
          if (holding()) {
            hold(payload);
            await new Promise((resolve) => { run.resume = resolve; });
          } else {
            fullFigure(payload);
          }
        } else if (answer.status !== 204) {
          // A busy server (503) says when to come back: a little later than that, spread.
          const after = Number(answer.headers.get("Retry-After")) || 2;
          throw Object.assign(new Error("poll answered " + answer.status), {after});
        }
      } catch (error) {
        if (run.stop) return;
        setTransport("long-poll", false);
        const after = (error && error.after) || 2;
        await new Promise((resolve) => setTimeout(resolve, after * 1000 * (1 + Math.random() / 2)));
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

  // -- fragments, pause, background tabs -------------------------------------

  let refreshTimer = null;
  let lastRefresh = 0;
  let navigations = 0; // user requests (links, the form) started so far
  let navigating = 0; // user requests in flight

  function isRefresh(detail) {
    const headers = detail.requestConfig ? detail.requestConfig.headers : null;
    return Boolean(headers && headers["X-Dash-Refresh"]);
  }

  // Re-render facets, stats and table for the new version, at most every FRAGMENT_REFRESH_MS.
  // A user's own request always wins: no refresh starts while one is in flight, and a
  // refresh that started before one is dropped instead of swapping in the old view.
  function refreshFragments() {
    if (!window.htmx || refreshTimer || !document.getElementById("table")) return;
    const wait = Math.max(0, lastRefresh + FRAGMENT_REFRESH_MS - Date.now());
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      if (holding() || navigating) return;
      lastRefresh = Date.now();
      window.htmx.ajax("GET", window.location.pathname + window.location.search,
                       {swap: "none", headers: {"X-Dash-Refresh": String(navigations + 1)}});
    }, wait);
  }

  function trackNavigation() {
    document.body.addEventListener("htmx:beforeRequest", (event) => {
      if (!isRefresh(event.detail)) {
        navigations += 1;
        navigating += 1;
      }
    });
    document.body.addEventListener("htmx:afterRequest", (event) => {
      if (!isRefresh(event.detail)) navigating = Math.max(0, navigating - 1);
    });
    document.body.addEventListener("htmx:beforeSwap", (event) => {
      const headers = event.detail.requestConfig ? event.detail.requestConfig.headers : {};
      if (isRefresh(event.detail) && Number(headers["X-Dash-Refresh"]) !== navigations + 1) {
        event.detail.shouldSwap = false; // the user moved on while it was in flight
      }
    });
  }

  function resume() {
    showStatus();
    if (!holding() && stale) resync();
  }

  function setUp() {
    const pause = document.getElementById("pause");
    if (pause) {
      pause.addEventListener("click", () => {
        paused = !paused;
        resume();
      });
    }
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
    trackNavigation();
    // HTMX swapped in a new view: follow it.
    document.body.addEventListener("htmx:afterSettle", () => {
      if (socket && socket.connected) subscribe();
      else if (longPoll && watching && metaEl() &&
               watching.query !== metaEl().dataset.query) {
        version = null;
        restartLongPoll();
      }
    });
    setInterval(() => { if (connected && !paused) showStatus(); }, 1000);
  }

  function start() {
    if (!chartEl() || !metaEl() || typeof window.Plotly === "undefined") return;
    setUp();
    setTransport("connecting", false);
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
