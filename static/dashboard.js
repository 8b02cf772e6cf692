// realtime-dash dashboards. The page works without this file: the server draws every
// panel (SVG charts, stat numbers, tables). With it, the panels follow their views live
// over ONE Socket.IO connection (join_dashboard: one room per distinct panel view), or,
// where the browser has no WebSocket or the socket cannot connect, over ONE long-poll
// for the whole dashboard (/api/dashboards/<name>/poll with its cursor). Time series are
// redrawn with Plotly (thresholds as horizontal lines); stat and table panels fetch their
// server-rendered fragment when their view changes. Versions and epochs decide, as in
// dash.js, whether a change extends what is drawn or needs the whole figure again.
(function () {
  "use strict";

  const FALLBACK_AFTER_FAILURES = 2; // socket connect errors before long-polling
  const FRAGMENT_REFRESH_MS = 1000; // a stat or table panel refreshes at most this often
  const POLL_TIMEOUT_S = 25;
  const RETRY_MS = 2000;

  const boardEl = () => document.getElementById("board");
  const panelsEl = () => document.getElementById("panels");
  const headEl = () => document.getElementById("board-head");
  const statusEl = () => document.getElementById("live-status");

  let socket = null;
  let joined = null; // {name, query} this socket joined
  let transport = "none"; // websocket | polling | long-poll
  let connected = false;
  let lastUpdate = 0;
  let failures = 0;
  let longPoll = null; // {stop, controller} while the long-poll loop runs
  let problem = null; // a refusal to show in the status line
  let deleted = false;

  const overridesQuery = () => (panelsEl() ? panelsEl().dataset.query : "");
  const layoutVersion = () => (panelsEl() ? panelsEl().dataset.version : "");
  const sections = () => Array.from(document.querySelectorAll("#panels .panel"));

  // -- status -------------------------------------------------------------------

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
    if (deleted) {
      state = "error";
      text = "this dashboard was deleted";
    } else if (headEl() && headEl().dataset.error) {
      state = "error";
      text = "fix " + headEl().dataset.error + " to see the dashboard live";
    } else if (problem) {
      state = "error";
      text = problem;
    } else if (connected) {
      state = "live";
      text = "live · " + transport + " · v" + layoutVersion() + ago();
    } else {
      state = "reconnecting";
      text = "reconnecting… (showing what was drawn last)";
    }
    el.dataset.state = state;
    el.dataset.transport = transport;
    el.textContent = text;
  }

  function setTransport(name, isConnected) {
    transport = name;
    connected = isConnected;
    showStatus();
  }

  // -- drawing -----------------------------------------------------------------

  function panelsOf(payload) {
    return sections().filter((el) => el.dataset.dataset === payload.dataset &&
                                     el.dataset.query === payload.query);
  }

  function thresholdShapes(section) {
    let levels = [];
    try {
      levels = JSON.parse(section.dataset.thresholds || "[]");
    } catch (error) {
      levels = [];
    }
    return levels.map((t) => ({
      type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: t.value, y1: t.value,
      line: {color: t.color, width: 1.5, dash: "dash"},
      name: "threshold " + t.value,
    }));
  }

  function countPoints(el) {
    return (el.data || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
  }

  function drawn(section, payload, el) {
    section.dataset.version = String(payload.version);
    section.dataset.epoch = payload.epoch;
    if (el) section.dataset.points = String(countPoints(el));
    lastUpdate = Date.now();
    showStatus();
  }

  // A view's whole figure: redraw its time series, refresh its stats and tables.
  function fullFigure(payload) {
    for (const section of panelsOf(payload)) {
      const older = section.dataset.epoch === payload.epoch &&
        Number(section.dataset.version) > payload.version;
      if (older) continue;
      if (section.dataset.type !== "timeseries") {
        if (section.dataset.epoch !== payload.epoch ||
            Number(section.dataset.version) < payload.version) refreshPanel(section);
        continue;
      }
      const el = section.querySelector(".panel-chart");
      if (!el) continue;
      if (!el.classList.contains("js-plotly-plot")) el.replaceChildren(); // the server's SVG
      const fig = payload.figure;
      const layout = Object.assign({}, fig.layout, {
        title: {text: ""},
        margin: {l: 50, r: 12, t: 28, b: 40},
        shapes: thresholdShapes(section),
        // Above the plot: below it, the legend would cover the time axis' title.
        legend: {orientation: "h", x: 0, y: 1, yanchor: "bottom"},
      });
      window.Plotly.react(el, fig.data, layout, {responsive: true, displaylogo: false,
                                                 displayModeBar: false});
      section.dataset.drawn = "plotly";
      drawn(section, payload, el);
    }
  }

  // Points appended to a raw view: extend what is drawn, or ask for everything again.
  function extendFigure(change) {
    for (const section of panelsOf(change)) {
      if (section.dataset.type !== "timeseries") {
        refreshPanel(section);
        continue;
      }
      const el = section.querySelector(".panel-chart");
      if (section.dataset.drawn !== "plotly" || section.dataset.epoch !== change.epoch ||
          Number(section.dataset.version) !== change.base_version) {
        resync(); // we missed something: the whole figures again
        return;
      }
      window.Plotly.extendTraces(el, {x: change.x, y: change.y}, change.traces,
                                 {x: change.max_points, y: change.max_points});
      drawn(section, change, el);
    }
  }

  // -- stat and table panels: their server-rendered fragment ---------------------

  const timers = new Map(); // panel id -> pending refresh
  const refreshed = new Map(); // panel id -> when it last refreshed

  function refreshPanel(section) {
    const id = section.dataset.panel;
    if (timers.has(id)) return;
    const wait = Math.max(0, (refreshed.get(id) || 0) + FRAGMENT_REFRESH_MS - Date.now());
    timers.set(id, setTimeout(() => fetchPanel(id), wait));
  }

  async function fetchPanel(id) {
    refreshed.set(id, Date.now());
    const query = overridesQuery();
    const url = boardEl().dataset.pageUrl + "/panels/" + encodeURIComponent(id) +
      (query ? "?" + query : "");
    try {
      const answer = await fetch(url, {headers: {"HX-Request": "true"}, cache: "no-store"});
      if (!answer.ok) return;
      const template = document.createElement("template");
      template.innerHTML = await answer.text();
      const fresh = template.content.querySelector(".panel");
      const current = document.getElementById("panel-" + id);
      // Swap only if the page still shows this panel with this view.
      if (fresh && current && overridesQuery() === query &&
          fresh.dataset.query === current.dataset.query) {
        current.replaceWith(fresh);
        lastUpdate = Date.now();
        showStatus();
      }
    } finally {
      timers.delete(id);
    }
  }

  // -- layout: the panels block, after dashboard_changed or another override -------

  const LAYOUT_BLOCKS = ["board-head", "overrides", "panels"];

  async function reloadLayout() {
    const answer = await fetch(window.location.pathname + window.location.search,
                               {headers: {"HX-Request": "true"}, cache: "no-store"});
    if (!answer.ok && answer.status !== 400) return;
    const template = document.createElement("template");
    template.innerHTML = await answer.text();
    for (const id of LAYOUT_BLOCKS) {
      const fresh = template.content.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) {
        fresh.removeAttribute("hx-swap-oob");
        current.replaceWith(fresh);
        if (window.htmx) window.htmx.process(fresh);
      }
    }
  }

  // The page shows another layout or other overrides: watch what it shows now.
  function followLayout() {
    problem = null;
    if (socket && socket.connected) join();
    else if (longPoll) restartLongPoll();
    showStatus();
  }

  async function dashboardChanged(change) {
    if (!boardEl() || change.name !== boardEl().dataset.name) return;
    if (change.version === null) {
      deleted = true;
      showStatus();
      return;
    }
    if (String(change.version) === layoutVersion()) return;
    await reloadLayout();
    followLayout();
  }

  // -- Socket.IO -------------------------------------------------------------------

  function join() {
    if (!socket || !socket.connected || !boardEl()) return;
    if (headEl() && headEl().dataset.error) {
      showStatus();
      return;
    }
    const wanted = {name: boardEl().dataset.name, query: overridesQuery()};
    if (joined && joined.name !== wanted.name) socket.emit("leave_dashboard", joined);
    joined = wanted;
    // Joining again is how the server learns a new layout or other overrides: it swaps
    // the view rooms and sends every panel's whole figure.
    socket.emit("join_dashboard", wanted, (ack) => {
      if (!ack || !ack.ok) {
        problem = "cannot watch this dashboard: " + (ack ? ack.error : "no answer");
        showStatus();
      } else if (String(ack.version) !== layoutVersion()) {
        dashboardChanged({name: ack.name, version: ack.version});
      }
    });
  }

  function resync() {
    if (socket && socket.connected) join();
    else if (longPoll) restartLongPoll();
  }

  function startSocket() {
    socket = window.io({reconnectionDelayMax: 5000});
    socket.on("connect", () => {
      failures = 0;
      stopLongPoll();
      joined = null; // a new connection is in no room yet
      setTransport(socket.io.engine.transport.name, true);
      socket.io.engine.on("upgrade", () => setTransport(socket.io.engine.transport.name, true));
      join();
    });
    socket.on("disconnect", () => setTransport(transport, false));
    socket.on("connect_error", () => {
      failures += 1;
      setTransport(transport, false);
      if (failures >= FALLBACK_AFTER_FAILURES && !longPoll) startLongPoll();
    });
    socket.on("update_chart", fullFigure);
    socket.on("extend_chart", extendFigure);
    socket.on("dashboard_changed", dashboardChanged);
  }

  // -- the dashboard long-poll: one request in flight, every panel in its answer ------

  async function pollLoop(run) {
    let cursor = null;
    while (!run.stop) {
      if (!boardEl() || (headEl() && headEl().dataset.error)) return;
      const params = new URLSearchParams(overridesQuery());
      if (cursor) params.set("cursor", cursor);
      params.set("timeout", String(POLL_TIMEOUT_S));
      try {
        const answer = await fetch(boardEl().dataset.pollUrl + "?" + params.toString(),
                                   {cache: "no-store", signal: run.controller.signal});
        if (run.stop) return;
        if (answer.status === 200) {
          const body = await answer.json();
          if (run.stop) return;
          setTransport("long-poll", true);
          if (String(body.version) !== layoutVersion()) await reloadLayout();
          cursor = body.cursor;
          for (const payload of body.panels) fullFigure(payload);
        } else if (answer.status === 204) {
          setTransport("long-poll", true);
        } else {
          if (answer.status === 404) {
            deleted = true;
            showStatus();
            return;
          }
          throw new Error("poll answered " + answer.status);
        }
      } catch (error) {
        if (run.stop) return;
        setTransport("long-poll", false);
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  function startLongPoll() {
    longPoll = {stop: false, controller: new AbortController()};
    pollLoop(longPoll);
  }

  function stopLongPoll() {
    if (longPoll) {
      longPoll.stop = true;
      longPoll.controller.abort(); // the one request in flight goes with its loop
      longPoll = null;
    }
  }

  function restartLongPoll() {
    stopLongPoll();
    startLongPoll();
  }

  // -- start -------------------------------------------------------------------------

  function start() {
    if (!boardEl() || !panelsEl() || typeof window.Plotly === "undefined") return;
    // The overrides form swapped new panels in (htmx): watch what they show.
    document.body.addEventListener("htmx:afterSettle", followLayout);
    setInterval(() => { if (connected) showStatus(); }, 1000);
    setTransport("connecting", false);
    if (typeof window.io === "function" && typeof window.WebSocket === "function") {
      startSocket();
    } else {
      // No WebSocket at all: Engine.IO would hold a poll per connection and post every
      // message; the dashboard's own long-poll carries every panel in one request.
      startLongPoll();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
