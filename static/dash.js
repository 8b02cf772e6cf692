// realtime-dash client: subscribes the page's view over Socket.IO and draws
// every update_chart with Plotly.react. The page works without this file.
(function () {
  "use strict";

  const chartEl = () => document.getElementById("chart");
  // The view the page shows; HTMX swaps this element when the view changes.
  const metaEl = () => document.getElementById("view-meta");
  const statusEl = () => document.getElementById("live-status");
  let watching = null; // {dataset, query} this page is subscribed to
  let socket = null;

  function setStatus(state, text) {
    const el = statusEl();
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  let shownVersion = null;

  function showLive() {
    setStatus("live", "live · " + transportName() + (shownVersion ? " · v" + shownVersion : ""));
  }

  function transportName() {
    return socket && socket.io.engine ? socket.io.engine.transport.name : "none";
  }

  function draw(payload) {
    const el = chartEl();
    if (!el || !watching) return;
    if (payload.dataset !== watching.dataset || payload.query !== watching.query) return;
    const previous = Number(el.dataset.version || 0);
    if (el.dataset.epoch === payload.epoch && payload.version < previous) return; // stale
    const fig = payload.figure;
    window.Plotly.react(el, fig.data, fig.layout, {responsive: true, displaylogo: false});
    el.dataset.version = String(payload.version);
    el.dataset.query = payload.query;
    el.dataset.epoch = payload.epoch;
    el.dataset.points = String(fig.data.reduce((n, t) => n + t.x.length, 0));
    shownVersion = payload.version;
    showLive();
  }

  function subscribe() {
    const meta = metaEl();
    if (!meta || !socket || !socket.connected) return;
    if (meta.dataset.error) {
      setStatus("error", "fix the view's " + meta.dataset.error + " to see it live");
      return;
    }
    const wanted = {dataset: meta.dataset.dataset, query: meta.dataset.query};
    const same = watching && watching.dataset === wanted.dataset && watching.query === wanted.query;
    if (same && watching.subscribed) return; // htmx swapped a fragment of the same view
    if (watching && !same) socket.emit("unsubscribe", watching);
    watching = wanted;
    watching.subscribed = true;
    socket.emit("subscribe", wanted, (ack) => {
      if (!ack || !ack.ok) {
        setStatus("error", "cannot watch this view: " + (ack ? ack.error : "no answer"));
      }
    });
  }

  function start() {
    if (!chartEl() || typeof window.io !== "function") return;
    setStatus("connecting", "connecting…");
    socket = window.io({reconnectionDelayMax: 5000});
    socket.on("connect", () => {
      if (watching) watching.subscribed = false; // a new connection has no rooms yet
      showLive();
      socket.io.engine.on("upgrade", showLive);
      subscribe();
    });
    socket.on("disconnect", () => setStatus("reconnecting", "reconnecting…"));
    socket.on("connect_error", () => setStatus("reconnecting", "cannot reach the server, retrying…"));
    socket.on("update_chart", draw);

    const refresh = document.getElementById("refresh");
    if (refresh) {
      refresh.hidden = false;
      refresh.addEventListener("click", () => {
        if (watching) socket.emit("refresh_data", {dataset: watching.dataset});
      });
    }
    // HTMX swapped in a new view: follow it.
    document.body.addEventListener("htmx:afterSettle", subscribe);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
