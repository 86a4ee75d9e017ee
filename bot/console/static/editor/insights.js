// The insights page: charts, groups of unanswered messages, acting on a group, replay, tasks.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var el = HuiminDom.el;
  var api = HuiminApi.call;
  var OUTCOMES = [
    {key: "answered", label: "答上了", color: "#2e7d32"},
    {key: "clarified", label: "要再问一句", color: "#f9a825"},
    {key: "fallback", label: "没听懂", color: "#c62828"},
    {key: "handover", label: "转人工", color: "#1565c0"}];
  var OUTCOME_LABEL = {answered: "答上了", clarified: "要再问一句", fallback: "没听懂", handover: "转人工",
                       unhelpful: "居民说没用"};
  var ACTION_LABEL = {examples: "已加为例句", alias: "已加为别名", situation: "已加为情形",
                      out_of_scope: "已标为不在服务范围", task: "已记入待办"};
  var CHANNEL = {web: "网页", wechat: "微信"};
  var state = {entries: {}};

  function say(text, cls) { var m = $("messages"); m.textContent = text || ""; m.className = cls || ""; }
  function day(iso) { return iso ? new Date(iso).toLocaleDateString("zh-CN") : ""; }
  function counts(obj, labels) {
    return Object.keys(obj || {}).map(function (k) { return (labels[k] || k) + " " + obj[k]; }).join("，");
  }

  async function loadOverview(refresh) {
    var o = await api("GET", "/api/insights/overview" + (refresh ? "?refresh=1" : ""));
    $("retention").textContent = "这里的居民原话来自对话记录，身份证号、手机号在保存时就已隐藏，这里也无法还原。" +
      "对话记录只保存 " + o.retention_days + " 天（每天运行 python -m bot retention run）：到期后，这里的原话、分组和居民反馈也一并删除。" +
      "目前共 " + o.total_messages + " 条居民提问" + (o.oldest ? "，最早一条是 " + day(o.oldest) : "") + "。";
    $("model").textContent = o.served_model ? "正在使用的模型：" + o.served_model.split("/").pop() : "连不上 Rasa 服务器";
    HuiminCharts.stackedShare($("chart-outcomes"), o.weeks.map(function (w) { return {label: w.week, values: w}; }), OUTCOMES);
    HuiminCharts.bars($("chart-top"), o.top_groups.map(function (g) {
      return {label: g.label, values: g.action ? {acted: g.count} : {open: g.count}};
    }), [{key: "open", label: "还没处理", color: "#c62828"}, {key: "acted", label: "已处理", color: "#9e9e9e"}]);
    HuiminCharts.bars($("chart-helpful"), o.helpfulness.map(function (h) {
      return {label: h.program || "（未知项目）", values: h};
    }), [{key: "helpful", label: "有用", color: "#2e7d32"}, {key: "unhelpful", label: "没用", color: "#c62828"}]);
    var week = $("week"), current = week.value;
    week.textContent = "";
    week.appendChild(el("option", {value: "", text: "全部"}));
    o.weeks_available.forEach(function (w) { week.appendChild(el("option", {value: w, text: w})); });
    week.value = current;
  }

  function replayText(g) {
    if (!g.replay) { return g.action && g.action !== "task" ? "等待重新训练后重放" : ""; }
    return "重放：" + g.replay.answered + " / " + g.replay.total + " 条现在能答上（" + (g.replay.model || "").split("/").pop() + "）";
  }

  async function loadGroups() {
    var q = new URLSearchParams({sort: $("sort").value});
    if ($("week").value) { q.set("week", $("week").value); }
    var groups = (await api("GET", "/api/insights/groups?" + q.toString())).groups;
    var body = $("groups").querySelector("tbody");
    body.textContent = "";
    $("groups-empty").hidden = groups.length > 0;
    groups.forEach(function (g) {
      var samples = el("ul", {"class": "samples"}, g.samples.map(function (s) { return el("li", {text: s}); }));
      var status = el("div", {"class": "status"}, [
        g.action ? el("p", {"class": "done", text: (ACTION_LABEL[g.action] || g.action) + "（" + g.acted_by + "，" + day(g.acted_at) + "）"}) : null,
        el("p", {"class": "replay", "data-replay": g.replay ? g.replay.answered + "/" + g.replay.total : "", text: replayText(g)})]);
      var btn = el("button", {type: "button", "class": "secondary", text: g.action ? "再处理" : "处理",
                              onclick: function () { openAction(g, tr); }});
      var tr = el("tr", {"data-group": g.id}, [
        el("td", {}, [el("strong", {text: g.label}), samples]),
        el("td", {"class": "num", text: String(g.count)}),
        el("td", {text: counts(g.channels, CHANNEL)}),
        el("td", {text: counts(g.outcomes, OUTCOME_LABEL)}),
        el("td", {text: day(g.first_seen) + " / " + day(g.last_seen)}),
        el("td", {}, [status, btn])]);
      body.appendChild(tr);
    });
  }

  async function entries(kind) {
    if (!state.entries[kind]) {
      state.entries[kind] = (await api("GET", "/api/editor/entries?kind=" + kind)).entries;
    }
    return state.entries[kind];
  }

  async function openAction(g, tr) {
    var open = tr.nextElementSibling;
    if (open && open.classList.contains("act-row")) { open.remove(); return; }
    var detail = await api("GET", "/api/insights/groups/" + g.id);
    var form = $("action-template").content.firstElementChild.cloneNode(true);
    var texts = form.querySelector(".texts");
    detail.texts.forEach(function (t, i) {
      var masked = t.indexOf("*") >= 0;
      var id = "g" + g.id + "-t" + i;
      texts.appendChild(el("div", {}, [
        el("input", {type: "checkbox", id: id, value: t, checked: masked ? null : "checked", disabled: masked ? "disabled" : null}),
        el("label", {"for": id, text: t + (masked ? "（含隐藏号码，不能用作例句）" : "")})]));
    });
    var entry = form.elements.entry, aspect = form.elements.aspect;
    var programs = await entries("program"), services = await entries("service");
    async function fillEntries() {
      // Example questions and aliases belong to programmes; a situation may also recommend a bookable service.
      var current = entry.value;
      entry.textContent = "";
      programs.forEach(function (p) {
        entry.appendChild(el("option", {value: "program:" + p.id, text: p.name + "（" + p.id + "）"}));
      });
      if (form.elements.action.value === "situation") {
        services.forEach(function (p) {
          entry.appendChild(el("option", {value: "service:" + p.id, text: "服务：" + p.name + "（" + p.id + "）"}));
        });
      }
      if (Array.prototype.some.call(entry.options, function (o) { return o.value === current; })) { entry.value = current; }
    }
    async function loadAspects() {
      aspect.textContent = "";
      if (!entry.value || entry.value.indexOf("program:") !== 0) { return; }
      var m = await api("GET", "/api/editor/entries/program/" + encodeURIComponent(entry.value.split(":")[1]));
      [{key: "overview", label: "概述类问题"}].concat(m.aspects).forEach(function (a) {
        aspect.appendChild(el("option", {value: a.key, text: a.label}));
      });
    }
    entry.addEventListener("change", loadAspects);
    await fillEntries();
    await loadAspects();
    // The concepts found in this group's messages first: they are the likely "when"; the editor ticks them.
    var when = [];
    var concepts = detail.concepts.slice().sort(function (a, b) { return b.found - a.found; }).map(function (c) {
      return {id: c.id, examples: (c.found ? ["这组里 " + c.found + " 条"] : []).concat(c.examples)};
    });
    form.querySelector("fieldset.when").appendChild(
      HuiminDom.conceptPicker(concepts, [], "g" + g.id + "-when", function (ids) { when = ids; }));
    form.elements.alias.value = g.label.length <= 40 && g.label.indexOf("*") < 0 ? g.label : "";
    function showFor() {
      var action = form.elements.action.value;
      Array.prototype.forEach.call(form.querySelectorAll("[data-for]"), function (n) {
        n.hidden = n.getAttribute("data-for").split(" ").indexOf(action) < 0;
      });
      texts.hidden = ["examples", "situation", "out_of_scope"].indexOf(action) < 0;
    }
    form.elements.action.addEventListener("change", async function () { showFor(); await fillEntries(); await loadAspects(); });
    showFor();
    form.elements.cancel.addEventListener("click", function () { row.remove(); });
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var body = {action: form.elements.action.value, entry: entry.value, aspect: aspect.value,
                  alias: form.elements.alias.value, title: form.elements.title.value, note: form.elements.note.value,
                  why: form.elements.why.value, when: when,
                  texts: Array.prototype.filter.call(texts.querySelectorAll("input:checked"), function () { return true; })
                    .map(function (c) { return c.value; })};
      try {
        var done = await api("POST", "/api/insights/groups/" + g.id + "/action", body);
        var fits = body.action === "situation" && done.action_detail ? done.action_detail.fits || [] : null;
        say("已处理：" + (ACTION_LABEL[body.action] || body.action) + "。" + (fits ? "选中的问法里，现在有 " + fits.length +
            " 条会推荐这一项（不用重新训练）。" : ""), "ok");
        row.remove();
        await Promise.all([loadGroups(), loadTasks()]);
      } catch (err) {
        var msg = err.message || "没有处理成功。";
        if (err.problems && err.problems.length) { msg += " " + err.problems.map(function (p) { return p.message; }).join("；"); }
        form.querySelector(".problem").textContent = msg;
      }
    });
    var row = el("tr", {"class": "act-row"}, [el("td", {colspan: 6}, [form])]);
    tr.parentNode.insertBefore(row, tr.nextSibling);
  }

  async function loadTasks() {
    var list = $("tasks");
    list.textContent = "";
    var tasks = (await api("GET", "/api/insights/tasks")).tasks;
    if (!tasks.length) { list.appendChild(el("li", {"class": "muted", text: "没有待办。"})); }
    tasks.forEach(function (t) {
      list.appendChild(el("li", {"data-task": t.id}, [
        el("strong", {text: t.title}), " ", el("span", {"class": "muted", text: t.created_by + " · " + day(t.created_at)}),
        t.note ? el("p", {text: t.note}) : null,
        el("button", {type: "button", "class": "secondary", text: "已完成", onclick: async function () {
          await api("POST", "/api/insights/tasks/" + t.id + "/done", {}); loadTasks();
        }})]));
    });
  }

  async function replay() {
    $("replay").disabled = true;
    try {
      var r = await api("POST", "/api/insights/replay", {});
      var ok = r.groups.reduce(function (a, g) { return a + g.answered; }, 0);
      var all = r.groups.reduce(function (a, g) { return a + g.total; }, 0);
      say("重放完成：" + r.groups.length + " 组共 " + all + " 条，正在使用的模型能答上 " + ok + " 条。", "ok");
      await loadGroups();
    } catch (e) { say(e.message || "重放失败。", "error"); }
    finally { $("replay").disabled = false; }
  }

  async function init() {
    var me = await HuiminApi.refreshCsrf();
    HuiminApi.showUser(me.user);
    $("sort").addEventListener("change", loadGroups);
    $("week").addEventListener("change", loadGroups);
    $("replay").addEventListener("click", replay);
    await loadOverview(true);
    await Promise.all([loadGroups(), loadTasks()]);
  }
  init().catch(function (e) { say(e.message || "页面加载失败，请刷新。", "error"); });
})();
