(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var STATUS = {booked: "已预约", cancelled: "已取消"};
  var filled = false;
  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text || ""; tr.appendChild(td); return td; }
  function button(td, label, fn) { var b = document.createElement("button"); b.type = "button"; b.className = "secondary"; b.textContent = label; b.addEventListener("click", fn); td.appendChild(b); }
  async function load() {
    var p = new URLSearchParams();
    if ($("f-date").value) { p.set("date", $("f-date").value); }
    ["site", "service", "status"].forEach(function (k) { if ($("f-" + k).value) { p.set(k, $("f-" + k).value); } });
    try {
      var d = await HuiminApi.get("/api/bookings?" + p.toString());
      if (!filled) {
        Object.keys(d.sites).forEach(function (k) { $("f-site").add(new Option(d.sites[k], k)); });
        Object.keys(d.services).forEach(function (k) { $("f-service").add(new Option(d.services[k], k)); });
        filled = true;
      }
      var body = $("rows"); body.textContent = "";
      d.bookings.forEach(function (b) {
        var tr = document.createElement("tr");
        cell(tr, b.code); cell(tr, b.start.replace("T", " ").slice(0, 16)); cell(tr, b.service); cell(tr, b.site);
        var person = cell(tr, b.person); cell(tr, b.phone);
        cell(tr, (STATUS[b.status] || b.status) + (b.cancel_reason ? "（" + b.cancel_reason + "）" : ""));
        var ops = cell(tr, "");
        button(ops, "显示姓名地址", async function () {
          try { var r = await HuiminApi.post("/api/bookings/" + b.code + "/reveal"); person.textContent = r.booking.person + (r.booking.address ? " · " + r.booking.address : ""); }
          catch (e) { $("msg").textContent = e.message; }
        });
        if (b.status === "booked") {
          button(ops, "取消预约", async function () {
            var reason = prompt("取消原因（会告诉居民）：");
            if (!reason) { return; }
            try { var r = await HuiminApi.post("/api/bookings/" + b.code + "/cancel", {reason: reason}); $("msg").textContent = r.message || "已取消，已通知居民。"; load(); }
            catch (e) { $("msg").textContent = e.message; }
          });
        }
        body.appendChild(tr);
      });
      if (!d.bookings.length) { var tr = document.createElement("tr"); cell(tr, "没有符合条件的预约"); body.appendChild(tr); }
    } catch (e) { $("msg").textContent = e.message || "加载失败"; }
  }
  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  HuiminApi.refreshCsrf().then(load);
})();
