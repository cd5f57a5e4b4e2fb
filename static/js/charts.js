// Draws every <canvas data-series="ID"> from the JSON in <script id="ID">.
// Runs on load and again after htmx swaps in a new range.
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-series]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.series);
      if (!source) return;
      var series = JSON.parse(source.textContent);
      var previous = Chart.getChart(canvas);
      if (previous) previous.destroy();
      var accent = cssVar("--accent", "#1d4ed8");
      var limit = cssVar("--blocked", "#991b1b");
      var text = cssVar("--muted", "#55606e");
      // The last point may be today so far (live, not a finished day):
      // drawn lighter (bars) or marked with a dot (lines).
      var n = series.used.length;
      var fill = series.type === "bar" ? accent + "b3" : accent + "22";
      var fills = series.used.map(function (_, i) {
        return series.today && i === n - 1 ? accent + "55" : fill;
      });
      var radii = series.used.map(function (_, i) {
        return series.today && i === n - 1 ? 4 : 0;
      });
      new Chart(canvas, {
        type: series.type,
        data: {
          labels: series.labels,
          datasets: [
            {
              type: series.type,
              label: "Used (" + series.unit + ")",
              data: series.used,
              borderColor: accent,
              backgroundColor: series.type === "bar" ? fills : fill,
              fill: series.type === "line",
              borderWidth: 2,
              pointRadius: radii,
              pointBackgroundColor: accent,
              tension: 0.2,
            },
            {
              type: "line",
              label: "Limit (" + series.unit + ")",
              data: series.limit,
              borderColor: limit,
              borderDash: [6, 4],
              borderWidth: 2,
              pointRadius: 0,
              stepped: true,
              fill: false,
            },
          ],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { ticks: { maxTicksLimit: 8, color: text } },
            y: {
              beginAtZero: true,
              ticks: { color: text },
              title: { display: true, text: series.unit, color: text },
            },
          },
          plugins: { legend: { position: "bottom", labels: { color: text } } },
        },
      });
    });
  }

  // Staff charts: <canvas data-chart="ID"> with a full spec (type, labels,
  // datasets, stacked, horizontal, unit) in <script id="ID">.
  var PALETTE = ["#1d4ed8", "#0f766e", "#7c3aed", "#c2410c", "#be185d", "#4d7c0f", "#475569", "#b91c1c"];

  function drawSpecs() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      var spec = JSON.parse(source.textContent);
      var previous = Chart.getChart(canvas);
      if (previous) previous.destroy();
      var text = cssVar("--muted", "#55606e");
      var datasets = spec.datasets.map(function (set, i) {
        var colour = set.label === "Refund" ? "#b91c1c" : PALETTE[i % PALETTE.length];
        return Object.assign(
          { borderColor: colour, backgroundColor: spec.type === "line" ? colour + "22" : colour + "cc", borderWidth: 2, pointRadius: 0, fill: spec.type === "line" },
          set
        );
      });
      var valueAxis = { beginAtZero: true, stacked: !!spec.stacked, ticks: { color: text }, title: { display: !!spec.unit, text: spec.unit, color: text } };
      var labelAxis = { stacked: !!spec.stacked, ticks: { color: text, maxTicksLimit: 10 } };
      new Chart(canvas, {
        type: spec.type,
        data: { labels: spec.labels, datasets: datasets },
        options: {
          indexAxis: spec.horizontal ? "y" : "x",
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: spec.horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
          plugins: { legend: { display: datasets.length > 1, position: "bottom", labels: { color: text } } },
        },
      });
    });
  }

  function drawAll() {
    draw();
    drawSpecs();
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
