// Tandem operations: draws the daily charts (uPlot) from the series the overview fragment carries,
// redraws them when htmx refreshes that fragment, and holds the relationship list still while
// someone is filling in an action there.
(function () {
  "use strict";
  var CHARTS = [
    {id: "chart-matches", series: [["matches_established", "Established", "#0b57d0", null],
                                   ["relationships_ended", "Ended", "#a50e0e", [6, 4]]]},
    {id: "chart-meetings", series: [["meetings_completed", "Held", "#0d652d", null],
                                    ["meetings_missed", "Missed", "#a50e0e", [6, 4]],
                                    ["meetings_cancelled", "Cancelled", "#7a4a00", [2, 3]]]},
    {id: "chart-feedback", series: [["feedback_received", "Feedback", "#0b57d0", null],
                                    ["at_risk_alerts", "At-risk alerts", "#a50e0e", [6, 4]]]},
  ];
  var drawn = {};

  function seriesData() {
    var el = document.getElementById("series-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  function width(el) { return Math.max(280, el.clientWidth || 400); }

  function draw() {
    var data = seriesData();
    if (!data || typeof uPlot === "undefined") { return; }
    var xs = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    CHARTS.forEach(function (spec) {
      var el = document.getElementById(spec.id);
      if (!el) { return; }
      var values = [xs].concat(spec.series.map(function (s) { return data[s[0]]; }));
      if (drawn[spec.id]) { drawn[spec.id].setData(values); return; }
      drawn[spec.id] = new uPlot({
        width: width(el), height: 200,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
        scales: {x: {time: true}, y: {range: function (u, min, max) { return [0, Math.max(1, max)]; }}},
        axes: [{stroke: "#111"}, {stroke: "#111", grid: {stroke: "#d0d4da"}}],
        series: [{}].concat(spec.series.map(function (s) {
          return {label: s[1], stroke: s[2], width: 2, dash: s[3] || undefined, points: {show: true, size: 6}};
        })),
      }, values, el);
    });
  }

  function editing() {
    var list = document.getElementById("relationships");
    if (!list) { return false; }
    var active = document.activeElement;
    return !!list.querySelector("details[open]") ||
      (active && list.contains(active) && active.matches("input, textarea, select"));
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail && e.detail.target && e.detail.target.id === "overview") { draw(); }
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    // A refresh would close the form someone is typing a reason into; try again next tick.
    if (e.detail && e.detail.elt && e.detail.elt.id === "relationships" && editing()) { e.preventDefault(); }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    // A request that went through closes its form, so the list can refresh again.
    var details = e.detail && e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("details");
    if (details && e.detail.successful) { details.open = false; }
  });
  window.addEventListener("resize", function () {
    Object.keys(drawn).forEach(function (id) {
      var el = document.getElementById(id);
      drawn[id].setSize({width: width(el), height: 200});
    });
  });
})();
