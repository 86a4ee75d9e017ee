/* 有用 / 没用 under knowledge answers. Kept apart from chat.js: it only watches the conversation log, asks the
   console which answer (if any) the latest turn was, and adds two buttons after it. */
(function () {
  "use strict";
  var KEY_SESSION = "huimin.chat.session";
  var log = document.getElementById("log");
  if (!log || !window.fetch || !window.MutationObserver) { return; }
  var timer = null;
  var shown = {};  // answer id -> true: one bar per answer

  function sessionId() {
    try { return window.localStorage.getItem(KEY_SESSION); } catch (e) { return null; }
  }

  function botBubbles() {
    return Array.prototype.slice.call(log.querySelectorAll(".msg.bot"));
  }

  function bubbleText(div) {
    var body = div.querySelector(".text");
    if (body) { return body.textContent || ""; }
    var who = div.querySelector(".who");
    var text = div.textContent || "";
    return who ? text.slice((who.textContent || "").length) : text;
  }

  // The bubble the answer starts with: the tracker store is written at the end of the turn, so the console
  // may not know the newest answer yet; only attach when the texts agree.
  function answerBubble(start) {
    var probe = (start || "").split(/\n\n+/)[0].slice(0, 20);
    var bubbles = botBubbles().slice(-8);
    for (var i = bubbles.length - 1; i >= 0; i--) {
      if (probe && bubbleText(bubbles[i]).indexOf(probe) === 0) { return bubbles[i]; }
    }
    return null;
  }

  function post(body) {
    return fetch("/chat/feedback", { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify(body), credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  function thanks(bar, text) {
    bar.textContent = "";
    var p = document.createElement("p");
    p.className = "feedback-thanks";
    p.textContent = text;
    bar.appendChild(p);
  }

  function missingForm(bar, answerId) {
    var form = document.createElement("form");
    form.className = "feedback-missing";
    var label = document.createElement("label");
    var fid = "feedback-missing-" + answerId;
    label.setAttribute("for", fid);
    label.textContent = "缺了什么？（可以不填）";
    var ta = document.createElement("textarea");
    ta.id = fid; ta.rows = 2; ta.maxLength = 500;
    var send = document.createElement("button");
    send.type = "submit"; send.textContent = "告诉我们";
    form.appendChild(label); form.appendChild(ta); form.appendChild(send);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = ta.value.trim();
      if (!text) { thanks(bar, "谢谢您告诉我们，我们会改进。"); return; }
      send.disabled = true;
      post({ session_id: sessionId(), answer_id: answerId, helpful: false, missing: text })
        .then(function () { thanks(bar, "谢谢！您说的我们记下了，会尽快补上。"); })
        .catch(function () { send.disabled = false; });
    });
    return form;
  }

  function bar(answerId) {
    var div = document.createElement("div");
    div.className = "feedback";
    div.setAttribute("role", "group");
    div.setAttribute("aria-label", "这个回答有用吗");
    div.setAttribute("data-answer", String(answerId));
    var q = document.createElement("span");
    q.textContent = "这个回答有用吗？";
    div.appendChild(q);
    [["有用", true], ["没用", false]].forEach(function (pair) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = pair[0];
      b.className = pair[1] ? "feedback-yes" : "feedback-no";
      b.addEventListener("click", function () {
        Array.prototype.forEach.call(div.querySelectorAll("button"), function (x) { x.disabled = true; });
        post({ session_id: sessionId(), answer_id: answerId, helpful: pair[1] })
          .then(function () {
            if (pair[1]) { thanks(div, "谢谢您的反馈！"); return; }
            div.textContent = "";
            var p = document.createElement("p");
            p.textContent = "抱歉没帮上忙。";
            div.appendChild(p);
            div.appendChild(missingForm(div, answerId));
          })
          .catch(function () {
            Array.prototype.forEach.call(div.querySelectorAll("button"), function (x) { x.disabled = false; });
          });
      });
      div.appendChild(b);
    });
    return div;
  }

  function place(div, bubble) {
    // After the answer's bubbles and its quick replies, before the next turn.
    var node = bubble;
    while (node.nextElementSibling && (node.nextElementSibling.classList.contains("bot") ||
           node.nextElementSibling.classList.contains("quick"))) { node = node.nextElementSibling; }
    log.insertBefore(div, node.nextElementSibling);
  }

  function check(attempt) {
    var sid = sessionId();
    if (!sid) { return; }
    fetch("/chat/feedback/target?session_id=" + encodeURIComponent(sid), { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        var a = body && body.answer;
        if (!a || shown[a.answer_id] || body.given !== null) { return; }
        var bubble = answerBubble(a.text_start);
        if (!bubble) {
          if (attempt < 4) { timer = setTimeout(function () { check(attempt + 1); }, 800 * (attempt + 1)); }
          return;
        }
        shown[a.answer_id] = true;
        place(bar(a.answer_id), bubble);
      })
      .catch(function () { /* feedback is optional: never disturb the conversation */ });
  }

  new MutationObserver(function (records) {
    var botAdded = records.some(function (r) {
      return Array.prototype.some.call(r.addedNodes, function (n) {
        return n.nodeType === 1 && n.classList.contains("msg") && n.classList.contains("bot");
      });
    });
    if (!botAdded) { return; }
    clearTimeout(timer);
    timer = setTimeout(function () { check(0); }, 700);
  }).observe(log, { childList: true });
})();
