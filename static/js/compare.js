// Draws the Compare page's charts from the JSON in the data-charts attribute of #compare-charts
// (an attribute rather than a script tag: htmx drops script tags from the content it swaps in),
// so no inline script is needed: each figure is a floating bar from the interval's low to high
// end and a point at the estimate.
(function () {
  "use strict";
  var charts = [];

  function readCharts() {
    var node = document.getElementById("compare-charts");
    if (!node) { return {}; }
    try { return JSON.parse(node.getAttribute("data-charts")) || {}; } catch (error) { return {}; }
  }

  function draw(id, spec) {
    var figure = document.querySelector('[data-chart="' + id + '"]');
    if (!figure || !spec || typeof window.Chart === "undefined") { return; }
    var canvas = figure.querySelector("canvas");
    charts.push(new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: [
          { type: "bar", label: "95% interval", data: spec.interval, backgroundColor: "rgba(47, 95, 208, 0.3)", borderColor: "#2f5fd0", borderWidth: 1 },
          { type: "line", label: "estimate", data: spec.estimate, showLine: false, pointRadius: 5, backgroundColor: "#d0672f", borderColor: "#d0672f" }
        ]
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: id === "head_to_head" ? { x: { min: 0, max: 1 } } : {},
        plugins: { legend: { position: "bottom" } }
      }
    }));
  }

  function init() {
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    var data = readCharts();
    draw("head_to_head", data.head_to_head);
    draw("ranking", data.ranking);
  }
  // The selector swaps the figures' body for a new one: draw its charts (any settle will do, as
  // the page swaps nothing else).
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
