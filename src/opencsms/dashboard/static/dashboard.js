/* opencsms dashboard: live updates and charts. No build step; plain ES2017.
 *
 * Live: one EventSource on <body data-stream> (the node's domain events).
 * An element with data-live="connector.status meter.values" (types, or a
 * family prefix such as "transaction.") and optionally data-live-station="CP1"
 * is refreshed when such an event arrives: htmx elements get a "live" event
 * (declare hx-trigger="live"), charts re-fetch their data. Refreshes are
 * throttled to one per element every 2 s so a busy fleet cannot flood the page.
 *
 * Charts: <div data-chart-src="/dashboard/...json" data-height="240"> is drawn
 * with uPlot from JSON of the form
 *   {"series": [{"label": "Drawn", "unit": "kW", "stepped": false}, ...],
 *    "data": [[t0, t1, ...], [y0, y1, ...], ...]}      (t in Unix seconds, UTC; null = gap)
 * The first unit gets the left axis, the second the right one.
 */
(function () {
  "use strict";
  var THROTTLE_MS = 2000;
  var COLOURS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a"];

  function matches(el, event) {
    var types = (el.getAttribute("data-live") || "").split(/\s+/);
    var station = el.getAttribute("data-live-station");
    if (station && event.station_id !== station) return false;
    return types.some(function (t) {
      return t && (t === event.type || (t.slice(-1) === "." && event.type.indexOf(t) === 0));
    });
  }

  function throttled(el, run) {
    var now = Date.now();
    var last = el._liveLast || 0;
    if (el._liveTimer) return;
    var wait = Math.max(0, last + THROTTLE_MS - now);
    el._liveTimer = setTimeout(function () {
      el._liveTimer = null;
      el._liveLast = Date.now();
      run();
    }, wait);
  }

  function onEvent(event) {
    document.querySelectorAll("[data-live]").forEach(function (el) {
      if (!matches(el, event)) return;
      if (el.hasAttribute("data-chart-src")) {
        throttled(el, function () { drawChart(el); });
      } else if (window.htmx) {
        throttled(el, function () { window.htmx.trigger(el, "live"); });
      }
    });
  }

  function listen() {
    var url = document.body.getAttribute("data-stream");
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.onmessage = function () {};
    var handler = function (message) {
      try { onEvent(JSON.parse(message.data)); } catch (e) { /* a heartbeat or a bad line */ }
    };
    // SSE messages carry their type as the event name: listen to every type the
    // node publishes (the server lists them on <body data-event-types>).
    (document.body.getAttribute("data-event-types") || "").split(/\s+/)
      .forEach(function (type) { if (type) source.addEventListener(type, handler); });
    document.body._eventSource = source;
  }

  function axisFor(unit, side) {
    return {
      scale: unit, side: side, label: unit, stroke: "#444",
      grid: { show: side === 3, stroke: "#e5e5e5" },
      size: 60
    };
  }

  function drawChart(el) {
    var src = el.getAttribute("data-chart-src");
    fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        return response.json();
      })
      .then(function (chart) {
        var units = [];
        chart.series.forEach(function (s) { if (units.indexOf(s.unit) < 0) units.push(s.unit); });
        var series = [{ label: "Time (UTC)" }].concat(chart.series.map(function (s, i) {
          var line = { label: s.label, scale: s.unit, stroke: COLOURS[i % COLOURS.length], width: 2,
                       value: function (u, v) { return v == null ? "–" : v.toFixed(2) + " " + s.unit; } };
          if (s.stepped && window.uPlot.paths && window.uPlot.paths.stepped) {
            line.paths = window.uPlot.paths.stepped({ align: 1 });
          }
          if (s.dash) line.dash = [6, 4];
          return line;
        }));
        var axes = [{ stroke: "#444", grid: { stroke: "#e5e5e5" } }];
        if (units[0]) axes.push(axisFor(units[0], 3));
        if (units[1]) axes.push(axisFor(units[1], 1));
        var scales = { x: { time: true } };
        // Power, energy and prices read against zero: a range from 0 (or the lowest
        // negative price) up, with a little headroom so the top line is visible.
        units.forEach(function (u) {
          scales[u] = { auto: true, range: function (plot, min, max) {
            var low = Math.min(0, min == null ? 0 : min);
            var high = max == null || max <= low ? low + 1 : max;
            return [low, high + (high - low) * 0.05];
          } };
        });
        var options = {
          width: Math.max(280, el.clientWidth || 600),
          height: parseInt(el.getAttribute("data-height") || "240", 10),
          series: series, axes: axes, scales: scales,
          tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }
        };
        if (el._plot) el._plot.destroy();
        el.innerHTML = "";
        el._plot = new window.uPlot(options, chart.data, el);
        el.setAttribute("data-chart-ready", String(chart.data[0] ? chart.data[0].length : 0));
      })
      .catch(function (error) {
        el.textContent = "The chart could not be loaded: " + error.message;
        el.setAttribute("data-chart-ready", "error");
      });
  }

  function drawCharts(root) {
    (root || document).querySelectorAll("[data-chart-src]").forEach(drawChart);
  }

  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart-src]").forEach(function (el) {
      if (el._plot) el._plot.setSize({ width: Math.max(280, el.clientWidth), height: el._plot.height });
    });
  });

  // A command's outcome and other htmx answers that are not swapped in go to the toast.
  document.addEventListener("htmx:responseError", function (e) {
    var toast = document.getElementById("toast");
    if (toast) toast.textContent = e.detail.xhr.responseText.replace(/<[^>]*>/g, "").trim()
      || ("Request failed: " + e.detail.xhr.status);
  });
  document.addEventListener("htmx:afterSwap", function (e) { drawCharts(e.detail.target); });
  document.addEventListener("DOMContentLoaded", function () { drawCharts(); listen(); });
})();
