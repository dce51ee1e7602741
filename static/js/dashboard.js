/*
 * Charts of the figure pages (/dashboard/figures and /statistics), drawn with the vendored Chart.js
 * (static/vendor/chartjs). Each <canvas data-chart="ID"> takes its data from the JSON block
 * <script type="application/json" id="ID"> written by the server: the Content-Security-Policy allows
 * no inline script and no inline style, so nothing here is evaluated from the page. The table beside
 * each chart holds the same figures; without JavaScript the tables alone are shown.
 *
 * Data: {type: "bar" | "doughnut", labels: [...], unit: "money" | "percent" | "mean" | "count",
 *        stacked: bool, datasets: [{label, data: [numbers]}]}
 */
(function () {
  "use strict";

  var COLOURS = ["#9b1c1c", "#1e40af", "#047857", "#b45309", "#6b21a8", "#4b5563"];

  function formatter(unit) {
    var locale = document.documentElement.lang || "zh-CN";
    var money = new Intl.NumberFormat(locale, {minimumFractionDigits: 2, maximumFractionDigits: 2});
    var plain = new Intl.NumberFormat(locale, {maximumFractionDigits: 1});
    return function (value) {
      if (unit === "money") {
        return "¥" + money.format(value);
      }
      if (unit === "percent") {
        return plain.format(value) + "%";
      }
      return plain.format(value);
    };
  }

  function config(data) {
    var format = formatter(data.unit);
    var round = data.type === "doughnut";
    var datasets = data.datasets.map(function (set, index) {
      return {
        label: set.label,
        data: set.data,
        backgroundColor: round ? COLOURS.slice(0, set.data.length) : COLOURS[index % COLOURS.length],
        borderWidth: round ? 1 : 0
      };
    });
    var options = {
      responsive: true,
      maintainAspectRatio: true,
      aspectRatio: 2,
      animation: false,
      plugins: {
        legend: {display: datasets.length > 1 || round, position: "bottom"},
        tooltip: {
          callbacks: {
            label: function (item) {
              return (round ? item.label : item.dataset.label) + ": " + format(item.raw);
            }
          }
        }
      }
    };
    if (!round) {
      options.scales = {
        x: {stacked: data.stacked, ticks: {autoSkip: false}},
        y: {stacked: data.stacked, beginAtZero: true, ticks: {callback: format, precision: 0}}
      };
    }
    return {type: data.type, data: {labels: data.labels, datasets: datasets}, options: options};
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) {
      return;
    }
    new window.Chart(canvas, config(JSON.parse(source.textContent)));
  }

  function start() {
    if (typeof window.Chart !== "function") {
      return;  // Chart.js did not load: the tables carry the figures
    }
    Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
