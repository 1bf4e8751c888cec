// Draws the dashboard charts from the JSON the page embeds with Django's json_script
// (a non-executed <script type="application/json">), so no inline script is needed.
(function () {
  "use strict";
  var PALETTE = ["#2f5fd0", "#d0672f", "#1f7a44", "#a12fd0", "#b42318", "#5b6470", "#c9a400", "#0f8b8d"];

  function readCharts() {
    var node = document.getElementById("dashboard-charts");
    if (!node) { return []; }
    try { return JSON.parse(node.textContent) || []; } catch (error) { return []; }
  }

  function draw(spec) {
    var figure = document.querySelector('[data-chart="' + spec.id + '"]');
    if (!figure || typeof window.Chart === "undefined") { return; }
    var canvas = figure.querySelector("canvas");
    var datasets = spec.datasets.map(function (dataset, index) {
      var colour = PALETTE[index % PALETTE.length];
      return { label: dataset.label, data: dataset.data, backgroundColor: colour, borderColor: colour };
    });
    var y = { beginAtZero: true, stacked: !!spec.stacked };
    if (spec.yMax !== null && spec.yMax !== undefined) { y.max = spec.yMax; }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: !!spec.stacked }, y: y },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function init() { readCharts().forEach(draw); }
  // The page polls while the first computation runs; draw the charts once they arrive.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "dashboard-body") { init(); }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
