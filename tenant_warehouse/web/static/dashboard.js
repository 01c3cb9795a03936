// Draws every chart of the page with the bundled plotly.js. Each chart's figure is a JSON data
// block written by the server (no inline script, so the page runs under script-src 'self').
(function () {
  "use strict";
  const charts = document.querySelectorAll("div.chart[data-figure]");
  charts.forEach(function (element) {
    const block = document.getElementById("figure-" + element.dataset.figure);
    if (!block || typeof Plotly === "undefined") {
      element.dataset.rendered = "failed";
      return;
    }
    const figure = JSON.parse(block.textContent);
    Plotly.newPlot(element, figure.data, figure.layout, {
      displaylogo: false,
      responsive: true,
    }).then(function () {
      element.dataset.rendered = "true";
    }, function () {
      element.dataset.rendered = "failed";
    });
  });
})();
