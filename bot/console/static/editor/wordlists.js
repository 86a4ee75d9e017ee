// The word lists for understanding residents (knowledge/understanding.yml, places.yml): one textarea per list,
// one phrase a line; saved with the version loaded, refused problems shown next to their list.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var el = HuiminDom.el;
  var state = {model: null, widgets: {}, dirty: false};

  function fieldId(key) { return "w-" + key.replace(/[^A-Za-z0-9_]/g, "-"); }
  function lines(text) { return text.split("\n").map(function (s) { return s.trim(); }).filter(Boolean); }
  function say(text, cls) { var m = $("messages"); m.textContent = ""; if (text) { m.appendChild(el("p", {"class": cls || "ok", text: text})); } }
  function markDirty() { state.dirty = true; $("dirty").hidden = false; }

  function listField(key, label, note, phrases, removable) {
    var id = fieldId(key);
    var ta = el("textarea", {id: id, rows: Math.min(12, Math.max(4, phrases.length / 4 + 2)), spellcheck: "false",
                             "aria-describedby": id + "-problem", "data-key": key});
    ta.value = phrases.join("\n");
    ta.addEventListener("input", markDirty);
    var problem = el("p", {"class": "problem", id: id + "-problem", "aria-live": "polite"});
    var head = [el("label", {"for": id, text: label + "（一行一个）"})];
    if (removable) {
      head.push(el("button", {type: "button", "class": "secondary", text: "删除这个情况", onclick: function () {
        if (confirm("删除情况 " + label + "？项目里还在用它时，保存会被拒绝。")) { div.remove(); delete state.widgets[key]; markDirty(); }
      }}));
    }
    var div = el("div", {"class": "field", "data-key": key}, [
      el("div", {"class": "entry-actions"}, head), note ? el("p", {"class": "note", text: note}) : null, ta, problem]);
    state.widgets[key] = {div: div, input: ta, problem: problem};
    return div;
  }

  function referralRow(r, i) {
    var row = el("div", {"class": "referral", "data-referral": ""});
    function input(name, label, value) {
      var id = "w-referrals-" + i + "-" + name;
      var inp = el("input", {id: id, "data-name": name});
      inp.value = value || "";
      inp.addEventListener("input", markDirty);
      var problem = el("p", {"class": "problem", id: id + "-problem"});
      state.widgets["referrals." + i + "." + name] = {div: inp.parentNode, input: inp, problem: problem};
      return el("div", {"class": "field"}, [el("label", {"for": id, text: label}), inp, problem]);
    }
    row.appendChild(input("topic", "话题", r.topic));
    row.appendChild(input("office", "该找的部门", r.office));
    var cues = listField("referrals." + i + ".cues", "居民会说的话", "", r.cues || [], false);
    cues.classList.add("cues");
    row.appendChild(cues);
    var ca = el("input", {type: "checkbox", "data-name": "civil_affairs", id: "w-referrals-" + i + "-civil_affairs",
                          checked: r.civil_affairs ? "checked" : null});
    ca.addEventListener("change", markDirty);
    row.appendChild(el("span", {}, [ca, el("label", {"for": ca.id, text: " 民政部门别的窗口管（回答不说“不归民政部门管”）"})]));
    row.appendChild(el("button", {type: "button", "class": "secondary", text: "删除这一项", onclick: function () { row.remove(); markDirty(); }}));
    return row;
  }

  function render(model) {
    state.model = model;
    state.widgets = {};
    state.dirty = false;
    $("dirty").hidden = true;
    var box = $("groups");
    box.textContent = "";
    $("group-nav").textContent = "";
    model.groups.forEach(function (g) {
      var fs = el("fieldset", {id: "group-" + g.id, "data-group": g.id}, [el("legend", {text: g.title})]);
      if (g.note) { fs.appendChild(el("p", {"class": "note", text: g.note})); }
      var grid = el("div", {"class": "lists"});
      g.lists.forEach(function (l) { grid.appendChild(listField(l.key, l.label, l.note, l.phrases, l.removable)); });
      fs.appendChild(grid);
      if (g.id === "concepts") {
        var newId = el("input", {id: "new-concept", pattern: "[a-z][a-z0-9_]*", placeholder: "英文小写，如 lives_alone"});
        fs.appendChild(el("div", {"class": "entry-actions"}, [el("label", {"for": "new-concept", text: "新增一个情况："}), newId,
          el("button", {type: "button", "class": "secondary", text: "添加", onclick: function () {
            var id = newId.value.trim();
            if (!id || state.widgets["concepts." + id]) { return; }
            grid.appendChild(listField("concepts." + id, id, "", [], true));
            newId.value = "";
            markDirty();
          }})]));
      }
      box.appendChild(fs);
      if (g.id === "cues1") { box.appendChild(referralsGroup(model)); }
      $("group-nav").appendChild(el("a", {href: "#group-" + g.id, text: g.title}));
    });
    $("group-nav").appendChild(el("a", {href: "#group-referrals", text: "转介"}));
  }

  function referralsGroup(model) {
    var fs = el("fieldset", {id: "group-referrals", "data-group": "referrals"}, [el("legend", {text: "转介（不归我们管的事）"})]);
    if (model.referrals_note) { fs.appendChild(el("p", {"class": "note", text: model.referrals_note})); }
    var rows = el("div", {id: "referrals"});
    model.referrals.forEach(function (r, i) { rows.appendChild(referralRow(r, i)); });
    fs.appendChild(rows);
    fs.appendChild(el("button", {type: "button", id: "add-referral", "class": "secondary", text: "添加一项转介", onclick: function () {
      rows.appendChild(referralRow({topic: "", office: "", cues: []}, rows.children.length + 1000));
      markDirty();
    }}));
    return fs;
  }

  function collect() {
    var lists = {};
    Object.keys(state.widgets).forEach(function (k) {
      if (k.indexOf("referrals.") !== 0) { lists[k] = lines(state.widgets[k].input.value); }
    });
    var referrals = Array.prototype.map.call(document.querySelectorAll("[data-referral]"), function (row) {
      return {topic: row.querySelector("[data-name=topic]").value.trim(),
              office: row.querySelector("[data-name=office]").value.trim(),
              cues: lines(row.querySelector("textarea").value),
              civil_affairs: row.querySelector("[data-name=civil_affairs]").checked};
    });
    return {lists: lists, referrals: referrals};
  }

  function clearProblems() {
    Object.keys(state.widgets).forEach(function (k) {
      var w = state.widgets[k];
      w.problem.textContent = "";
      w.input.removeAttribute("aria-invalid");
    });
    $("general-problems").textContent = "";
  }

  function showProblems(problems) {
    // Referral rows are numbered by their position on the page when saved; map them back to the rows shown.
    var rows = document.querySelectorAll("[data-referral]");
    var first = null;
    problems.forEach(function (p) {
      var m = p.field && p.field.match(/^referrals\.(\d+)\.(\w+)$/);
      var w = p.field && !m ? state.widgets[p.field] : null;
      if (m && rows[+m[1]]) {
        var target = m[2] === "cues" ? rows[+m[1]].querySelector("textarea") : rows[+m[1]].querySelector("[data-name=" + m[2] + "]");
        var prob = target && target.parentNode.querySelector(".problem");
        if (target && prob) { w = {input: target, problem: prob}; }
      }
      if (w) {
        w.problem.textContent = (w.problem.textContent ? w.problem.textContent + "；" : "") + p.message;
        w.input.setAttribute("aria-invalid", "true");
        first = first || w.input;
      } else {
        $("general-problems").appendChild(el("p", {text: p.message}));
      }
    });
    if (first) { first.scrollIntoView({block: "center"}); }
  }

  function renderHistory(items) {
    var list = $("history-list");
    list.textContent = "";
    (items || []).forEach(function (r) {
      var summary = r.user + " · " + HuiminApi.fmtTime(r.at) + " · " + r.file;
      var details = el("details", {}, [el("summary", {text: summary})]);
      var pre = el("pre", {"class": "diff"});
      (r.diff || "").split("\n").forEach(function (line) {
        var cls = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : null;
        pre.appendChild(el("span", {"class": cls, text: line + "\n"}));
      });
      details.appendChild(pre);
      list.appendChild(el("li", {}, [details]));
    });
    if (!list.children.length) { list.appendChild(el("li", {"class": "muted", text: "还没有在这里改过。"})); }
  }

  async function load() {
    var model = await HuiminApi.get("/api/editor/wordlists");
    render(model);
    renderHistory(model.history);
    $("conflict").hidden = true;
  }

  async function save(ev) {
    ev.preventDefault();
    clearProblems();
    say("正在检查并保存……", "muted");
    var body = collect();
    body.version = state.model.version;
    try {
      var result = await HuiminApi.call("PUT", "/api/editor/wordlists", body);
      render(result.wordlists);
      renderHistory((await HuiminApi.get("/api/editor/wordlists")).history);
      say(result.unchanged ? "没有改动。" : "已保存，下一条消息就会用上新的词表。");
    } catch (err) {
      if (err.status === 409) { say(""); $("conflict").hidden = false; return; }
      say(err.message || "保存没有成功", "problem");
      if (err.problems) { showProblems(err.problems); }
    }
  }

  window.addEventListener("beforeunload", function (e) { if (state.dirty) { e.preventDefault(); e.returnValue = ""; } });
  $("wordlists-form").addEventListener("submit", save);
  $("conflict-reload").addEventListener("click", load);
  HuiminApi.header().then(function (user) { if (user) { return load(); } })
    .catch(function (err) { say(err.message || "载入失败", "problem"); });
})();
