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
  window.HuiminApi = {
    get: function (p) { return call("GET", p); },
    post: function (p, b) { return call("POST", p, b === undefined ? {} : b); },
    call: call,
    setCsrf: function (t) { csrf = t; },
    refreshCsrf: refreshCsrf,
  };
})();
