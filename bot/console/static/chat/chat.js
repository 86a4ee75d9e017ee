/* Huimin web chat: a small client of Rasa's socket.io channel (the same events rasa-webchat uses:
   session_request / session_confirm / user_uttered / bot_uttered), with session persistence.
   The server adds to each message "at" (epoch seconds), "staff" (the label of a staff member's reply) and
   kind "received" (the acknowledgement of a message typed while a person is awaited); /chat/state says
   whether a person is awaited and what the banner says. */
(function () {
  "use strict";

  var cfg = window.HUIMIN_CHAT || {};
  var KEY_SESSION = "huimin.chat.session";
  var KEY_ACTIVE = "huimin.chat.active";
  var KEY_BIG = "huimin.chat.bigtext";
  var LOCAL_LIMIT = 200;

  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("composer-input");
  var typing = document.getElementById("typing");
  var typingText = typing.querySelector(".typing-text") || typing;
  var statusLine = document.getElementById("status");
  var waitingLine = document.getElementById("waiting");
  var bigBtn = document.getElementById("bigtext");
  var humanBtn = document.getElementById("human");
  var endBtn = document.getElementById("end");
  var endBox = document.getElementById("end-confirm");

  var storage = (function () {
    try {
      var probe = "__huimin";
      window.localStorage.setItem(probe, probe);
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {  // private mode or blocked storage: the page still works, without persistence
      var mem = {};
      return { getItem: function (k) { return k in mem ? mem[k] : null; },
               setItem: function (k, v) { mem[k] = String(v); }, removeItem: function (k) { delete mem[k]; } };
    }
  })();

  var sessionId = storage.getItem(KEY_SESSION);
  var ready = false;
  var outbox = [];
  var typingTimer = null;
  var composing = false;
  var justComposed = false;
  var answerStart = null;   // first bubble of the answer being received: a long answer is read from its top
  var waiting = false;      // a person is awaited (from /chat/state)

  /* ---------- large text ---------- */
  function setBig(on) {
    document.documentElement.classList.toggle("big", on);
    bigBtn.setAttribute("aria-pressed", on ? "true" : "false");
    storage.setItem(KEY_BIG, on ? "1" : "0");
  }
  setBig(storage.getItem(KEY_BIG) === "1");
  bigBtn.addEventListener("click", function () {
    setBig(bigBtn.getAttribute("aria-pressed") !== "true");
  });

  /* ---------- local copy of the conversation (fallback when the history service is unreachable) ---------- */
  function localKey() { return "huimin.chat.history." + sessionId; }
  function loadLocal() {
    // The server forgets idle sessions; the local copy must not outlive them on a shared computer.
    var active = Number(storage.getItem(KEY_ACTIVE) || 0);
    if (cfg.idleMinutes && active && Date.now() - active > cfg.idleMinutes * 60000) { return []; }
    try { return JSON.parse(storage.getItem(localKey()) || "[]"); } catch (e) { return []; }
  }
  function saveLocal(list) {
    try { storage.setItem(localKey(), JSON.stringify(list.slice(-LOCAL_LIMIT))); } catch (e) { /* full */ }
  }
  function touch() { storage.setItem(KEY_ACTIVE, String(Date.now())); }
  var transcript = [];
  function remember(entry) {
    transcript.push(entry);
    if (sessionId) { saveLocal(transcript); }
    touch();
  }

  /* ---------- rendering ---------- */
  // Links as [title](url) or bare; phone numbers (mobile, landline with area code, 400, 123xx hotlines) as tel:.
  var LINK_RE = new RegExp(
    "\\[([^\\]\\n]+)\\]\\((https?:\\/\\/[^\\s)]+)\\)" +
    "|(https?:\\/\\/[^\\s<>\"'，。；）)]+)" +
    "|(?<![\\d*])(1[3-9]\\d{9}|0\\d{2,3}-?\\d{7,8}|400-?\\d{3}-?\\d{4}|123\\d{2})(?![\\d*])", "g");

  function appendRich(el, text) {
    var last = 0;
    text = String(text);
    text.replace(LINK_RE, function (match, title, url, bare, phone, offset) {
      el.appendChild(document.createTextNode(text.slice(last, offset)));
      var a = document.createElement("a");
      if (phone) {
        a.href = "tel:" + phone.replace(/-/g, "");
        a.textContent = phone;
        a.className = "tel";
        a.setAttribute("aria-label", "拨打电话 " + phone);
      } else {
        a.href = url || bare;
        a.textContent = title || bare;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
      }
      el.appendChild(a);
      last = offset + match.length;
      return match;
    });
    el.appendChild(document.createTextNode(text.slice(last)));
  }

  function clock(at) {
    var d = at ? new Date(at * 1000) : new Date();
    if (isNaN(d.getTime())) { d = new Date(); }
    var hm = String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
    var today = new Date();
    var sameDay = d.toDateString() === today.toDateString();
    return {iso: d.toISOString(), text: sameDay ? hm : (d.getMonth() + 1) + "月" + d.getDate() + "日 " + hm};
  }

  function scrollToEnd() { log.scrollTop = log.scrollHeight; }

  // A long answer (taller than the conversation area) is shown from its start: the booking number is at the top.
  function scrollForAnswer() {
    if (!answerStart) { scrollToEnd(); return; }
    var top = answerStart.offsetTop - log.offsetTop - 8;
    if (log.scrollHeight - top > log.clientHeight) { log.scrollTop = top; } else { scrollToEnd(); }
  }

  // kind: "user" | "bot" | "staff" | "note"; label: what a screen reader (and, for staff, everyone) reads first.
  function bubble(kind, text, at, label) {
    var div = document.createElement("div");
    div.className = "msg " + kind;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = label || (kind === "user" ? "我说：" : "惠民助手说：");
    div.appendChild(who);
    var body = document.createElement("span");
    body.className = "text";
    if (text) { appendRich(body, text); }
    div.appendChild(body);
    var t = clock(at);
    var time = document.createElement("time");
    time.dateTime = t.iso;
    time.textContent = t.text;
    div.appendChild(time);
    log.appendChild(div);
    return div;
  }

  // Buttons of earlier answers stop working once the conversation has moved on.
  function retireQuickReplies() {
    log.querySelectorAll(".quick button:not([disabled])").forEach(function (b) {
      b.disabled = true;
      b.title = "这是之前的选项";
    });
  }

  function addUser(text, at) {
    retireQuickReplies();
    bubble("user", text, at);
    answerStart = null;
    scrollToEnd();
  }

  function imageOf(msg) {
    if (msg.image) { return msg.image; }
    var att = msg.attachment;
    if (att && att.type === "image" && att.payload && att.payload.src) { return att.payload.src; }
    return null;
  }

  function kindOf(msg) {
    if (msg.kind === "received") { return "note"; }
    return msg.staff ? "staff" : "bot";
  }

  function addBot(msg) {
    var kind = kindOf(msg);
    var label = kind === "staff" ? msg.staff + "说：" : null;
    var parts = msg.text ? String(msg.text).split(/\n\n+/) : [];
    var first = null;
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].trim()) {
        var b = bubble(kind, parts[i], msg.at, label);
        first = first || b;
      }
    }
    var src = imageOf(msg);
    if (src) {
      var div = bubble(kind, "", msg.at, label);
      var img = document.createElement("img");
      img.src = src;
      img.alt = (kind === "staff" ? msg.staff : "惠民助手") + "发来的图片";
      div.appendChild(img);
      first = first || div;
    }
    var replies = msg.quick_replies || msg.buttons || [];
    if (replies.length) {
      retireQuickReplies();
      var group = document.createElement("div");
      group.className = "quick";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "可以点选的回答");
      replies.forEach(function (r) {
        var btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = r.title;
        btn.addEventListener("click", function () { send(r.payload, r.title); });
        group.appendChild(btn);
      });
      log.appendChild(group);
    }
    if (!answerStart && first) { answerStart = first; }
    scrollForAnswer();
  }

  function render(entry) {
    if (entry.from === "user") { addUser(entry.text, entry.at); } else { addBot(entry); }
  }

  function clearConversation() {
    log.querySelectorAll(".msg, .quick").forEach(function (n) { n.remove(); });
    answerStart = null;
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    typingText.textContent = on ? (waiting ? "正在发送…" : "惠民助手正在输入…") : "";
    typing.classList.toggle("on", on);
    if (on) { typingTimer = setTimeout(function () { showTyping(false); }, 20000); }
  }

  function setStatus(text) { statusLine.textContent = text || ""; }

  /* ---------- waiting for a person ---------- */
  function setWaiting(state) {
    waiting = !!(state && state.waiting);
    waitingLine.textContent = waiting ? state.banner || "" : "";
    waitingLine.hidden = !waiting;
    document.documentElement.classList.toggle("waiting-person", waiting);
  }

  var stateTimer = null;
  var statePoll = null;
  function refreshState() {
    clearTimeout(stateTimer);
    stateTimer = setTimeout(function () {
      if (!sessionId) { setWaiting(null); return; }
      fetch("/chat/state?session_id=" + encodeURIComponent(sessionId), { cache: "no-store" })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
        .then(function (s) {
          setWaiting(s);
          // While waiting, a staff member may claim the ticket at any time: keep the banner current.
          if (s.waiting && !statePoll) { statePoll = setInterval(refreshState, 20000); }
          if (!s.waiting && statePoll) { clearInterval(statePoll); statePoll = null; }
        })
        .catch(function () { /* the banner keeps its last state */ });
    }, 250);
  }

  /* ---------- talking to Rasa ---------- */
  var socket = null;

  function emitNow(message) {
    socket.emit("user_uttered", { message: message, session_id: sessionId });
  }

  function send(message, shown) {
    if (!message) { return; }
    if (shown) {
      addUser(shown);
      remember({ from: "user", text: shown, at: Date.now() / 1000 });
    }
    showTyping(true);
    if (ready && socket && socket.connected) { emitNow(message); } else { outbox.push(message); }
  }

  function onBotMessage(msg) {
    // After 结束对话, a late answer of the old conversation must not appear in the new one.
    if (!msg || (!sessionId && !ready)) { return; }
    showTyping(false);
    addBot(msg);
    remember({ from: "bot", text: msg.text || "", quick_replies: msg.quick_replies || msg.buttons || [],
               image: imageOf(msg), at: msg.at, staff: msg.staff, kind: msg.kind });
    if (msg.kind !== "received") { refreshState(); }
  }

  function connect() {
    if (typeof window.io !== "function") {
      setStatus("聊天服务没有加载成功，请刷新页面再试。");
      return;
    }
    var opts = { path: cfg.socketPath || "/socket.io", transports: ["websocket", "polling"] };
    socket = cfg.socketUrl ? window.io(cfg.socketUrl, opts) : window.io(opts);

    socket.on("connect", function () {
      setStatus("");
      socket.emit("session_request", { session_id: sessionId || null });
    });
    socket.on("session_confirm", function (data) {
      var id = typeof data === "string" ? data : (data && data.session_id);
      var fresh = id !== sessionId;
      if (fresh && sessionId) {  // the old one expired or was not ours: nothing of it stays on screen
        storage.removeItem(localKey());
        clearConversation();
      }
      sessionId = id;
      storage.setItem(KEY_SESSION, id);
      ready = true;
      if (fresh) {
        transcript = [];
        saveLocal(transcript);
        if (cfg.initPayload && !outbox.length) { outbox.unshift(cfg.initPayload); showTyping(true); }
      }
      touch();
      while (outbox.length) { emitNow(outbox.shift()); }
      refreshState();
    });
    socket.on("bot_uttered", onBotMessage);
    socket.on("disconnect", function () {
      ready = false;
      setStatus("网络断开了，正在重新连接…");
    });
    socket.on("connect_error", function () {
      setStatus("暂时连不上惠民助手，正在重试，请稍等。");
    });
  }

  function loadHistory(done) {
    if (!sessionId) { done(); return; }
    var finished = false;
    function finish(list) {
      if (finished) { return; }
      finished = true;
      transcript = list;
      saveLocal(transcript);
      list.forEach(render);
      scrollToEnd();
      done();
    }
    var timer = setTimeout(function () { finish(loadLocal()); }, 8000);
    fetch("/chat/history?session_id=" + encodeURIComponent(sessionId), { cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (body) { clearTimeout(timer); finish(body.messages || []); })
      .catch(function () { clearTimeout(timer); finish(loadLocal()); });
  }

  /* ---------- ending the conversation (shared computers) ---------- */
  function showEndConfirm(on) {
    endBox.hidden = !on;
    endBtn.setAttribute("aria-expanded", on ? "true" : "false");
    if (on) { document.getElementById("end-yes").focus(); } else { endBtn.focus(); }
  }

  function endConversation() {
    if (sessionId) { storage.removeItem(localKey()); }
    storage.removeItem(KEY_SESSION);
    storage.removeItem(KEY_ACTIVE);
    sessionId = null;
    transcript = [];
    outbox = [];
    clearConversation();
    setWaiting(null);
    endBox.hidden = true;
    endBtn.setAttribute("aria-expanded", "false");
    setStatus("");
    // A new conversation starts at once, on a new session id the server issues.
    ready = false;
    if (socket && socket.connected) { socket.emit("session_request", { session_id: null }); }
    input.focus();
  }

  endBtn.addEventListener("click", function () { showEndConfirm(endBox.hidden); });
  document.getElementById("end-no").addEventListener("click", function () { showEndConfirm(false); });
  document.getElementById("end-yes").addEventListener("click", endConversation);
  endBox.addEventListener("keydown", function (e) { if (e.key === "Escape") { showEndConfirm(false); } });

  /* ---------- input ---------- */
  function submit() {
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    input.value = "";
    send(text, text);
    input.focus();
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });
  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () {
    composing = false;
    // Some browsers end the composition just before the Enter that confirmed it reaches keydown.
    justComposed = true;
    setTimeout(function () { justComposed = false; }, 0);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.shiftKey) { return; }
    // Enter that picks a Chinese candidate in an input method must not send the message.
    if (e.isComposing || e.keyCode === 229 || composing || justComposed) { return; }
    e.preventDefault();
    submit();
  });
  humanBtn.addEventListener("click", function () {
    send(cfg.humanPayload || "/request_human", humanBtn.textContent.trim());
  });

  loadHistory(connect);
})();
