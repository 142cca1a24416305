/* Portal charts: every <div data-chart="<json script id>"> becomes a uPlot time series.
   Data: {"t": [unix seconds], "series": [{"label", "values", "axis": "right"?}], "nominal_ths"?}.
   Served from static files with uPlot vendored beside it: no network needed. */
(function () {
  "use strict";
  var COLORS = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700"];

  function render(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    var data = [spec.t];
    var series = [{}];
    var hasRight = false;
    spec.series.forEach(function (s, i) {
      data.push(s.values);
      var right = s.axis === "right";
      hasRight = hasRight || right;
      series.push({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, scale: right ? "r" : "y",
                    spanGaps: false, points: { show: spec.t.length < 60 } });
    });
    if (spec.nominal_ths) {
      data.push(spec.t.map(function () { return spec.nominal_ths; }));
      series.push({ label: "Nominal (TH/s)", stroke: "#8c959f", dash: [6, 4], width: 1, scale: "y", points: { show: false } });
    }
    var axes = [{}, { scale: "y", label: spec.series[0].label }];
    if (hasRight) axes.push({ scale: "r", side: 1, grid: { show: false }, label: spec.series[spec.series.length - 1].label });
    var opts = {
      width: Math.max(el.clientWidth, 280), height: 260, series: series, axes: axes,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max, 1) * 1.1]; } } },
      legend: { live: true }
    };
    var plot = new uPlot(opts, data, el);
    el.setAttribute("data-rendered", "1");
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(el.clientWidth, 280), height: 260 }); });
  }

  function renderAll() {
    document.querySelectorAll("[data-chart]").forEach(render);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderAll);
  else renderAll();
})();
