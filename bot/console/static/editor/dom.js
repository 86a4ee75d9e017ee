// Small DOM helpers shared by the editor pages (knowledge editor, insights).
(function () {
  "use strict";
  var SVG_NS = "http://www.w3.org/2000/svg";
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k.startsWith("on")) { node.addEventListener(k.slice(2), attrs[k]); }
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }
  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  // A situation's "when": concepts of knowledge/understanding.yml to tick (never typed), each with a few of its
  // words so the editor sees what residents say for it. onChange gets the ticked ids, in the list's order.
  function conceptPicker(concepts, chosen, name, onChange) {
    var box = el("div", {"class": "concepts", role: "group"});
    concepts.forEach(function (c) {
      var id = name + "-" + c.id;
      var cb = el("input", {type: "checkbox", id: id, value: c.id, checked: chosen.indexOf(c.id) >= 0 ? "checked" : null});
      cb.addEventListener("change", function () {
        onChange(Array.prototype.filter.call(box.querySelectorAll("input:checked"), function () { return true; })
          .map(function (x) { return x.value; }));
      });
      box.appendChild(el("span", {"class": "concept"}, [cb, el("label", {"for": id, text: c.id + "（" + c.examples.join("、") + "）"})]));
    });
    return box;
  }
  window.HuiminDom = {el: el, svg: svg, conceptPicker: conceptPicker};
})();
