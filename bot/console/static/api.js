// Shared by the console pages: JSON calls with the CSRF token, and plain error messages.
(function () {
  "use strict";
  var csrf = null;
  async function call(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (method !== "GET") {
      if (!csrf) { await refreshCsrf(); }
      headers["X-CSRF-Token"] = csrf;
    }
    var init = {method: method, headers: headers, credentials: "same-origin"};
    if (body instanceof FormData) { init.body = body; }
    else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    var resp;
    try { resp = await fetch(path, init); }
    catch (e) { throw {status: 0, error: "network", message: "连不上工作台服务器，请检查网络后再试。"}; }
    var data = null;
    try { data = await resp.json(); } catch (e) { data = {}; }
    if (resp.status === 401 && !location.pathname.startsWith("/login")) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    }
    if (!resp.ok) { data.status = resp.status; throw data; }
    data.httpStatus = resp.status;
    return data;
  }
  async function refreshCsrf() {
    var resp = await fetch("/api/auth/csrf", {credentials: "same-origin"});
    var data = await resp.json();
    csrf = data.csrf_token;
    return data;
  }

  // Errors and warnings stay until the staff member has read them (知道了), newest first.
  function notice(text, kind) {
    var box = document.getElementById("notices");
    if (!box || !text) { return; }
    var n = document.createElement("div");
    n.className = "notice " + (kind || "error");
    n.setAttribute("role", kind === "info" ? "status" : "alert");
    var p = document.createElement("span");
    p.textContent = text;
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = "知道了";
    b.addEventListener("click", function () { n.remove(); });
    n.appendChild(p);
    n.appendChild(b);
    box.insertBefore(n, box.firstChild);
  }

  // Every page shows who is logged in and a way out.
  async function header() {
    var d = await refreshCsrf();
    if (!d.user) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return null; }
    showUser(d.user);
    return d.user;
  }
  // The name and role in words in #me, and #logout wired (pages that fetch the session themselves call this).
  function showUser(user) {
    var me = document.getElementById("me");
    if (me && user) { me.textContent = user.name + "（" + (ROLES[user.role] || user.role) + "）"; }
    var out = document.getElementById("logout");
    if (out && !out.dataset.wired) {
      out.dataset.wired = "1";
      out.addEventListener("click", async function () {
        try { await call("POST", "/api/auth/logout", {}); } finally { location.href = "/login"; }
      });
    }
  }
  var ROLES = {admin: "管理员", staff: "工作人员", editor: "知识库编辑", importer: "申请记录导入"};

  var labelsPromise = null;
  function labels() {
    labelsPromise = labelsPromise || call("GET", "/api/labels").catch(function () {
      return {programs: {}, statuses: {}, channels: {}, services: {}, sites: {}, booking_statuses: {}};
    });
    return labelsPromise;
  }

  // Local times, in the office's time zone: 12-07 13:05 (today: 13:05).
  function fmtTime(value, timeZone) {
    if (value === null || value === undefined || value === "") { return ""; }
    var d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (isNaN(d.getTime())) { return String(value); }
    var opts = {hour: "2-digit", minute: "2-digit", hour12: false};
    if (timeZone) { opts.timeZone = timeZone; }
    var day = new Intl.DateTimeFormat("zh-CN", {month: "2-digit", day: "2-digit", timeZone: timeZone || undefined});
    var sameDay = day.format(d) === day.format(new Date());
    var hm = new Intl.DateTimeFormat("zh-CN", opts).format(d);
    return sameDay ? hm : day.format(d).replace("/", "-") + " " + hm;
  }

  window.HuiminApi = {
    get: function (p) { return call("GET", p); },
    post: function (p, b) { return call("POST", p, b === undefined ? {} : b); },
    call: call,
    setCsrf: function (t) { csrf = t; },
    refreshCsrf: refreshCsrf,
    notice: notice,
    header: header,
    showUser: showUser,
    labels: labels,
    fmtTime: fmtTime,
  };
})();
