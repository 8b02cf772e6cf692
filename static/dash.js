// realtime-dash client: subscribes the page's view over Socket.IO and draws
// every update_chart with Plotly.react. The page works without this file.
(function () {
  "use strict";

  const chartEl = () => document.getElementById("chart");
  const statusEl = () => document.getElementById("live-status");
  let watching = null; // {dataset, query} this page is subscribed to
  let socket = null;

  function setStatus(state, text) {
    const el = statusEl();
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
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
    el.dataset.epoch = payload.epoch;
    el.dataset.points = String(fig.data.reduce((n, t) => n + t.x.length, 0));
    setStatus("live", "live · " + transportName() + " · v" + payload.version);
  }

  function subscribe() {
    const el = chartEl();
    if (!el || !socket || !socket.connected) return;
    const wanted = {dataset: el.dataset.dataset, query: el.dataset.query};
    if (watching && (watching.dataset !== wanted.dataset || watching.query !== wanted.query)) {
      socket.emit("unsubscribe", watching);
    }
    watching = wanted;
    socket.emit("subscribe", wanted, (ack) => {
      if (!ack || !ack.ok) {
        setStatus("error", "cannot watch this view: " + (ack ? ack.error : "no answer"));
      }
    });
  }

  function start() {
    const el = chartEl();
    if (!el || typeof window.io !== "function") return;
    setStatus("connecting", "connecting…");
    socket = window.io({reconnectionDelayMax: 5000});
    socket.on("connect", () => {
      setStatus("live", "live · " + transportName());
      socket.io.engine.on("upgrade", () => setStatus("live", "live · " + transportName()));
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
