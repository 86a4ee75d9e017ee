// The handoff queue and conversation view. Live updates over server-sent events; polling only as a fallback.
(function () {
  "use strict";
  var REASONS = {requested: "居民要求", repeated_misunderstanding: "多次没听懂", complaint: "投诉", emergency: "紧急"};
  var STATUS = {waiting: "等待中", active: "处理中", closed: "已结束"};
  var WHO = {resident: "居民", huimin: "惠民", staff: "工作人员"};
  var view = "waiting", me = null, current = null, currentTicket = null, pollTimer = null;
  var $ = function (id) { return document.getElementById(id); };

  function fmtWait(s) { return s < 60 ? s + " 秒" : Math.floor(s / 60) + " 分钟"; }
  function banner(text) { var b = $("banner"); b.textContent = text || ""; b.hidden = !text; }
  function showStatus(st) {
    var parts = [];
    if (st && st.database === false) { parts.push("数据库连不上：工单暂时不能更新。"); }
    if (st && st.rasa === false) { parts.push("惠民助手对话服务连不上：回复会保存，恢复后可重发。"); }
    banner(parts.join(" "));
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  async function loadQueue() {
    try {
      var data = await HuiminApi.get("/api/tickets?view=" + view);
      showStatus(data.status);
      renderQueue(data.tickets);
      if (view === "waiting") { $("count-waiting").textContent = "(" + data.tickets.length + ")"; }
    } catch (e) { banner(e.message || "工单列表加载失败"); }
  }

  function renderQueue(items) {
    var ul = $("tickets");
    ul.textContent = "";
    if (!items.length) { ul.appendChild(el("li", {"class": "empty"}, "没有工单")); return; }
    items.forEach(function (t) {
      var li = el("li", {"data-ticket": t.id, "class": "p" + t.priority + (t.highlight ? " late" : "") +
        (t.id === current ? " selected" : ""), tabindex: "0"});
      li.appendChild(el("span", {"class": "reason"}, REASONS[t.reason] || t.reason));
      li.appendChild(document.createTextNode(" #" + t.id + " · " + (STATUS[t.status] || t.status) +
        (t.assignee ? " · " + t.assignee : "") + " · " + (t.channel || "") +
        (t.status === "waiting" ? " · 已等 " + fmtWait(t.waiting_seconds) : "")));
      var last = t.last_resident_text || (t.summary || "").split("\n").slice(-1)[0] || "";
      li.appendChild(el("div", {"class": "muted"}, last));
      li.addEventListener("click", function () { openTicket(t.id); });
      li.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { openTicket(t.id); } });
      ul.appendChild(li);
    });
  }

  async function openTicket(id) {
    current = id;
    $("conversation").hidden = false;
    $("conv-error").textContent = "";
    try {
      var d = await HuiminApi.get("/api/tickets/" + id);
      renderTicket(d);
    } catch (e) { $("conv-error").textContent = e.message; }
    document.querySelectorAll(".tickets li").forEach(function (li) {
      li.classList.toggle("selected", Number(li.dataset.ticket) === id);
    });
  }

  function renderTicket(d) {
    var t = d.ticket;
    currentTicket = t;
    $("conv-title").textContent = "工单 #" + t.id + " · " + (REASONS[t.reason] || t.reason) + " · " + (STATUS[t.status] || t.status);
    $("conv-meta").textContent = "渠道：" + (t.channel || "未知") + " · " + d.office.name +
      (t.assignee ? " · 负责人：" + t.assignee : "") + (t.handed_back_at ? " · 已交还惠民助手" : "");
    $("conv-summary").textContent = (t.context ? "正在办：" + t.context + "\n" : "") + (t.summary || "");
    renderRecords(d.records || {});
    var ol = $("transcript");
    ol.textContent = "";
    if (d.rasa_error) { ol.appendChild(el("li", {"class": "system"}, d.rasa_error)); }
    (d.transcript || []).forEach(function (e) {
      if (e.who === "system") {
        var label = {pause: "—— 转人工，惠民助手暂停 ——", resume: "—— 惠民助手继续 ——", session_started: "—— 新的会话 ——"}[e.event];
        ol.appendChild(el("li", {"class": "system"}, label || e.event));
        return;
      }
      var li = el("li", {"class": e.who}, (e.who === "staff" ? (e.staff || "工作人员") : WHO[e.who]) + "：" + e.text);
      if (e.who === "resident" && /\*{4}/.test(e.text)) {
        var b = el("button", {"class": "secondary", type: "button"}, "显示号码");
        b.addEventListener("click", function () { reveal(t.id, e.index, li); });
        li.appendChild(b);
      }
      ol.appendChild(li);
    });
    ol.scrollTop = ol.scrollHeight;
    var sm = $("staff-messages");
    sm.textContent = "";
    (d.staff_messages || []).filter(function (m) { return m.status !== "delivered"; }).forEach(function (m) {
      var li = el("li", {"class": m.status}, (m.status === "failed" ? "没发出去：" : "发送中：") + m.text + " ");
      if (m.status === "failed") {
        var b = el("button", {type: "button", "class": "secondary"}, "重发");
        b.addEventListener("click", function () { retry(m.id); });
        li.appendChild(b);
      }
      sm.appendChild(li);
    });
    var canned = $("canned");
    canned.length = 1;
    (d.canned_replies || []).forEach(function (r) { canned.appendChild(el("option", {value: r}, r)); });
    var mine = t.status === "active" && t.assignee === me.name;
    $("claim").disabled = t.status !== "waiting";
    $("transfer").disabled = !mine || !!t.handed_back_at;
    $("handback").disabled = !mine || !!t.handed_back_at;
    $("send").disabled = !mine || !!t.handed_back_at;
    $("close").disabled = !mine || !t.handed_back_at;
    $("reply-form").hidden = t.status === "closed";
    $("close-form").hidden = t.status === "closed";
    $("actions").hidden = t.status === "closed";
  }

  function renderRecords(r) {
    var box = $("conv-records");
    box.textContent = "";
    var rows = (r.bookings || []).map(function (b) { return "预约：" + (b.summary || JSON.stringify(b)); })
      .concat((r.applications || []).map(function (a) { return "申请：" + (a.summary || JSON.stringify(a)); }));
    if (r.error) { rows.push(r.error); }
    rows.forEach(function (line) { box.appendChild(el("div", {}, line)); });
  }

  async function act(fn) {
    $("conv-error").textContent = "";
    try { await fn(); }
    catch (e) { $("conv-error").textContent = e.message || "操作没有成功"; }
    if (current) { await openTicket(current); }
    await loadQueue();
  }
  async function reveal(id, index, li) {
    try {
      var d = await HuiminApi.post("/api/tickets/" + id + "/reveal", {index: index});
      li.textContent = "居民：" + d.text + "（已显示，已记录）";
    } catch (e) { $("conv-error").textContent = e.message; }
  }
  function retry(mid) { return act(function () { return HuiminApi.post("/api/messages/" + mid + "/retry"); }); }

  $("claim").addEventListener("click", function () {
    act(function () { return HuiminApi.post("/api/tickets/" + current + "/claim"); });
  });
  $("transfer").addEventListener("click", function () {
    var to = $("transfer-to").value;
    if (!to) { $("conv-error").textContent = "请先选一位同事"; return; }
    act(function () { return HuiminApi.post("/api/tickets/" + current + "/transfer", {to: to}); });
  });
  $("handback").addEventListener("click", function () {
    act(function () { return HuiminApi.post("/api/tickets/" + current + "/handback"); });
  });
  $("canned").addEventListener("change", function () {
    if (this.value) { $("reply-text").value = this.value; $("reply-text").focus(); }
  });
  $("reply-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("reply-text").value.trim();
    if (!text) { return; }
    act(async function () {
      var d = await HuiminApi.post("/api/tickets/" + current + "/messages", {text: text});
      // Cleared only once stored: a failed call keeps the text in the box.
      $("reply-text").value = "";
      if (d.warning) { throw {message: d.warning}; }
    });
  });
  $("close-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    act(async function () {
      await HuiminApi.post("/api/tickets/" + current + "/close", {outcome: $("outcome").value});
      $("outcome").value = "";
    });
  });
  $("logout").addEventListener("click", async function () {
    try { await HuiminApi.post("/api/auth/logout"); } finally { location.href = "/login"; }
  });
  document.querySelectorAll(".tabs button").forEach(function (b) {
    b.addEventListener("click", function () {
      view = b.dataset.view;
      document.querySelectorAll(".tabs button").forEach(function (x) { x.setAttribute("aria-selected", x === b ? "true" : "false"); });
      loadQueue();
    });
  });

  function startPolling() {
    if (pollTimer) { return; }
    $("live-mode").textContent = "实时连接断开，每 5 秒刷新一次。";
    pollTimer = setInterval(function () { loadQueue(); if (current) { openTicket(current); } }, 5000);
  }
  function stopPolling() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    $("live-mode").textContent = "";
  }
  var refreshPending = false;
  function scheduleRefresh(ticketId) {
    if (ticketId && ticketId === current) { openTicket(current); }
    if (refreshPending) { return; }
    refreshPending = true;
    setTimeout(function () { refreshPending = false; loadQueue(); }, 200);
  }
  function startLive() {
    if (!window.EventSource) { startPolling(); return; }
    var es = new EventSource("/api/events");
    es.addEventListener("open", stopPolling);
    es.addEventListener("error", function () { if (es.readyState === EventSource.CLOSED) { startPolling(); } else { $("live-mode").textContent = "正在重新连接…"; } });
    es.addEventListener("status", function (ev) { showStatus(JSON.parse(ev.data)); });
    es.addEventListener("ticket", function (ev) { scheduleRefresh(JSON.parse(ev.data).id); });
    es.addEventListener("message", function (ev) { scheduleRefresh(JSON.parse(ev.data).ticket_id); });
    es.addEventListener("staff_message", function (ev) { scheduleRefresh(JSON.parse(ev.data).ticket_id); });
  }

  (async function init() {
    var d = await HuiminApi.refreshCsrf();
    if (!d.user) { location.href = "/login?next=/staff"; return; }
    me = d.user;
    $("me").textContent = me.name + "（" + me.role + "）";
    try {
      var staff = await HuiminApi.get("/api/staff");
      var sel = $("transfer-to");
      sel.appendChild(el("option", {value: ""}, "——"));
      staff.users.filter(function (n) { return n !== me.name; }).forEach(function (n) { sel.appendChild(el("option", {value: n}, n)); });
    } catch (e) { /* the queue still works */ }
    await loadQueue();
    startLive();
    setInterval(loadQueue, 30000);  // waiting times and highlights age even when nothing happens
  })();
})();
