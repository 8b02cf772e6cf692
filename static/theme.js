// realtime-dash colour theme: light or dark, by the system's prefers-color-scheme unless
// the reader chose one in the header's theme box (remembered in localStorage; "as the
// system" forgets the choice and follows the system again). Loaded
// early in <head> without defer, so <html data-theme> is set before the first paint and
// no page flashes in the wrong theme; everything else waits for the DOM.
//
// For charts: window.dashTheme.apply(layout) returns a Plotly layout with the theme's
// template; dash.js and dashboard.js call it on every draw. When the theme changes,
// every Plotly chart on the page is redrawn in it and a "dash-theme" event fires on
// document (detail: {theme: "light" | "dark"}).
(function () {
  "use strict";

  const KEY = "dash-theme";
  const root = document.documentElement;
  const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  let chosen = null; // the choice of this page, where storage is blocked

  function stored() {
    let value = chosen;
    try {
      value = window.localStorage.getItem(KEY);
    } catch (error) {
      // storage blocked: this page's own choice, else the system
    }
    return value === "light" || value === "dark" ? value : null;
  }

  function current() {
    return stored() || (media && media.matches ? "dark" : "light");
  }

  // Colours of the charts per theme (the page's own come from dash.css).
  const PALETTES = {
    light: {paper: "#ffffff", text: "#1d2330", muted: "#475467", grid: "#eaecf0",
            line: "#d0d5dd", hover: "#ffffff"},
    dark: {paper: "#161b26", text: "#e6e9ef", muted: "#a3acbd", grid: "#2a3142",
           line: "#3b4457", hover: "#1f2533"},
  };

  function template() {
    const p = PALETTES[current()];
    const axis = {gridcolor: p.grid, linecolor: p.line, zerolinecolor: p.line,
                  tickcolor: p.line, tickfont: {color: p.muted}, title: {font: {color: p.muted}}};
    return {
      layout: {
        paper_bgcolor: p.paper, plot_bgcolor: p.paper,
        font: {color: p.text},
        title: {font: {color: p.text}},
        xaxis: axis, yaxis: axis,
        legend: {font: {color: p.text}},
        hoverlabel: {bgcolor: p.hover, bordercolor: p.line, font: {color: p.text}},
        modebar: {bgcolor: "rgba(0,0,0,0)", color: p.muted, activecolor: p.text},
      },
    };
  }

  function apply(layout) {
    return Object.assign({}, layout, {template: template()});
  }

  function redrawCharts() {
    if (!window.Plotly) return;
    for (const el of document.querySelectorAll(".js-plotly-plot")) {
      if (el.layout) window.Plotly.relayout(el, {template: template()});
    }
  }

  function show() {
    const theme = current();
    root.dataset.theme = theme;
    const choice = document.getElementById("theme-choice");
    if (choice) {
      choice.closest("label").hidden = false;
      choice.value = stored() || "system";
      const system = media && media.matches ? "dark" : "light";
      choice.options[0].textContent = "as the system (" + system + ")";
    }
  }

  function changed() {
    show();
    redrawCharts();
    document.dispatchEvent(new CustomEvent("dash-theme", {detail: {theme: current()}}));
  }

  // "light", "dark", or anything else: follow the system again.
  function choose(value) {
    chosen = value === "light" || value === "dark" ? value : null;
    try {
      if (chosen) window.localStorage.setItem(KEY, chosen);
      else window.localStorage.removeItem(KEY);
    } catch (error) {
      // storage blocked: this page only
    }
    changed();
  }

  window.dashTheme = {current: current, template: template, apply: apply};
  show();
  if (media && media.addEventListener) media.addEventListener("change", changed);
  window.addEventListener("storage", (event) => { if (event.key === KEY) changed(); });
  document.addEventListener("DOMContentLoaded", () => {
    show();
    const choice = document.getElementById("theme-choice");
    if (choice) choice.addEventListener("change", () => choose(choice.value));
  });
})();
