// realtime-dash colour theme: light or dark, by the system's prefers-color-scheme unless
// the reader chose one with the header's toggle (remembered in localStorage). Loaded
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

  function stored() {
    try {
      const value = window.localStorage.getItem(KEY);
      return value === "light" || value === "dark" ? value : null;
    } catch (error) {
      return null; // storage blocked: follow the system
    }
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
    const button = document.getElementById("theme-toggle");
    if (button) {
      const other = theme === "dark" ? "light" : "dark";
      button.hidden = false;
      button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
      button.title = "Switch to the " + other + " theme";
    }
  }

  function changed() {
    show();
    redrawCharts();
    document.dispatchEvent(new CustomEvent("dash-theme", {detail: {theme: current()}}));
  }

  function toggle() {
    const next = current() === "dark" ? "light" : "dark";
    try {
      // Choosing what the system already says forgets the choice: follow the system again.
      const system = media && media.matches ? "dark" : "light";
      if (next === system) window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, next);
    } catch (error) {
      root.dataset.theme = next; // storage blocked: this page only
    }
    changed();
  }

  window.dashTheme = {current: current, template: template, apply: apply};
  show();
  if (media && media.addEventListener) media.addEventListener("change", changed);
  window.addEventListener("storage", (event) => { if (event.key === KEY) changed(); });
  document.addEventListener("DOMContentLoaded", () => {
    show();
    const button = document.getElementById("theme-toggle");
    if (button) button.addEventListener("click", toggle);
  });
})();
