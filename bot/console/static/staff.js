// The handoff queue and conversation view. Live updates over server-sent events; polling only as a fallback.
(function () {
  "use strict";
  var REASONS = {requested: "居民要求", repeated_misunderstanding: "多次没听懂", complaint: "投诉", emergency: "紧急"};
  var STATUS = {waiting: "等待中", active: "处理中", closed: "已结束"};
  var WHO = {resident: "居民", huimin: "惠民助手", staff: "工作人员"};
  var PAYLOAD_WORDS = {greet: "（打开了聊天页面）", request_human: "（点了“转人工”）"};
  var KEY_NOTIFY = "huimin.console.notify";
  var view = "waiting", me = null, current = null, pollTimer = null, timeZone = null, labels = {};
  var seenWaiting = null;  // ids of waiting tickets already known: anything new is announced
  var openedAt = Date.now();  // tickets created after the page opened are new even before the first list
  var $ = function (id) { return document.getElementById(id); };

  function fmtWait(s) { return s < 60 ? s + " 秒" : s < 3600 ? Math.floor(s / 60) + " 分钟" : Math.floor(s / 3600) + " 小时 " + Math.floor(s % 3600 / 60) + " 分钟"; }
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
  function fail(e, fallback) { HuiminApi.notice((e && e.message) || fallback || "操作没有成功"); }

  /* ---------- queue ---------- */
  async function loadQueue() {
    try {
      var data = await HuiminApi.get("/api/tickets?view=" + view);
      showStatus(data.status);
      $("late-minutes").textContent = data.highlight_after_minutes || 5;
      renderQueue(data.tickets);
      if (view === "waiting") {
        $("count-waiting").textContent = "(" + data.tickets.length + ")";
        announceNew(data.tickets);
      }
    } catch (e) { fail(e, "工单列表加载失败"); }
  }

  // Who the resident is, only as far as a booking or a verified application made in the conversation says.
  function residentWords(r) {
    if (!r) { return ""; }
    var person = r.person && r.person !== "本人" ? (r.source === "application" ? "申请人 " : "预约人 ") + r.person : "";
    return [person, r.site].filter(Boolean).join(" · ");
  }

  function card(t) {
    var li = el("li", {"data-ticket": t.id, "class": "p" + t.priority + (t.highlight ? " late" : "") +
      (t.id === current ? " selected" : "")});
    var b = el("button", {type: "button", "class": "ticket-open", "aria-current": t.id === current ? "true" : "false"});
    var top = el("span", {"class": "card-top"});
    top.appendChild(el("span", {"class": "reason"}, REASONS[t.reason] || t.reason));
    top.appendChild(el("span", {"class": "channel"}, t.channel_name || t.channel || ""));
    top.appendChild(el("span", {"class": "wait"}, t.status === "waiting" ? "已等 " + fmtWait(t.waiting_seconds) :
      (STATUS[t.status] || t.status) + (t.assignee ? " · " + t.assignee : "")));
    b.appendChild(top);
    var who = residentWords(t.resident);
    if (who) { b.appendChild(el("span", {"class": "who"}, who)); }
    b.appendChild(el("span", {"class": "said"}, t.last_said ? "“" + t.last_said + "”" : "（居民还没有说话）"));
    var where = [t.context, "#" + t.id].filter(Boolean).join(" · ");
    b.appendChild(el("span", {"class": "muted where"}, where));
    b.addEventListener("click", function () { openTicket(t.id, true); });
    li.appendChild(b);
    return li;
  }

  function renderQueue(items) {
    var ul = $("tickets");
    // Live updates re-draw the list: a keyboard user keeps the card they were on.
    var focused = ul.contains(document.activeElement) && document.activeElement.closest("li");
    var focusedId = focused ? focused.dataset.ticket : null;
    ul.textContent = "";
    if (!items.length) { ul.appendChild(el("li", {"class": "empty"}, "没有工单")); return; }
    items.forEach(function (t) { ul.appendChild(card(t)); });
    var again = focusedId && ul.querySelector("li[data-ticket='" + focusedId + "'] button");
    if (again) { again.focus(); }
  }

  /* ---------- notifications of new waiting tickets ---------- */
  function notifyOn() { return localStorage.getItem(KEY_NOTIFY) === "1"; }
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx(), o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.15;
      o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.25);
      window.__huiminBeeps = (window.__huiminBeeps || 0) + 1;
    } catch (e) { /* no audio device */ }
  }
  function announceNew(tickets) {
    var ids = tickets.map(function (t) { return t.id; });
    var fresh = tickets.filter(function (t) {
      return seenWaiting ? seenWaiting.indexOf(t.id) < 0 : Date.parse(t.created_at) > openedAt;
    });
    seenWaiting = ids;
    if (!fresh.length || !notifyOn()) { return; }
    beep();
    var t = fresh[0];
    var text = (REASONS[t.reason] || "") + " · " + (t.channel_name || "") + (t.last_said ? "：" + t.last_said : "");
    window.__huiminNotified = (window.__huiminNotified || []).concat([text]);
    if (window.Notification && Notification.permission === "granted") {
      try { new Notification("新的转人工工单 #" + t.id, {body: text, tag: "ticket-" + t.id}); } catch (e) { /* blocked */ }
    }
  }
  function setupNotify() {
    var box = $("notify");
    box.checked = notifyOn();
    box.addEventListener("change", function () {
      localStorage.setItem(KEY_NOTIFY, box.checked ? "1" : "0");
      if (box.checked && window.Notification && Notification.permission === "default") {
        Notification.requestPermission();
      }
    });
  }

  /* ---------- conversation ---------- */
  async function openTicket(id, focus) {
    current = id;
    $("conversation").hidden = false;
    $("layout").classList.add("with-conversation");
    try {
      var d = await HuiminApi.get("/api/tickets/" + id);
      renderTicket(d);
      loadCallbacks(d.ticket.id);
      if (focus) { $("conv-title").focus(); }
    } catch (e) { fail(e); }
    document.querySelectorAll(".tickets li").forEach(function (li) {
      var on = Number(li.dataset.ticket) === id;
      li.classList.toggle("selected", on);
      var b = li.querySelector("button");
      if (b) { b.setAttribute("aria-current", on ? "true" : "false"); }
    });
  }

  function closeView() {
    current = null;
    $("conversation").hidden = true;
    $("layout").classList.remove("with-conversation");
    loadQueue();
  }

  function residentText(e) {
    if (!e.tapped) { return e.text; }
    if (e.text) { return "（点了按钮）" + e.text; }
    return PAYLOAD_WORDS[e.tapped.intent] || "（点了一个按钮" + (e.tapped.names.length ? "：" + e.tapped.names.join("、") : "") + "）";
  }

  function transcriptItem(t, e) {
    if (e.who === "system") {
      var label = {pause: "转人工，惠民助手暂停", resume: "惠民助手继续", session_started: "新的会话"}[e.event];
      return el("li", {"class": "system"}, "—— " + (label || e.event) + " · " + HuiminApi.fmtTime(e.at, timeZone) + " ——");
    }
    var li = el("li", {"class": e.who});
    var head = el("span", {"class": "speaker"}, (e.who === "staff" ? "工作人员 " + (e.staff || "") : WHO[e.who]) +
      " · " + HuiminApi.fmtTime(e.at, timeZone));
    li.appendChild(head);
    var body = el("span", {"class": "body"}, e.who === "resident" ? residentText(e) : e.text);
    li.appendChild(body);
    if (e.buttons && e.buttons.length) {
      li.appendChild(el("span", {"class": "buttons muted"}, "按钮：" + e.buttons.join(" / ")));
    }
    if (e.who === "resident" && /\*{4}/.test(e.text)) {
      var b = el("button", {"class": "secondary small", type: "button"}, "显示号码");
      b.addEventListener("click", function () { reveal(t.id, e.index, body); });
      li.appendChild(b);
    }
    return li;
  }

  function renderTicket(d) {
    var t = d.ticket;
    timeZone = d.timezone || timeZone;
    $("conv-title").textContent = "工单 #" + t.id + " · " + (REASONS[t.reason] || t.reason) + " · " + (STATUS[t.status] || t.status);
    var who = residentWords(t.resident);
    $("conv-meta").textContent = (who ? who + " · " : "") + "渠道：" + (t.channel_name || "未知") + " · " + d.office.name +
      " · 开始于 " + HuiminApi.fmtTime(t.created_at, timeZone) +
      (t.assignee ? " · 负责人：" + t.assignee : "") + (t.handed_back_at ? " · 已交还惠民助手" : "");
    $("conv-summary").textContent = t.context ? "正在办：" + t.context : "";
    $("conv-summary").hidden = !t.context;
    var outcome = $("conv-outcome");
    outcome.hidden = t.status !== "closed";
    outcome.textContent = t.status === "closed" ? "处理结果：" + (t.outcome || "（没有写）") + " · " +
      (t.assignee || "") + " 于 " + HuiminApi.fmtTime(t.closed_at, timeZone) + " 结束" : "";
    renderRecords(d.records || {});
    var ol = $("transcript");
    var atEnd = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    ol.textContent = "";
    if (d.rasa_error) { ol.appendChild(el("li", {"class": "system"}, d.rasa_error)); }
    (d.transcript || []).forEach(function (e) { ol.appendChild(transcriptItem(t, e)); });
    if (atEnd || ol.dataset.ticket !== String(t.id)) { ol.scrollTop = ol.scrollHeight; }
    ol.dataset.ticket = String(t.id);
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
    $("close").disabled = !mine;
    // Closing hands the conversation back in the same step: say so, and why the button may be off.
    $("close").textContent = mine && !t.handed_back_at ? "交还并结束工单" : "结束工单";
    $("close-hint").textContent = t.status === "waiting" ? "先点“接手”，才能回复和结束工单。" :
      !mine ? "这个工单由 " + (t.assignee || "别人") + " 负责，只有负责人能结束。" :
      !t.handed_back_at ? "结束时会先把对话交还给惠民助手，居民不会没人应答。" : "";
    $("reply-form").hidden = t.status === "closed";
    $("close-form").hidden = t.status === "closed";
    $("actions").hidden = t.status === "closed";
  }

  function renderRecords(r) {
    var box = $("conv-records");
    box.textContent = "";
    (r.bookings || []).forEach(function (b) {
      box.appendChild(el("div", {}, "预约：" + b.code + " " + b.service + " " + HuiminApi.fmtTime(b.start, timeZone) +
        " " + b.site + " " + ((labels.booking_statuses || {})[b.status] || b.status)));
    });
    (r.applications || []).forEach(function (a) {
      box.appendChild(el("div", {}, "申请：" + a.application_no + " " + ((labels.programs || {})[a.program_id] || a.program_id) +
        " " + ((labels.statuses || {})[a.status] || a.status)));
    });
    if (r.error) { box.appendChild(el("div", {}, r.error)); }
  }

  /* ---------- call-back numbers left while waiting (kept encrypted; revealed with an audit record) ---------- */
  var revealed = {};  // callback id -> number, so a live refresh does not hide (and re-audit) a shown number
  function showNumber(span, number) {
    span.textContent = "";
    span.appendChild(el("a", {href: "tel:" + number}, number));
    span.appendChild(el("span", {"class": "muted"}, "（已显示，已记录）"));
  }
  async function loadCallbacks(ticketId) {
    var box = $("conv-callbacks");
    try {
      var d = await HuiminApi.get("/api/tickets/" + ticketId + "/callbacks");
      if (ticketId !== current) { return; }
      box.textContent = "";
      (d.callbacks || []).forEach(function (c) {
        var row = el("div", {"class": "callback"}, "回电号码：");
        var number = el("span", {}, c.masked);
        row.appendChild(number);
        box.appendChild(row);
        if (revealed[c.id]) { showNumber(number, revealed[c.id]); return; }
        var b = el("button", {type: "button", "class": "secondary small"}, "显示号码");
        b.addEventListener("click", async function () {
          try {
            var r = await HuiminApi.post("/api/tickets/" + ticketId + "/callbacks/" + c.id + "/reveal");
            revealed[c.id] = r.number;
            b.remove();
            showNumber(number, r.number);
          } catch (e) { fail(e); }
        });
        row.appendChild(b);
      });
    } catch (e) { box.textContent = ""; }
  }

  async function act(fn) {
    try { await fn(); }
    catch (e) { fail(e); }
    if (current) { await openTicket(current); }
    await loadQueue();
  }
  async function reveal(id, index, body) {
    try {
      var d = await HuiminApi.post("/api/tickets/" + id + "/reveal", {index: index});
      body.textContent = d.text + "（已显示，已记录）";
    } catch (e) { fail(e); }
  }
  function retry(mid) { return act(function () { return HuiminApi.post("/api/messages/" + mid + "/retry"); }); }

  $("claim").addEventListener("click", function () {
    act(function () { return HuiminApi.post("/api/tickets/" + current + "/claim"); }).then(function () {
      if (!$("send").disabled) { $("reply-text").focus(); }
    });
  });
  $("transfer").addEventListener("click", function () {
    var to = $("transfer-to").value;
    if (!to) { HuiminApi.notice("请先选一位同事"); $("transfer-to").focus(); return; }
    act(function () { return HuiminApi.post("/api/tickets/" + current + "/transfer", {to: to}); });
  });
  $("handback").addEventListener("click", function () {
    act(function () { return HuiminApi.post("/api/tickets/" + current + "/handback"); }).then(function () {
      $("outcome").focus();
    });
  });
  $("conv-close-view").addEventListener("click", closeView);
  $("canned").addEventListener("change", function () {
    if (this.value) { $("reply-text").value = this.value; $("reply-text").focus(); }
  });
  $("reply-text").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $("reply-form").requestSubmit(); }
  });
  $("reply-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("reply-text").value.trim();
    if (!text) { HuiminApi.notice("请先写回复内容"); return; }
    act(async function () {
      var d = await HuiminApi.post("/api/tickets/" + current + "/messages", {text: text});
      // Cleared only once stored: a failed call keeps the text in the box.
      $("reply-text").value = "";
      if (d.warning) { HuiminApi.notice(d.warning, "warning"); }
    }).then(function () { $("reply-text").focus(); });
  });
  $("close-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    act(async function () {
      await HuiminApi.post("/api/tickets/" + current + "/close", {outcome: $("outcome").value});
      $("outcome").value = "";
    });
  });

  /* ---------- tabs: a real tab list (arrow keys move between tabs) ---------- */
  var tabs = Array.prototype.slice.call(document.querySelectorAll(".tabs [role=tab]"));
  function selectTab(b, focus) {
    view = b.dataset.view;
    tabs.forEach(function (x) {
      x.setAttribute("aria-selected", x === b ? "true" : "false");
      x.tabIndex = x === b ? 0 : -1;
    });
    $("queue-panel").setAttribute("aria-labelledby", b.id);
    if (focus) { b.focus(); }
    loadQueue();
  }
  tabs.forEach(function (b, i) {
    b.addEventListener("click", function () { selectTab(b); });
    b.addEventListener("keydown", function (ev) {
      var next = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1}[ev.key];
      if (next === undefined) { return; }
      ev.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length], true);
    });
  });

  /* ---------- live updates ---------- */
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
    es.addEventListener("ticket", function (ev) {
      var t = JSON.parse(ev.data);
      // New waiting tickets are announced even while another tab of the queue is shown.
      if (t.status === "waiting" && view !== "waiting" && seenWaiting && seenWaiting.indexOf(t.id) < 0) {
        announceNew([t].concat(seenWaiting.map(function (id) { return {id: id}; })));
      }
      scheduleRefresh(t.id);
    });
    es.addEventListener("message", function (ev) { scheduleRefresh(JSON.parse(ev.data).ticket_id); });
    es.addEventListener("staff_message", function (ev) { scheduleRefresh(JSON.parse(ev.data).ticket_id); });
  }

  (async function init() {
    me = await HuiminApi.header();
    if (!me) { return; }
    setupNotify();
    // Only a ticket's records use the labels: the queue does not wait, and an open ticket is drawn again in words.
    HuiminApi.labels().then(function (l) { labels = l; if (current) { openTicket(current); } });
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
