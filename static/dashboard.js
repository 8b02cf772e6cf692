// realtime-dash dashboards. The page works without this file: the server draws every
// panel (SVG charts, stat numbers, tables). With it, the panels follow their views live
// over ONE Socket.IO connection (join_dashboard: one room per distinct panel view), or,
// where the browser has no WebSocket or the socket cannot connect, over ONE long-poll
// for the whole dashboard (/api/dashboards/<name>/poll with its cursor). Time series are
// redrawn with Plotly (thresholds as horizontal lines); stat and table panels fetch their
// server-rendered fragment when their view changes. Versions and epochs decide, as in
// dash.js, whether a change extends what is drawn or needs the whole figure again.
// A panel whose dataset is not loaded shows its error; the page redraws it when the
// dataset comes (dashboard_changed with "datasets", or the long-poll's answer).
(function () {
  "use strict";

  const FALLBACK_AFTER_FAILURES = 2; // socket connect errors before long-polling
  const FRAGMENT_REFRESH_MS = 1000; // a stat or table panel refreshes at most this often
  // The status line asks what the server holds (#board-freshness) at most this often after
  // a push, and after this long without one (a stalled socket is then said, not hidden).
  const FRESHNESS_MS = 2000;
  const CHECK_MS = 10000;
  const POLL_TIMEOUT_S = 25;
  const RETRY_MS = 2000;
  // Thresholds further from the data than this many spans of it are named, not drawn
  // (app/engine/panels.py THRESHOLD_REACH): the axis would have to reach them, and one at
  // -1e308 turns Plotly's axis into NaN.
  const THRESHOLD_REACH = 10;

  const boardEl = () => document.getElementById("board");
  const panelsEl = () => document.getElementById("panels");
  const headEl = () => document.getElementById("board-head");
  const statusEl = () => document.getElementById("live-status");

  let socket = null;
  let joined = null; // {name, query} this socket joined
  let transport = "none"; // websocket | polling | long-poll
  let connected = false;
  let linkDown = false; // cluster mode: the server cannot reach the shared log (Redis)
  let everConnected = false;
  let lastUpdate = 0; // when a panel last changed (this browser's clock)
  let lastCheck = 0; // when the status line last asked what the server holds
  let checkTimer = null;
  // The server's clock, NTP-style from every answer's Date (static/livestatus.js), as on
  // the view page: the render time alone read "newest point 7 s from now" on a slow link.
  const clock = window.dashLive ? new window.dashLive.Clock() : null;
  let unanswered = false; // a status check has waited ANSWER_MS for its answer
  // What the server said it holds, version by version (static/livestatus.js).
  const freshness = window.dashLive ? new window.dashLive.Freshness() : null;
  let failures = 0;
  let longPoll = null; // {stop, controller} while the long-poll loop runs
  let problem = null; // a refusal to show in the status line
  let halted = false; // the page's own fragments answered an error: no more fragment fetches
  let deleted = false;
  let watching = null; // what the socket joined or the long-poll asks for: layoutKey()
  let following = false; // a followLayout is queued for this turn

  const overridesQuery = () => (panelsEl() ? panelsEl().dataset.query : "");
  const layoutVersion = () => (panelsEl() ? panelsEl().dataset.version : "");
  const sections = () => Array.from(document.querySelectorAll("#panels .panel"));

  // -- status: the view page's words (static/livestatus.js) ------------------------

  function serverNow() {
    return clock ? clock.now() : Date.now();
  }

  function clockFromAnswer(answer, sent) {
    if (clock && answer && answer.headers) {
      clock.fromAnswer(answer.headers.get("Date"), sent, Date.now());
    }
  }

  // #board-freshness: what the server held of each dataset when it answered. The page's
  // own (rendered with it) gives the clock until an answer's Date says better.
  function readFreshness(el) {
    if (!el || !freshness) return;
    if (clock && el.dataset.serverNow && el.ownerDocument === document) {
      clock.fromPage(Number(el.dataset.serverNow));
    }
    let datasets = {};
    try {
      datasets = JSON.parse(el.dataset.datasets || "{}");
    } catch (error) {
      datasets = {};
    }
    for (const [name, info] of Object.entries(datasets)) {
      freshness.note(name, {version: info.version, epoch: info.epoch, newest: info.newest,
                            changedAt: info.changed_at});
    }
  }

  // Ask what the server holds now (at most every FRESHNESS_MS; at once when it is time).
  function checkFreshness() {
    if (checkTimer || !boardEl() || halted || deleted) return;
    const wait = Math.max(0, lastCheck + FRESHNESS_MS - Date.now());
    checkTimer = setTimeout(async () => {
      lastCheck = Date.now();
      // What the panels show, per dataset ("<name> <version> <epoch>, ..."): the server
      // answers X-Dash-Missed-At, when the oldest change they lack came to be.
      const shown = shownVersions();
      const headers = {"HX-Request": "true", "X-Dash-Freshness": "1"};
      if (shown.size) {
        headers["X-Dash-Shown"] = Array.from(shown, ([name, at]) =>
          encodeURIComponent(name) + " " + at.version + " " + at.epoch).join(", ");
      }
      const sent = Date.now();
      const silent = setTimeout(() => {
        unanswered = true;
        showStatus();
      }, window.dashLive ? window.dashLive.ANSWER_MS : 4000);
      try {
        const answer = await fetch(window.location.pathname + window.location.search, {
          headers: headers, cache: "no-store"});
        clearTimeout(silent);
        clockFromAnswer(answer, sent);
        unanswered = false;
        if (answer.ok) {
          const template = document.createElement("template");
          template.innerHTML = await answer.text();
          readFreshness(template.content.getElementById("board-freshness"));
          // The oldest missed change of all: noted for every dataset shown, it counts only
          // for those the server holds newer data of (Freshness.judge), and the page's
          // lateness is then the oldest's, as the server's rule says.
          const missedAt = Number(answer.headers.get("X-Dash-Missed-At"));
          if (missedAt && freshness) {
            for (const [name, at] of shown) freshness.noteMissed(name, at.version, at.epoch, missedAt);
          }
        }
        showStatus();
      } catch (error) {
        // offline: the socket's state says so; the next push asks again
      } finally {
        clearTimeout(silent);
        checkTimer = null;
      }
    }, wait);
  }

  // The version each dataset's panels show: the oldest of them (a panel with a problem
  // shows none).
  function shownVersions() {
    const shown = new Map();
    for (const el of sections()) {
      const name = el.dataset.dataset;
      if (!name || el.hasAttribute("data-problem") || el.dataset.version === "") continue;
      const at = {version: Number(el.dataset.version), epoch: el.dataset.epoch};
      const before = shown.get(name);
      if (!before || (before.epoch === at.epoch && at.version < before.version)) {
        shown.set(name, at);
      }
    }
    return shown;
  }

  function showStatus() {
    if (!statusEl() || !window.dashLive) return;
    let why = problem;
    if (deleted) why = "this dashboard was deleted";
    const now = serverNow();
    const live = connected && !linkDown && !why;
    window.dashLive.show(window.dashLive.statusLine({
      problem: why, unanswered: unanswered && connected, lastUpdate: lastUpdate,
      connected: connected && !linkDown, everConnected: everConnected,
      judged: live && freshness ? freshness.judge(shownVersions(), now) : null, now: now,
      transport: transport, details: "dashboard version " + layoutVersion(),
    }));
  }

  function setTransport(name, isConnected) {
    transport = name;
    connected = isConnected;
    if (isConnected) everConnected = true;
    showStatus();
  }

  // -- drawing -----------------------------------------------------------------

  function panelsOf(payload) {
    return sections().filter((el) => el.dataset.dataset === payload.dataset &&
                                     el.dataset.query === payload.query);
  }

  // The thresholds near enough to the data to draw, and the rest (named in .off-chart).
  function splitThresholds(section, data) {
    let levels = [];
    try {
      levels = JSON.parse(section.dataset.thresholds || "[]");
    } catch (error) {
      levels = [];
    }
    let low = Infinity;
    let high = -Infinity;
    for (const trace of data || []) {
      for (const y of trace.y || []) {
        if (typeof y === "number" && Number.isFinite(y)) {
          low = Math.min(low, y);
          high = Math.max(high, y);
        }
      }
    }
    if (low > high) return {near: [], far: []}; // no points: nothing to compare with
    const reach = THRESHOLD_REACH * ((high - low) || Math.max(Math.abs(high), 1));
    const near = levels.filter((t) => t.value >= low - reach && t.value <= high + reach);
    return {near: near, far: levels.filter((t) => !near.includes(t))};
  }

  function thresholdShapes(section, data) {
    const {near, far} = splitThresholds(section, data);
    const note = section.querySelector(".off-chart");
    if (note) {
      note.textContent = far.map((t) => "threshold " + String(t.value) + " (" + t.color +
                                 ") is far outside the data: not drawn").join("; ");
      note.hidden = far.length === 0;
    }
    return near.map((t) => ({
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
    checkFreshness();
    showStatus();
  }

  // A view's whole figure: redraw its time series, refresh its stats and tables.
  function fullFigure(payload) {
    for (const section of panelsOf(payload)) applyFigure(section, payload);
  }

  // One panel and its view's payload (a stat or table's long-poll entry has no figure).
  function applyFigure(section, payload) {
    const older = section.dataset.epoch === payload.epoch &&
      Number(section.dataset.version) > payload.version;
    if (older) return;
    if (section.dataset.type !== "timeseries") {
      if (section.dataset.epoch !== payload.epoch ||
          Number(section.dataset.version) < payload.version) refreshPanel(section);
      return;
    }
    const el = section.querySelector(".panel-chart");
    if (!el || !payload.figure) return;
    if (!el.classList.contains("js-plotly-plot")) {
      el.replaceChildren(); // the server's SVGs
      el.classList.remove("two-sizes");
    }
    const fig = payload.figure;
    const layout = Object.assign({}, fig.layout, {
      title: {text: ""},
      margin: {l: 50, r: 12, t: 28, b: 40},
      shapes: thresholdShapes(section, fig.data),
      // Above the plot: below it, the legend would cover the time axis' title.
      legend: {orientation: "h", x: 0, y: 1, yanchor: "bottom"},
    });
    const themed = window.dashTheme ? window.dashTheme.apply(layout) : layout;
    window.Plotly.react(el, fig.data, themed, Object.assign({}, fig.config,
                                                            {displayModeBar: false}));
    // The chart in words, for screen readers (a visually hidden paragraph after it).
    let words = section.querySelector(".chart-summary");
    if (!words) {
      words = document.createElement("p");
      words.className = "chart-summary sr";
      el.after(words);
    }
    if (fig.summary && words.textContent !== fig.summary) words.textContent = fig.summary;
    section.dataset.drawn = "plotly";
    drawn(section, payload, el);
  }

  // A view that changed by parts (points appended, an aggregated view's last buckets
  // replaced): change what is drawn, or ask for everything again.
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
      window.dashLive.applyChange(el, change);
      drawn(section, change, el);
    }
  }

  // -- stat and table panels: their server-rendered fragment ---------------------

  const timers = new Map(); // panel id -> pending refresh
  const refreshed = new Map(); // panel id -> when it last refreshed

  // Morph a fresh panel into the page (idiomorph): the link or table someone focused keeps
  // its focus and scroll, as on the view page. Without idiomorph, replace it.
  function morphPanel(current, fresh) {
    if (window.Idiomorph) {
      window.Idiomorph.morph(current, fresh, {morphStyle: "outerHTML"});
    } else {
      current.replaceWith(fresh);
    }
  }

  function refreshPanel(section) {
    const id = section.dataset.panel;
    if (halted || timers.has(id)) return;
    const wait = Math.max(0, (refreshed.get(id) || 0) + FRAGMENT_REFRESH_MS - Date.now());
    timers.set(id, setTimeout(() => fetchPanel(id), wait));
  }

  async function fetchPanel(id) {
    refreshed.set(id, Date.now());
    const query = overridesQuery();
    const url = boardEl().dataset.pageUrl + "/panels/" + encodeURIComponent(id) +
      (query ? "?" + query : "");
    try {
      const sent = Date.now();
      const answer = await fetch(url, {headers: {"HX-Request": "true"}, cache: "no-store"});
      clockFromAnswer(answer, sent);
      if (answer.status >= 400 && answer.status < 500) {
        // The dashboard does not load (422) or lost this panel (404): asking again every
        // second would only repeat it. Say so once; dashboard_changed brings it back.
        halt("this panel cannot be redrawn: the server answered " + answer.status +
             "; showing what was drawn last");
        return;
      }
      if (!answer.ok) return; // busy (503): the next change asks again
      const template = document.createElement("template");
      template.innerHTML = await answer.text();
      const fresh = template.content.querySelector(".panel");
      const current = document.getElementById("panel-" + id);
      // Swap only if the page still shows this panel with this view (or it had none).
      if (fresh && current && overridesQuery() === query &&
          (fresh.dataset.query === current.dataset.query ||
           fresh.hasAttribute("data-problem") || current.hasAttribute("data-problem"))) {
        morphPanel(current, fresh);
        lastUpdate = Date.now();
        checkFreshness();
        showStatus();
      }
    } finally {
      timers.delete(id);
    }
  }

  // -- layout: the panels block, after dashboard_changed or another override -------

  const LAYOUT_BLOCKS = ["board-head", "overrides", "panels"];

  function halt(why) {
    halted = true;
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
    problem = why;
    showStatus();
  }

  // Fetch the page's blocks again and swap them in; false if the dashboard does not load.
  async function reloadLayout() {
    const sent = Date.now();
    const answer = await fetch(window.location.pathname + window.location.search,
                               {headers: {"HX-Request": "true"}, cache: "no-store"});
    clockFromAnswer(answer, sent);
    const template = document.createElement("template");
    template.innerHTML = await answer.text();
    if (!answer.ok && answer.status !== 400) {
      const said = template.content.querySelector(".problem");
      halt((said ? said.textContent.trim() : "the dashboard answered " + answer.status) +
           " — showing what was drawn last");
      return false;
    }
    halted = false;
    problem = null;
    readFreshness(template.content.getElementById("board-freshness"));
    for (const id of LAYOUT_BLOCKS) {
      const fresh = template.content.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) {
        fresh.removeAttribute("hx-swap-oob");
        current.replaceWith(fresh);
        if (window.htmx) window.htmx.process(fresh);
      }
    }
    return true;
  }

  // What the page shows: its overrides, layout version and each panel's view (or
  // problem). Joining again is needed only when this changes.
  function layoutKey() {
    return [overridesQuery(), layoutVersion()].concat(sections().map((el) =>
      [el.dataset.panel, el.dataset.dataset, el.dataset.query,
       el.hasAttribute("data-problem")].join(" "))).join("\n");
  }

  // The page shows another layout or other overrides: watch what it shows now, once.
  // htmx settles each swapped block apart (three per override change), and every one
  // calls this: the first queues one join (or one new poll), the rest find it queued.
  function followLayout(force) {
    if (following) return;
    following = true;
    setTimeout(() => {
      following = false;
      if (force !== true && layoutKey() === watching) return;
      problem = null;
      if (socket && socket.connected) join();
      else if (longPoll) restartLongPoll();
      showStatus();
    }, 0);
  }

  async function dashboardChanged(change) {
    if (!boardEl() || change.name !== boardEl().dataset.name) return;
    if (change.version === null) {
      deleted = true;
      showStatus();
      return;
    }
    // The same version with "datasets": a dataset under the dashboard came or went.
    if (String(change.version) === layoutVersion() && !change.datasets) return;
    // Join again even when the layout did not load (a broken file): the server then
    // lets go of the views it can no longer keep up to date for this page.
    await reloadLayout();
    followLayout(true);
  }

  // -- Socket.IO -------------------------------------------------------------------

  function join() {
    // A URL with a bad override still joins: its panels are drawn under every other one
    // (``overridesQuery``), and the form names what to fix.
    if (!socket || !socket.connected || !boardEl()) return;
    const wanted = {name: boardEl().dataset.name, query: overridesQuery()};
    if (joined && joined.name !== wanted.name) socket.emit("leave_dashboard", joined);
    joined = wanted;
    watching = layoutKey();
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
    socket = window.io({reconnectionDelayMax: 5000, auth: {parts: true}});
    socket.on("connect", () => {
      failures = 0;
      linkDown = false; // the server says so on connect when it is not
      stopLongPoll();
      joined = null; // a new connection is in no room yet
      setTransport(socket.io.engine.transport.name, true);
      socket.io.engine.on("upgrade", () => setTransport(socket.io.engine.transport.name, true));
      join();
    });
    socket.on("disconnect", () => setTransport(transport, false));
    // Cluster mode: the server lost (or regained) the shared log; its data may be old.
    socket.on("link", (link) => {
      linkDown = !link.up;
      showStatus();
    });
    socket.on("connect_error", () => {
      failures += 1;
      // While the long-poll carries the dashboard, the socket keeps trying quietly: its
      // failures say nothing about the updates the page is getting (as in dash.js).
      if (longPoll) return;
      setTransport(transport, false);
      if (failures >= FALLBACK_AFTER_FAILURES) startLongPoll();
    });
    socket.on("update_chart", fullFigure);
    socket.on("extend_chart", extendFigure);
    socket.on("dashboard_changed", dashboardChanged);
  }

  // -- the dashboard long-poll: one request in flight, every panel in its answer ------

  async function pollLoop(run) {
    let cursor = null;
    while (!run.stop) {
      if (!boardEl()) return;
      const params = new URLSearchParams(overridesQuery());
      if (cursor) params.set("cursor", cursor);
      params.set("timeout", String(POLL_TIMEOUT_S));
      params.set("figures", "timeseries"); // stats and tables redraw from their fragments
      try {
        const sent = Date.now();
        const answer = await fetch(boardEl().dataset.pollUrl + "?" + params.toString(),
                                   {cache: "no-store", signal: run.controller.signal});
        clockFromAnswer(answer, sent);
        if (run.stop) return;
        if (answer.status === 200) {
          const body = await answer.json();
          if (run.stop) return;
          setTransport("long-poll", true);
          if (String(body.version) !== layoutVersion() || comesOrGoes(body.panels)) {
            if (!(await reloadLayout())) {
              await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
              continue;
            }
            watching = layoutKey();
          }
          if (run.stop) return;
          cursor = body.cursor;
          for (const entry of body.panels) {
            const section = document.getElementById("panel-" + entry.id);
            if (section && !entry.error && section.dataset.dataset === entry.dataset &&
                section.dataset.query === entry.query) applyFigure(section, entry);
          }
        } else if (answer.status === 204) {
          setTransport("long-poll", true);
        } else if (answer.status === 422) {
          // The dashboard's file does not load: say so once, and wait (with the answer's
          // cursor) for the file's next change instead of asking again and again.
          const body = await answer.json();
          if (run.stop) return;
          setTransport("long-poll", true);
          cursor = body.cursor;
          halt(body.error + " — showing what was drawn last");
        } else {
          if (answer.status === 404) { // only ever for the dashboard itself
            deleted = true;
            showStatus();
            return;
          }
          // A busy server (503) says when to come back: a little later than that, spread.
          const after = Number(answer.headers.get("Retry-After")) * 1000 || RETRY_MS;
          throw Object.assign(new Error("poll answered " + answer.status), {after});
        }
      } catch (error) {
        if (run.stop) return;
        setTransport("long-poll", false);
        const after = (error && error.after) || RETRY_MS;
        await new Promise((resolve) => setTimeout(resolve, after * (1 + Math.random() / 2)));
      }
    }
  }

  // Does a poll answer bring a panel a view it lacked, or take one away?
  function comesOrGoes(entries) {
    return entries.some((entry) => {
      const section = document.getElementById("panel-" + entry.id);
      return section && Boolean(entry.error) !== section.hasAttribute("data-problem");
    });
  }

  function startLongPoll() {
    longPoll = {stop: false, controller: new AbortController()};
    watching = layoutKey();
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

  // Choosing a window drops from and to (they would win over it, and the choice would do
  // nothing), as typing a window does on the view page.
  function keepRangeBoxesApart(event) {
    if (!event.target || event.target.id !== "o-window") return;
    for (const id of ["o-start", "o-end"]) {
      const box = document.getElementById(id);
      if (box) box.value = "";
    }
  }

  function start() {
    document.addEventListener("input", keepRangeBoxesApart);  // before htmx reads the form
    if (!boardEl() || !panelsEl() || typeof window.Plotly === "undefined") return;
    // The overrides form swapped new panels in (htmx): watch what they show.
    document.body.addEventListener("htmx:afterSettle", followLayout);
    document.body.addEventListener("htmx:afterSettle", () => {
      readFreshness(document.getElementById("board-freshness"));
    });
    readFreshness(document.getElementById("board-freshness"));
    if (window.dashLive) window.dashLive.labelCharts(boardEl());
    setInterval(() => {
      showStatus();
      // No change for a while: is the server holding newer data than the panels show?
      if (connected && Date.now() - Math.max(lastUpdate, lastCheck) > CHECK_MS) checkFreshness();
    }, 1000);
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
