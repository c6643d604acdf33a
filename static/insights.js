/* The /insights charts. Every number comes from the server-rendered data table the chart sits
 * above (data-table names it; data-value cells, th[data-series] columns), so the chart and the
 * table can never disagree and the page reads without JavaScript. Chart.js is vendored under
 * /static/vendor/chartjs/ (see VENDOR.md there); no inline code or style: strict CSP. */
(function () {
  "use strict";
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];
  var TARGET = "#8a8f98";

  function percent(v) { return Math.round(v * 100) + "%"; }
  function hours(v) { return (Math.round(v * 10) / 10) + " h"; }

  function targetLine(value) {
    return {id: "fgTarget", afterDatasetsDraw: function (chart) {
      var y = chart.scales.y;
      var area = chart.chartArea;
      if (!y || !area) { return; }
      var at = y.getPixelForValue(value);
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = TARGET;
      ctx.lineWidth = 2;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(area.left, at);
      ctx.lineTo(area.right, at);
      ctx.stroke();
      ctx.restore();
    }};
  }

  function readTable(table) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var columns = [];
    heads.forEach(function (th, i) {
      if (th.hasAttribute("data-series")) { columns.push({index: i, name: th.textContent}); }
    });
    var labels = [];
    var values = columns.map(function () { return []; });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      labels.push(row.cells[0].textContent);
      columns.forEach(function (col, n) {
        var raw = row.cells[col.index].getAttribute("data-value");
        values[n].push(raw === null || raw === "" ? null : Number(raw));
      });
    });
    return {labels: labels, series: columns.map(function (c, n) {
      return {name: c.name, values: values[n]};
    })};
  }

  function build(box) {
    var table = document.getElementById(box.getAttribute("data-table"));
    var canvas = box.querySelector("canvas");
    if (!table || !canvas || typeof window.Chart !== "function") { return; }
    var kind = box.getAttribute("data-chart");
    var unit = box.getAttribute("data-unit");
    var data = readTable(table);
    var scale = unit === "seconds" ? function (v) { return v === null ? null : v / 3600; }
                                   : function (v) { return v; };
    var format = unit === "ratio" ? percent : unit === "seconds" ? hours : String;
    var line = kind === "line";
    var datasets = data.series.map(function (s, n) {
      var colour = PALETTE[n % PALETTE.length];
      return {label: s.name, data: s.values.map(scale), borderColor: colour,
              backgroundColor: colour, borderWidth: 2, pointRadius: line ? 3 : 0,
              spanGaps: false, type: line ? "line" : "bar", pointStyle: line ? "circle" : "rect"};
    });
    var target = box.getAttribute("data-target");
    var plugins = [];
    if (target !== null && kind !== "hbar") {
      // The legend entry and the tooltip; the line itself is drawn across the whole plot by
      // targetLine, so it shows with a single week or a single bar too.
      datasets.push({label: box.getAttribute("data-target-label") || "Target", type: "line",
                     data: data.labels.map(function () { return Number(target); }),
                     borderColor: TARGET, backgroundColor: TARGET, borderDash: [6, 4],
                     borderWidth: 2, pointRadius: 0, pointStyle: "line", showLine: false,
                     fill: false});
      plugins.push(targetLine(Number(target)));
    }
    var valueAxis = {beginAtZero: true, ticks: {callback: function (v) { return format(v); }}};
    if (unit === "ratio") { valueAxis.suggestedMax = 1; }
    var horizontal = kind === "hbar";
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var chart = new window.Chart(canvas, {
      type: line ? "line" : "bar",
      plugins: plugins,
      data: {labels: data.labels, datasets: datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: reduce ? false : {duration: 300},
        indexAxis: horizontal ? "y" : "x",
        scales: horizontal ? {x: valueAxis} : {y: valueAxis},
        plugins: {
          legend: {display: datasets.length > 1, labels: {usePointStyle: true}},
          tooltip: {callbacks: {label: function (ctx) {
            var v = horizontal ? ctx.parsed.x : ctx.parsed.y;
            return ctx.dataset.label + ": " + (v === null ? "no data" : format(v));
          }}}
        }
      }
    });
    box.hidden = false;
    box.setAttribute("data-drawn", String(datasets.length));
    return chart;
  }

  function start() {
    if (typeof window.Chart === "function") {
      var style = window.getComputedStyle(document.body);
      window.Chart.defaults.color = style.color;
      window.Chart.defaults.font.family = style.fontFamily;
    }
    Array.prototype.forEach.call(document.querySelectorAll(".chart[data-table]"), build);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
