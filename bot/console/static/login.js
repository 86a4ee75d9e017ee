(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var err = document.getElementById("login-error");
  HuiminApi.refreshCsrf().then(function (d) {
    document.getElementById("csrf").value = d.csrf_token;
    if (d.user) { location.href = nextPage(); }
  });
  function nextPage() {
    // Resolved the way the browser will resolve it ("/\\evil.com" is "//evil.com"): only our own origin.
    var n = new URLSearchParams(location.search).get("next") || "/staff";
    try {
      var u = new URL(n, location.origin);
      if (u.origin === location.origin && n.charAt(0) === "/") { return u.pathname + u.search + u.hash; }
    } catch (e) { /* not a URL at all */ }
    return "/staff";
  }
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    err.textContent = "";
    try {
      await HuiminApi.post("/api/auth/login", {
        username: document.getElementById("username").value.trim(),
        password: document.getElementById("password").value,
      });
      location.href = nextPage();
    } catch (e) {
      err.textContent = e.message || "登录没有成功，请再试一次。";
      if (e.error === "csrf") { HuiminApi.refreshCsrf(); }
    }
  });
})();
