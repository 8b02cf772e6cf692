// realtime-dash live status line, one wording for the view page (dash.js) and dashboards
// (dashboard.js): "Live · newest point 3 s ago", "Behind · updates 12 s late", "Paused",
// "Reconnecting…". The age is that of the newest data point the page shows, not of the
// last push: yesterday's file reads "newest point 1 d ago" however live its socket is.
//
// The server tells, with each page and each refresh of its blocks, what it holds of each
// dataset: version, epoch, the newest point and when the data last changed (its clock,
// ms). Remembered per version, this says how new what the page shows is, and how long
// the server has held something newer that has not reached the page (a slow link, a
// backlog of pushes, a stalled socket): past LATE_S that is "behind", said in words.
(function () {
  "use strict";

  const LATE_S = 5; // the server held newer data this long without the page showing it
  const OLD_S = 60; // a newest point older than this is "old" (data-freshness)
  const KEPT = 64; // versions remembered per dataset
  // A request unanswered this long: the server is not answering (hung, or a link that
  // holds connections open without carrying them): said at once, not after a TCP timeout.
  const ANSWER_MS = 4000;
  const TRANSPORTS = {websocket: "WebSocket", polling: "HTTP polling (Socket.IO)",
                      "long-poll": "HTTP long-poll"};

  // The same words as app/engine/browse.py age_words.
  function ageWords(seconds) {
    const whole = Math.abs(seconds);
    if (whole < 2) return "just now";
    let text;
    if (whole < 60) text = Math.floor(whole) + " s";
    else if (whole < 3600) text = Math.floor(whole / 60) + " min";
    else if (whole < 2 * 86400) text = Math.floor(whole / 3600) + " h";
    else text = Math.floor(whole / 86400).toLocaleString("en") + " d";
    return seconds > 0 ? text + " ago" : text + " from now";
  }

  // A duration without "ago": "12 s", "3 min".
  function spanWords(seconds) {
    return ageWords(Math.max(seconds, 2)).replace(/ ago$/, "");
  }

  // What the server said of each dataset, version by version (one epoch at a time: a new
  // epoch numbers its versions afresh).
  class Freshness {
    constructor() {
      this.datasets = new Map(); // name -> {epoch, versions: [{version, newest, changedAt}]}
      this.missed = new Map(); // name -> {version, epoch, at}: see noteMissed
    }

    // The server says when the first version after `version` (of `epoch`) came to be (ms,
    // its clock): lateness counts from there, not from the newest version it told of.
    noteMissed(name, version, epoch, at) {
      if (name && Number.isFinite(version) && Number.isFinite(at)) {
        this.missed.set(name, {version: version, epoch: epoch, at: at});
      }
    }

    // info: {version, epoch, newest (ms or null), changedAt (ms)}, all by the server's clock.
    note(name, info) {
      if (!name || !Number.isFinite(info.version)) return;
      let known = this.datasets.get(name);
      if (!known || known.epoch !== info.epoch) {
        known = {epoch: info.epoch, versions: []};
        this.datasets.set(name, known);
      }
      const versions = known.versions;
      if (versions.some((v) => v.version === info.version)) return;
      versions.push({version: info.version, newest: info.newest, changedAt: info.changedAt});
      versions.sort((a, b) => a.version - b.version);
      if (versions.length > KEPT) versions.splice(0, versions.length - KEPT);
    }

    // shown: Map name -> {version, epoch} of what the page draws. Returns {newest: the
    // newest point shown (ms, or null when unknown), lateMs: how long the server has held
    // newer data than the page shows (0 when it has not)}.
    judge(shown, now) {
      let newest = null;
      let lateMs = 0;
      for (const [name, at] of shown) {
        const known = this.datasets.get(name);
        if (!known || known.epoch !== at.epoch) continue;
        let drawn = null;
        let newer = null;
        for (const v of known.versions) {
          if (v.version <= at.version) drawn = v;
          else if (newer === null) newer = v;
        }
        if (drawn && drawn.newest !== null && (newest === null || drawn.newest > newest)) {
          newest = drawn.newest;
        }
        if (newer) lateMs = Math.max(lateMs, now - newer.changedAt);
        const missed = this.missed.get(name);
        if (newer && missed && missed.version === at.version && missed.epoch === at.epoch) {
          lateMs = Math.max(lateMs, now - missed.at);
        }
      }
      return {newest: newest, lateMs: lateMs};
    }
  }

  // The words of a live page: {freshness: "fresh" | "old" | "behind" | "none" | "",
  // word, age}. "word" is announced (role=status) when it changes; "age" ticks silently.
  function liveWords(judged, now) {
    if (judged.lateMs >= LATE_S * 1000) {
      return {freshness: "behind", word: "Behind",
              age: " · updates " + spanWords(judged.lateMs / 1000) + " late"};
    }
    if (judged.newest === null) return {freshness: "", word: "Live", age: ""};
    // Never newer than now: what is left of the clocks' skew reads "just now".
    const seconds = Math.max(0, now - judged.newest) / 1000;
    return {freshness: seconds < OLD_S ? "fresh" : "old", word: "Live",
            age: " · newest point " + ageWords(seconds)};
  }

  // The one status line of both live pages, from what the page knows (state):
  // {problem: why it is not live (string) or "", paused, pending: new data held back,
  //  unanswered: a request has waited ANSWER_MS, lastUpdate: when the page last changed
  //  (this browser's clock, ms), connected: the socket or long-poll is up (and the server
  //  reaches its shared log), everConnected, judged: Freshness.judge(...), now: the
  //  server's time (ms), transport, details}. Returns the line show() draws.
  function statusLine(state) {
    const line = {state: "", word: "", age: "", freshness: "", transport: state.transport,
                  details: state.details || ""};
    if (state.problem) {
      line.state = "error";
      line.word = "Not live: " + state.problem;
    } else if (state.paused) {
      line.state = "paused";
      line.word = "Paused";
      if (state.pending) line.age = " · new data waiting";
    } else if (state.unanswered) {
      line.state = "reconnecting";
      line.word = "No answer from the server";
      if (state.lastUpdate) {
        line.age = " · last update " + ageWords((Date.now() - state.lastUpdate) / 1000);
      }
    } else if (state.connected) {
      line.state = "live";
      Object.assign(line, liveWords(state.judged || {newest: null, lateMs: 0}, state.now));
    } else if (state.everConnected) {
      line.state = "reconnecting";
      line.word = "Reconnecting…";
      line.age = " · showing what was drawn last";
    } else {
      line.state = "connecting";
      line.word = "Connecting…";
    }
    return line;
  }

  // The server's clock, learned NTP-style: each answer says the server's time (the page's
  // render time, or an HTTP Date header, whole seconds) at some moment between sending the
  // request and getting the answer, so the skew lies in [said - answered, said + slack -
  // sent]. Intersecting those intervals keeps the tightest bounds (the quickest answers);
  // an interval that does not meet them (a clock changed) starts again. The render time
  // alone would be off by the whole delivery: on a slow link the newest point read as
  // "7 s from now" until the page was reloaded.
  class Clock {
    constructor() {
      this.bounds = null; // {lo, hi}: the skew's bounds, ms
      this.skew = 0; // the server's clock minus this browser's, ms
    }

    sample(said, slack, sent, answered) {
      if (!Number.isFinite(said) || !Number.isFinite(sent) || !Number.isFinite(answered)) return;
      const lo = said - answered;
      const hi = said + slack - sent;
      const b = this.bounds;
      this.bounds = b && lo <= b.hi && hi >= b.lo ?
        {lo: Math.max(b.lo, lo), hi: Math.min(b.hi, hi)} : {lo: lo, hi: hi};
      this.skew = (this.bounds.lo + this.bounds.hi) / 2;
    }

    // An answer's Date header (whole seconds: the server's time is within the next 1000 ms).
    fromAnswer(date, sent, answered) {
      this.sample(date ? Date.parse(date) : NaN, 1000, sent, answered);
    }

    // The page's own render time (ms), between sending the navigation and its first byte;
    // only until an answer has said better.
    fromPage(serverNow) {
      if (this.bounds || !Number.isFinite(serverNow)) return;
      const nav = performance.getEntriesByType ?
        performance.getEntriesByType("navigation")[0] : null;
      const origin = performance.timeOrigin || (Date.now() - performance.now());
      const sent = nav ? origin + nav.requestStart : origin;
      const answered = nav && nav.responseStart ? origin + nav.responseStart : Date.now();
      this.sample(serverNow, 0, sent, answered);
    }

    now() {
      return Date.now() + this.skew;
    }
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text; // unchanged: not announced again
  }

  // Draw the status line: #live-status (data-state, data-transport, data-freshness, title)
  // with #live-state (the word) and #live-age, and the details box #live-transport.
  // line: {state, word, age, freshness, transport, details}.
  function show(line) {
    const el = document.getElementById("live-status");
    if (!el) return;
    el.hidden = false;
    el.dataset.state = line.state;
    el.dataset.transport = line.transport;
    el.dataset.freshness = line.freshness || "";
    setText(document.getElementById("live-state"), line.word);
    setText(document.getElementById("live-age"), line.age || "");
    const details = (TRANSPORTS[line.transport] || "not connected") +
      (line.details ? " · " + line.details : "");
    el.title = details;
    const box = document.getElementById("live-details");
    if (box) {
      box.hidden = false;
      setText(document.getElementById("live-transport"), details);
    }
  }

  // Plotly's charts to screen readers: each is one named image (its first sentence in words,
  // from the visually hidden summary after it), not hundreds of tick labels read one by
  // one; the legend and hover layer are hidden. The words and the server's tables carry
  // the data. Plotly redraws its SVGs now and then: a MutationObserver labels them again.
  function nameOf(plot) {
    const words = plot.nextElementSibling;
    const text = words && words.classList.contains("sr") ? words.textContent.trim() : "";
    return text ? text.split(/\.\s/)[0].replace(/\.$/, "") : "Chart";
  }

  function setAttr(el, name, value) {
    if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }

  function labelChart(plot) {
    plot.querySelectorAll(".main-svg").forEach((svg, i) => {
      if (i === 0) {
        setAttr(svg, "role", "img");
        setAttr(svg, "aria-label", nameOf(plot));
        for (const layer of svg.children) setAttr(layer, "aria-hidden", "true"); // tick text
      } else {
        setAttr(svg, "aria-hidden", "true");
      }
    });
  }

  function labelCharts(root) {
    if (!root || !("MutationObserver" in window)) return;
    const all = () => root.querySelectorAll(".js-plotly-plot").forEach(labelChart);
    new MutationObserver(all).observe(root, {childList: true, subtree: true,
                                             characterData: true});
    all();
  }

  // An extend_chart change (app/engine/delta.py): per trace, drop its `replace` trailing
  // points (an aggregated view's buckets that changed), append x and y, keep the newest
  // max_points, then give its first points the y values of `head` (a moving window's
  // first bucket, cut by the window's start). Nothing replaced: Plotly's own
  // extendTraces. Both live pages apply changes with it.
  function applyChange(el, change) {
    const replace = change.replace || [];
    const head = change.head || [];
    if (!replace.some((n) => n > 0) && !head.some((h) => h.length)) {
      window.Plotly.extendTraces(el, {x: change.x, y: change.y}, change.traces,
                                 {x: change.max_points, y: change.max_points});
      return;
    }
    const spliced = (points, i, added) => {
      const old = Array.from(points || []);
      const all = old.slice(0, Math.max(0, old.length - (replace[i] || 0)))
        .concat(Array.from(added));
      return all.slice(Math.max(0, all.length - change.max_points[i]));
    };
    const xs = change.traces.map((t, i) => spliced(el.data[t].x, i, change.x[i]));
    const ys = change.traces.map((t, i) => {
      const y = spliced(el.data[t].y, i, change.y[i]);
      Array.from(head[i] || []).forEach((value, k) => { y[k] = value; });
      return y;
    });
    window.Plotly.restyle(el, {x: xs, y: ys}, change.traces);
  }

  window.dashLive = {ageWords: ageWords, Freshness: Freshness, liveWords: liveWords,
                     statusLine: statusLine, Clock: Clock, ANSWER_MS: ANSWER_MS,
                     setText: setText, show: show, labelCharts: labelCharts, LATE_S: LATE_S,
                     applyChange: applyChange};
})();
