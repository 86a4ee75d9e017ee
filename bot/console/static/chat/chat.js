/* Huimin web chat: a small client of Rasa's socket.io channel (the same events rasa-webchat uses:
   session_request / session_confirm / user_uttered / bot_uttered), with session persistence. */
(function () {
  "use strict";

  var cfg = window.HUIMIN_CHAT || {};
  var KEY_SESSION = "huimin.chat.session";
  var KEY_BIG = "huimin.chat.bigtext";
  var LOCAL_LIMIT = 200;

  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("composer-input");
  var typing = document.getElementById("typing");
  var statusLine = document.getElementById("status");
  var bigBtn = document.getElementById("bigtext");
  var humanBtn = document.getElementById("human");

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
    try { return JSON.parse(storage.getItem(localKey()) || "[]"); } catch (e) { return []; }
  }
  function saveLocal(list) {
    try { storage.setItem(localKey(), JSON.stringify(list.slice(-LOCAL_LIMIT))); } catch (e) { /* full */ }
  }
  var transcript = [];
  function remember(entry) {
    transcript.push(entry);
    if (sessionId) { saveLocal(transcript); }
  }

  /* ---------- rendering ---------- */
  var LINK_RE = /\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)|(https?:\/\/[^\s<>"'，。；）)]+)/g;

  function appendRich(el, text) {
    var last = 0;
    String(text).replace(LINK_RE, function (match, title, url, bare, offset) {
      el.appendChild(document.createTextNode(text.slice(last, offset)));
      var a = document.createElement("a");
      a.href = url || bare;
      a.textContent = title || bare;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      el.appendChild(a);
      last = offset + match.length;
      return match;
    });
    el.appendChild(document.createTextNode(text.slice(last)));
  }

  function scrollToEnd() { log.scrollTop = log.scrollHeight; }

  function bubble(kind, text) {
    var div = document.createElement("div");
    div.className = "msg " + kind;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = kind === "user" ? "我说：" : "惠民助手说：";
    div.appendChild(who);
    if (text) { appendRich(div, text); }
    log.appendChild(div);
    return div;
  }

  function addUser(text) {
    bubble("user", text);
    scrollToEnd();
  }

  function imageOf(msg) {
    if (msg.image) { return msg.image; }
    var att = msg.attachment;
    if (att && att.type === "image" && att.payload && att.payload.src) { return att.payload.src; }
    return null;
  }

  function addBot(msg) {
    var parts = msg.text ? String(msg.text).split(/\n\n+/) : [];
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].trim()) { bubble("bot", parts[i]); }
    }
    var src = imageOf(msg);
    if (src) {
      var div = bubble("bot", "");
      var img = document.createElement("img");
      img.src = src;
      img.alt = "惠民助手发来的图片";
      div.appendChild(img);
    }
    var replies = msg.quick_replies || msg.buttons || [];
    if (replies.length) {
      var group = document.createElement("div");
      group.className = "quick";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "可以点选的回答");
      replies.forEach(function (r) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = r.title;
        b.addEventListener("click", function () { send(r.payload, r.title); });
        group.appendChild(b);
      });
      log.appendChild(group);
    }
    scrollToEnd();
  }

  function render(entry) {
    if (entry.from === "user") { addUser(entry.text); } else { addBot(entry); }
  }

  function showTyping(on) {
    clearTimeout(typingTimer);
    typing.textContent = on ? "惠民助手正在输入…" : "";
    if (on) { typingTimer = setTimeout(function () { showTyping(false); }, 20000); }
  }

  function setStatus(text) { statusLine.textContent = text || ""; }

  /* ---------- talking to Rasa ---------- */
  var socket = null;

  function emitNow(message) {
    socket.emit("user_uttered", { message: message, session_id: sessionId });
  }

  function send(message, shown) {
    if (!message) { return; }
    if (shown) {
      addUser(shown);
      remember({ from: "user", text: shown });
    }
    showTyping(true);
    if (ready && socket && socket.connected) { emitNow(message); } else { outbox.push(message); }
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
      sessionId = id;
      storage.setItem(KEY_SESSION, id);
      ready = true;
      if (fresh) {
        transcript = [];
        saveLocal(transcript);
        if (cfg.initPayload && !outbox.length) { outbox.unshift(cfg.initPayload); showTyping(true); }
      }
      while (outbox.length) { emitNow(outbox.shift()); }
    });
    socket.on("bot_uttered", function (msg) {
      if (!msg) { return; }
      showTyping(false);
      addBot(msg);
      remember({ from: "bot", text: msg.text || "", quick_replies: msg.quick_replies || msg.buttons || [],
                 image: imageOf(msg) });
    });
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
      done();
    }
    var timer = setTimeout(function () { finish(loadLocal()); }, 8000);
    fetch("/chat/history?session_id=" + encodeURIComponent(sessionId), { cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (body) { clearTimeout(timer); finish(body.messages || []); })
      .catch(function () { clearTimeout(timer); finish(loadLocal()); });
  }

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
