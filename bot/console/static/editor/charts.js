// Tiny inline-SVG charts for the insights page (no library, no CDN): stacked percentage columns and
// horizontal bars. Each chart has a text alternative (aria-label) and a legend in plain text.
(function () {
  "use strict";
  var svg = HuiminDom.svg, el = HuiminDom.el;

  // The swatch is SVG: the console's Content-Security-Policy (style-src 'self') drops inline style attributes, so a
  // coloured <span style> would show no colour and the legend would not say which colour is which.
  function legend(series) {
    return el("ul", {"class": "legend"}, series.map(function (s) {
      var swatch = svg("svg", {"class": "swatch", viewBox: "0 0 10 10", "aria-hidden": "true", "data-key": s.key},
                       [svg("rect", {width: 10, height: 10, fill: s.color})]);
      return el("li", {}, [swatch, s.label]);
    }));
  }

  // rows: [{label, values: {key: n}}]; series: [{key, label, color}] — each column is 100 %.
  function stackedShare(box, rows, series) {
    box.textContent = "";
    if (!rows.length) { box.appendChild(el("p", {"class": "muted", text: "还没有数据。"})); return; }
    var W = 640, H = 220, left = 36, bottom = 28, top = 8;
    var colW = Math.min(60, (W - left - 10) / rows.length);
    var summary = rows.map(function (r) {
      var total = series.reduce(function (a, s) { return a + (r.values[s.key] || 0); }, 0);
      return r.label + "：" + series.map(function (s) {
        return s.label + " " + (total ? Math.round(100 * (r.values[s.key] || 0) / total) : 0) + "%";
      }).join("，");
    }).join("；");
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": summary, "class": "chart-svg"});
    [0, 50, 100].forEach(function (p) {
      var y = top + (H - top - bottom) * (1 - p / 100);
      root.appendChild(svg("line", {x1: left, x2: W, y1: y, y2: y, stroke: "#ddd"}));
      root.appendChild(svg("text", {x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 11, text: p + "%"}));
    });
    rows.forEach(function (r, i) {
      var total = series.reduce(function (a, s) { return a + (r.values[s.key] || 0); }, 0) || 1;
      var x = left + 6 + i * colW, y = H - bottom;
      series.forEach(function (s) {
        var h = (H - top - bottom) * (r.values[s.key] || 0) / total;
        if (h > 0) {
          y -= h;
          root.appendChild(svg("rect", {x: x, y: y, width: colW - 6, height: h, fill: s.color, "data-key": s.key},
                               [svg("title", {text: r.label + " " + s.label + "：" + (r.values[s.key] || 0) + " 条"})]));
        }
      });
      root.appendChild(svg("text", {x: x + (colW - 6) / 2, y: H - bottom + 14, "text-anchor": "middle", "font-size": 10,
                                    text: r.label.replace(/^\d{4}-/, "")}));
    });
    box.appendChild(root);
    box.appendChild(legend(series));
  }

  // rows: [{label, values: {key: n}}]; bars stacked by series, scaled to the largest row.
  function bars(box, rows, series) {
    box.textContent = "";
    if (!rows.length) { box.appendChild(el("p", {"class": "muted", text: "还没有数据。"})); return; }
    var rowH = 24, labelW = 190, W = 640, H = rows.length * rowH + 8;
    var max = Math.max.apply(null, rows.map(function (r) {
      return series.reduce(function (a, s) { return a + (r.values[s.key] || 0); }, 0);
    })) || 1;
    var summary = rows.map(function (r) {
      return r.label + "：" + series.map(function (s) { return s.label + " " + (r.values[s.key] || 0); }).join("，");
    }).join("；");
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": summary, "class": "chart-svg"});
    rows.forEach(function (r, i) {
      var y = 4 + i * rowH, x = labelW;
      var label = r.label.length > 14 ? r.label.slice(0, 14) + "…" : r.label;
      root.appendChild(svg("text", {x: labelW - 6, y: y + 15, "text-anchor": "end", "font-size": 12, text: label},
                           [svg("title", {text: r.label})]));
      var sum = 0;
      series.forEach(function (s) {
        var v = r.values[s.key] || 0, w = (W - labelW - 40) * v / max;
        if (w > 0) {
          root.appendChild(svg("rect", {x: x, y: y + 3, width: w, height: rowH - 8, fill: s.color, "data-key": s.key},
                               [svg("title", {text: r.label + " " + s.label + "：" + v})]));
          x += w;
        }
        sum += v;
      });
      root.appendChild(svg("text", {x: x + 4, y: y + 15, "font-size": 12, text: String(sum)}));
    });
    box.appendChild(root);
    if (series.length > 1) { box.appendChild(legend(series)); }
  }

  window.HuiminCharts = {stackedShare: stackedShare, bars: bars};
})();
