// Bookings: filter, reveal the name and address or the mobile (audited), cancel through a dialog with a reason.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var labels = {booking_statuses: {}};
  var filled = false;
  var cancelling = null;
  var numbers = {};  // booking code -> revealed mobile, so a reload of the list does not hide (and re-audit) it
  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text || ""; tr.appendChild(td); return td; }
  function button(td, label, fn) { var b = document.createElement("button"); b.type = "button"; b.className = "secondary small"; b.textContent = label; b.addEventListener("click", fn); td.appendChild(b); return b; }
  function showNumber(td, number) {
    td.textContent = "";
    var a = document.createElement("a"); a.href = "tel:" + number; a.textContent = number; td.appendChild(a);
    var note = document.createElement("span"); note.className = "muted"; note.textContent = "（已显示，已记录）"; td.appendChild(note);
  }
  function phoneCell(tr, b) {
    var td = cell(tr, b.phone);
    td.className = "phone";
    if (numbers[b.code]) { showNumber(td, numbers[b.code]); return td; }
    if (!b.phone) { return td; }
    var show = button(td, "显示号码", async function () {
      try {
        var r = await HuiminApi.post("/api/bookings/" + b.code + "/phone");
        show.remove();
        if (r.number) { numbers[b.code] = r.number; showNumber(td, r.number); }
        else { td.textContent = r.message; }
      } catch (e) { HuiminApi.notice(e.message || "没能显示号码，请再试一次。"); }
    });
    show.setAttribute("aria-label", "显示号码 " + b.code);
    return td;
  }
  function when(b) { return HuiminApi.fmtTime(b.start) + "–" + HuiminApi.fmtTime(b.end).slice(-5); }

  function openCancel(b) {
    cancelling = b;
    $("cancel-code").textContent = b.code;
    $("cancel-what").textContent = when(b) + " " + b.service + " · " + b.site + " · " + b.person;
    $("cancel-reason").value = "";
    $("cancel-error").textContent = "";
    $("cancel-dialog").showModal();
    $("cancel-reason").focus();
  }
  $("cancel-keep").addEventListener("click", function () { $("cancel-dialog").close(); });
  $("cancel-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var reason = $("cancel-reason").value.trim();
    if (!reason) { $("cancel-error").textContent = "请写上取消原因，居民会收到。"; $("cancel-reason").focus(); return; }
    try {
      var r = await HuiminApi.post("/api/bookings/" + cancelling.code + "/cancel", {reason: reason});
      $("cancel-dialog").close();
      if (r.message) { HuiminApi.notice(r.message, "warning"); } else { $("msg").textContent = "预约 " + cancelling.code + " 已取消，已通知居民。"; }
      load();
    } catch (e) { $("cancel-error").textContent = e.message || "没有取消成功，请再试一次。"; }
  });

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
        cell(tr, b.code); cell(tr, when(b)); cell(tr, b.service); cell(tr, b.site);
        var person = cell(tr, b.person); phoneCell(tr, b);
        cell(tr, (labels.booking_statuses[b.status] || b.status) + (b.cancel_reason ? "（" + b.cancel_reason + "）" : ""));
        var ops = cell(tr, "");
        button(ops, "显示姓名地址", async function () {
          try { var r = await HuiminApi.post("/api/bookings/" + b.code + "/reveal"); person.textContent = r.booking.person + (r.booking.address ? " · " + r.booking.address : "") + "（已记录）"; }
          catch (e) { HuiminApi.notice(e.message); }
        });
        if (b.status === "booked") { button(ops, "取消预约", function () { openCancel(b); }); }
        body.appendChild(tr);
      });
      if (!d.bookings.length) { var tr = document.createElement("tr"); var td = cell(tr, "没有符合条件的预约"); td.colSpan = 8; body.appendChild(tr); }
    } catch (e) { HuiminApi.notice(e.message || "加载失败"); }
  }
  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  (async function init() {
    if (!await HuiminApi.header()) { return; }
    labels = await HuiminApi.labels();
    load();
  })();
})();
