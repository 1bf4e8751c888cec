// Draws the dashboard charts from the JSON the page embeds with Django's json_script
// (a non-executed <script type="application/json">), so no inline script is needed.
(function () {
  "use strict";
  var LIGHT_PALETTE = ["#2f5fd0", "#d0672f", "#1f7a44", "#a12fd0", "#b42318", "#5b6470", "#c9a400", "#0f8b8d"];
  // Lighter hues for the dark theme, so bars keep their contrast against a dark card.
  var DARK_PALETTE = ["#86a8ff", "#ff9f6b", "#6fd69a", "#d18bff", "#ff8a80", "#b7c0cc", "#f2d35c", "#5fd3d5"];

  function dark() {
    return !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  }

  // Axis labels, legend text and grid lines follow the page's colours (graylab.css variables).
  function themeCharts() {
    if (typeof window.Chart === "undefined") { return; }
    var style = getComputedStyle(document.documentElement);
    window.Chart.defaults.color = style.getPropertyValue("--fg").trim() || "#1b1f24";
    window.Chart.defaults.borderColor = style.getPropertyValue("--line").trim() || "#d9dde3";
  }

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
      var palette = dark() ? DARK_PALETTE : LIGHT_PALETTE;
      var colour = palette[index % palette.length];
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

  function init() { themeCharts(); readCharts().forEach(draw); }
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
