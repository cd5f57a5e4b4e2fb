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
              backgroundColor: series.type === "bar" ? accent + "b3" : accent + "22",
              fill: series.type === "line",
              borderWidth: 2,
              pointRadius: 0,
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

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
