// The knowledge editor page: list, form with live preview, save (with conflicts and problems next to fields),
// history with restore, review marking, new entries from templates, and retraining with progress.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var csrf = null;
  var state = {entry: null, data: null, isNew: false, previewTimer: null, previewSeq: 0, pendingSave: null,
               jobTimer: null, widgets: []};

  async function api(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (method !== "GET") {
      if (!csrf) { csrf = (await HuiminApi.refreshCsrf()).csrf_token; }
      headers["X-CSRF-Token"] = csrf;
    }
    var init = {method: method, headers: headers, credentials: "same-origin"};
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    var resp;
    try { resp = await fetch(path, init); }
    catch (e) { throw {status: 0, error: "network", message: "连不上工作台服务器，请检查网络后再试。"}; }
    var data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    if (!resp.ok) { data.status = resp.status; throw data; }
    return data;
  }

  var el = HuiminDom.el;
  function say(text, cls) { var m = $("messages"); m.textContent = ""; if (text) { m.appendChild(el("p", {"class": cls || "ok", text: text})); } }
  function statusLabel(s) { return s === "verified" ? "已核实" : "待核实"; }
  function fmtTime(iso) { if (!iso) { return ""; } var d = new Date(iso); return isNaN(d) ? iso : d.toLocaleString("zh-CN"); }

  // ---- paths into the form data ------------------------------------------------------------------------
  function getAt(obj, path) { for (var i = 0; i < path.length; i++) { if (obj == null) { return undefined; } obj = obj[path[i]]; } return obj; }
  function setAt(obj, path, value) {
    for (var i = 0; i < path.length - 1; i++) {
      if (obj[path[i]] == null || typeof obj[path[i]] !== "object") { obj[path[i]] = typeof path[i + 1] === "number" ? [] : {}; }
      obj = obj[path[i]];
    }
    obj[path[path.length - 1]] = value;
  }
  function pathKey(path) { return path.join("."); }
  function fieldId(path) { return "f-" + path.join("-").replace(/[^A-Za-z0-9_-]/g, "_"); }

  // ---- list --------------------------------------------------------------------------------------------
  async function loadKinds() {
    var kinds = (await api("GET", "/api/editor/kinds")).kinds;
    kinds.forEach(function (k) {
      $("filter-kind").appendChild(el("option", {value: k.kind, text: k.label}));
      if (k.can_create) { $("new-kind").appendChild(el("option", {value: k.kind, text: k.label})); }
    });
  }
  async function loadList() {
    var params = new URLSearchParams();
    ["kind", "status", "q"].forEach(function (n) { var v = $("filter-" + n).value.trim(); if (v) { params.set(n, v); } });
    var seq = state.listSeq = (state.listSeq || 0) + 1;
    var entries = (await api("GET", "/api/editor/entries?" + params.toString())).entries;
    if (seq !== state.listSeq) { return; }  // a newer filter was typed meanwhile
    var list = $("entry-list");
    list.textContent = "";
    entries.forEach(function (e) {
      if (e.kind === "locality") {
        var opt = Array.prototype.find.call($("preview-locality").options, function (o) { return o.value === e.id; });
        if (!opt) { $("preview-locality").appendChild(el("option", {value: e.id, text: e.name})); }
      }
      var current = state.entry && state.entry.kind === e.kind && state.entry.id === e.id;
      var btn = el("button", {type: "button", "aria-current": current ? "true" : "false", "data-entry": e.kind + ":" + e.id,
                              onclick: function () { openEntry(e.kind, e.id); }}, [
        el("strong", {text: e.name}), " ",
        el("span", {"class": "badge " + e.status, text: statusLabel(e.status)}),
        e.same_name ? el("span", {"class": "badge same-name", text: "同名", title: "还有别的条目也叫这个名字，请看编号区分"}) : null,
        el("br"),
        el("span", {"class": "kind", text: e.kind_label + " · " + e.id + (e.reviewed_on ? " · " + e.reviewed_on + " " + (e.reviewed_by || "") : "")})]);
      list.appendChild(el("li", {}, [btn]));
    });
    $("list-count").textContent = "共 " + entries.length + " 条";
  }

  // ---- the form ----------------------------------------------------------------------------------------
  async function openEntry(kind, id) {
    if (!mayLeave()) { return; }
    var entry = await api("GET", "/api/editor/entries/" + encodeURIComponent(kind) + "/" + encodeURIComponent(id));
    await loadConcepts();
    showEntry(entry, false);
    await loadList();
  }

  // The choices of a situation's "when" (knowledge/understanding.yml), read again with each entry opened: an
  // editor may have changed the word list meanwhile.
  async function loadConcepts() {
    try { state.concepts = (await api("GET", "/api/editor/concepts")).concepts; }
    catch (e) { state.concepts = state.concepts || null; }
  }

  function showEntry(entry, isNew) {
    state.entry = entry;
    state.isNew = isNew;
    state.dirty = false;
    state.data = JSON.parse(JSON.stringify(entry.data || {}));
    $("entry-empty").hidden = true;
    $("entry-form").hidden = false;
    $("history").hidden = true;
    $("conflict").hidden = true;
    $("general-problems").textContent = "";
    $("entry-title").textContent = (isNew ? "新建：" : "") + (entry.summary ? entry.summary.name : entry.id) +
      (isNew ? "" : "（编号 " + entry.id + "）");
    loadFeedback(entry, isNew);
    var rv = entry.review || {};
    $("entry-meta").textContent = entry.kind_label + " · 文件 knowledge/" + entry.file +
      (isNew ? "" : " · 审核：" + statusLabel(rv.status) + (rv.reviewed_on ? "（" + rv.reviewed_on + " " + (rv.reviewed_by || "") + "）" : "（未记录）"));
    $("review").hidden = isNew; $("review-status").hidden = isNew;
    $("toggle-raw").hidden = isNew; $("show-history").hidden = isNew;
    $("save").textContent = isNew ? "创建" : "保存";
    $("raw").value = entry.raw || "";
    $("raw-problem").textContent = "";
    setRaw(entry.broken);
    renderFields(entry.fields);
    if (entry.broken) { say("这个文件现在不是有效的 YAML，请在原文里修好后保存。", "error"); } else { say(""); }
    schedulePreview(0);
  }

  function setRaw(on) {
    $("raw-box").hidden = !on;
    $("fields").hidden = on;
    $("toggle-raw").setAttribute("aria-pressed", on ? "true" : "false");
    $("toggle-raw").textContent = on ? "回到表单" : "查看原文（YAML）";
  }

  function renderFields(fields) {
    var box = $("fields");
    box.textContent = "";
    state.widgets = [];
    fields.forEach(function (f) { box.appendChild(renderField(f)); });
  }

  function onEdit() { state.dirty = true; schedulePreview(600); }
  // Leaving the form (another entry, a new one, closing the page) with unsaved changes asks first.
  function mayLeave() { return !state.dirty || confirm("这个条目有还没保存的修改，确定不保存就离开吗？"); }

  function textWidget(f, multiline, asList) {
    var id = fieldId(f.path);
    var value = getAt(state.data, f.path);
    var input;
    if (multiline) {
      var text = asList ? (value || []).join("\n") : (value == null ? "" : String(value));
      input = el("textarea", {id: id, rows: Math.min(14, Math.max(asList ? 3 : 2, text.split("\n").length + 1)), spellcheck: "false"});
      input.value = text;
    } else {
      input = el("input", {id: id, type: f.type === "number" ? "number" : "text",
                           readonly: f.readonly && !state.isNew ? "readonly" : null});
      input.value = value == null ? "" : String(value);
    }
    input.addEventListener("input", function () {
      var v = input.value;
      if (asList) { v = v.split("\n").map(function (s) { return s.trim(); }).filter(function (s) { return s; }); }
      else if (f.type === "number") { v = v === "" ? null : Number(v); }
      setAt(state.data, f.path, v);
      onEdit();
    });
    return wrap(f, input, id, asList ? "一行一个" : null);
  }

  function wrap(f, input, id, hint) {
    var problem = el("p", {"class": "problem", id: id + "-problem", "aria-live": "polite"});
    input.setAttribute("aria-describedby", id + "-problem");
    var div = el("div", {"class": "field", "data-path": pathKey(f.path)}, [
      el("label", {"for": id, text: f.label + (hint ? "（" + hint + "）" : "")}), input, problem]);
    state.widgets.push({path: pathKey(f.path), div: div, problem: problem, input: input});
    return div;
  }

  function renderField(f) {
    if (f.type === "group") {
      var fs = el("fieldset", {"data-path": pathKey(f.path)}, [el("legend", {text: f.label})]);
      var problem = el("p", {"class": "problem"});
      fs.appendChild(problem);
      state.widgets.push({path: pathKey(f.path), div: fs, problem: problem});
      (f.children || []).forEach(function (c) { fs.appendChild(renderField(c)); });
      return fs;
    }
    if (f.type === "records") { return renderRecords(f); }
    if (f.type === "bool") {
      var id = fieldId(f.path);
      var cb = el("input", {id: id, type: "checkbox"});
      cb.checked = !!getAt(state.data, f.path);
      cb.addEventListener("change", function () { setAt(state.data, f.path, cb.checked); onEdit(); });
      return wrap(f, cb, id);
    }
    if (f.type === "yaml") { return jsonWidget(f); }
    if (f.type === "list") { return textWidget(f, true, true); }
    if (f.type === "text") { return textWidget(f, true, false); }
    return textWidget(f, false, false);
  }

  function jsonWidget(f) {
    var id = fieldId(f.path);
    var ta = el("textarea", {id: id, rows: 6, spellcheck: "false"});
    ta.value = JSON.stringify(getAt(state.data, f.path), null, 2);
    var w = wrap(f, ta, id, "JSON 格式");
    ta.addEventListener("input", function () {
      try { setAt(state.data, f.path, JSON.parse(ta.value)); w.querySelector(".problem").textContent = ""; onEdit(); }
      catch (e) { w.querySelector(".problem").textContent = "JSON 格式不对：" + e.message; }
    });
    return w;
  }

  function renderRecords(f) {
    var fs = el("fieldset", {"data-path": pathKey(f.path)}, [el("legend", {text: f.label})]);
    var problem = el("p", {"class": "problem"});
    fs.appendChild(problem);
    state.widgets.push({path: pathKey(f.path), div: fs, problem: problem});
    var items = getAt(state.data, f.path);
    if (!Array.isArray(items)) { items = []; setAt(state.data, f.path, items); }
    items.forEach(function (item, i) {
      var rec = el("div", {"class": "record", role: "group", "aria-label": f.label + " " + (i + 1)});
      f.columns.forEach(function (c) {
        var cf = {path: f.path.concat([i, c.key]), label: c.label, type: c.type === "list" ? "list" : c.type};
        if (c.choices === "concepts" && state.concepts) {
          var chosen = getAt(state.data, cf.path) || [];
          var unknown = chosen.filter(function (v) { return !state.concepts.some(function (k) { return k.id === v; }); });
          var picker = HuiminDom.conceptPicker(state.concepts, chosen, fieldId(cf.path), function (ids) {
            setAt(state.data, cf.path, ids.concat(unknown)); onEdit();
          });
          picker.setAttribute("aria-label", cf.label);
          picker.id = fieldId(cf.path);
          rec.appendChild(wrap(cf, picker, fieldId(cf.path), unknown.length ? "词表里没有：" + unknown.join("、") : null));
        } else if (c.type === "list") {
          var id = fieldId(cf.path);
          var input = el("input", {id: id, type: "text"});
          input.value = (getAt(state.data, cf.path) || []).join(", ");
          input.addEventListener("input", function () {
            setAt(state.data, cf.path, input.value.split(/[,，]/).map(function (s) { return s.trim(); }).filter(Boolean));
            onEdit();
          });
          rec.appendChild(wrap(cf, input, id, "用逗号分开"));
        } else {
          rec.appendChild(renderField(cf));
        }
      });
      rec.appendChild(el("button", {type: "button", "class": "secondary", text: "删除这一项", onclick: function () {
        items.splice(i, 1); renderFields(state.entry.fields); onEdit();
      }}));
      fs.appendChild(rec);
    });
    fs.appendChild(el("button", {type: "button", "class": "secondary", text: "添加一项", onclick: function () {
      var blank = {};
      f.columns.forEach(function (c) { blank[c.key] = c.type === "list" ? [] : ""; });
      items.push(blank); renderFields(state.entry.fields); onEdit();
    }}));
    return fs;
  }

  // ---- problems next to fields -------------------------------------------------------------------------
  function clearProblems() {
    state.widgets.forEach(function (w) { w.problem.textContent = ""; w.div.removeAttribute("data-invalid"); if (w.input) { w.input.removeAttribute("aria-invalid"); } });
    $("general-problems").textContent = "";
    $("raw-problem").textContent = "";
  }
  function showProblems(problems) {
    clearProblems();
    (problems || []).forEach(function (p) {
      var target = null;
      if (p.field === "raw") { $("raw-problem").textContent = (p.line ? "第 " + p.line + " 行：" : "") + p.message; return; }
      if (p.field) {
        state.widgets.forEach(function (w) {
          if ((p.field === w.path || p.field.startsWith(w.path + ".")) && (!target || w.path.length > target.path.length)) { target = w; }
        });
      }
      if (target) {
        target.problem.textContent = (target.problem.textContent ? target.problem.textContent + " " : "") + p.message;
        target.div.setAttribute("data-invalid", "true");
        if (target.input) { target.input.setAttribute("aria-invalid", "true"); }
      } else {
        $("general-problems").appendChild(el("p", {text: (p.file ? p.file + (p.line ? ":" + p.line : "") + "：" : "") + p.message}));
      }
    });
  }

  // ---- preview -----------------------------------------------------------------------------------------
  function schedulePreview(delay) {
    clearTimeout(state.previewTimer);
    state.previewTimer = setTimeout(runPreview, delay);
  }
  async function runPreview() {
    if (!state.entry || $("fields").hidden && !state.isNew) { return; }
    var seq = ++state.previewSeq;
    var id = state.isNew ? (state.data.id || "new") : state.entry.id;
    try {
      var res = await api("POST", "/api/editor/entries/" + state.entry.kind + "/" + encodeURIComponent(id) + "/preview",
                          {data: state.data, locality: $("preview-locality").value || null, "new": state.isNew});
      if (seq !== state.previewSeq) { return; }
      renderPreview(res.answers || []);
      showProblems(res.problems);
      var r = $("preview-retrain");
      r.hidden = !res.needs_retraining;
      r.textContent = res.needs_retraining ? "这次修改动了别名、例句或编号：保存后要重新训练，新说法才能被听懂。" : "";
    } catch (e) {
      if (seq === state.previewSeq) { $("preview-answers").textContent = e.message || "预览失败"; }
    }
  }
  function renderPreview(answers) {
    var box = $("preview-answers");
    box.textContent = "";
    if (!answers.length) { box.appendChild(el("p", {"class": "muted", text: "这个条目没有可预览的回答。"})); }
    answers.forEach(function (a) {
      var buttons = el("div", {"class": "buttons"});
      (a.buttons || []).forEach(function (b) { buttons.appendChild(el("span", {text: b.title || b})); });
      box.appendChild(el("div", {"class": "answer", "data-aspect": a.aspect || ""}, [
        el("h3", {text: a.label || a.aspect || ""}), el("div", {"class": "text", text: a.text || ""}), buttons]));
    });
  }

  // ---- save, conflict ----------------------------------------------------------------------------------
  async function save(version) {
    var e = state.entry;
    $("save").disabled = true;
    try {
      var res;
      if (state.isNew) {
        res = await api("POST", "/api/editor/entries/" + e.kind, {data: state.data});
      } else {
        res = await api("PUT", "/api/editor/entries/" + e.kind + "/" + encodeURIComponent(e.id),
                        {data: state.data, version: version || e.version});
      }
      afterSave(res, state.isNew ? "已创建。" : "已保存。");
    } catch (err) { onSaveError(err, "form"); }
    finally { $("save").disabled = false; }
  }
  async function saveRaw(version) {
    var e = state.entry;
    try {
      var res = await api("PUT", "/api/editor/entries/" + e.kind + "/" + encodeURIComponent(e.id) + "/raw",
                          {raw: $("raw").value, version: version || e.version});
      afterSave(res, "原文已保存。");
    } catch (err) { onSaveError(err, "raw"); }
  }
  function afterSave(res, text) {
    showEntry(res.entry, false);
    if (res.unchanged) { say("没有改动，不用保存。"); }
    else {
      say(text + (res.needs_retraining ? " 这次修改要重新训练模型才能生效（见上方）。" : " 居民马上就能看到新的回答。") +
          (res.review_reset && res.review_reset.length ? " 回答内容有改动，条目已改为“待核实”：核实之前居民看到的回答不会标“已核实”。" : ""));
    }
    if (res.warnings && res.warnings.length) {
      $("general-problems").appendChild(el("p", {"class": "muted", text: "知识库里原有的问题（不影响这次保存）：" + res.warnings.map(function (w) { return w.message; }).join("；")}));
    }
    loadList(); loadTraining();
    if (!$("history").hidden) { loadHistory(); }
  }
  function onSaveError(err, source) {
    if (err.error === "conflict") { showConflict(err, source); return; }
    if (err.error === "invalid") {
      showProblems(err.problems);
      say(err.message || "有问题，没有保存。", "error");
      return;
    }
    say(err.message || "保存失败。", "error");
  }
  function showConflict(err, source) {
    var t = err.their_change || {};
    var who = (t.changes || []).map(function (c) { return c.user + "（" + fmtTime(c.at) + "）"; }).join("、");
    $("conflict-who").textContent = (who ? who + " 在您打开之后改了这个条目。" : "这个条目在您打开之后被改过（可能是直接改了文件）。") +
      "您的修改还没有保存。下面是对方改动的内容：";
    renderDiff($("conflict-diff"), t.diff || "（没有找到对方修改前的版本，请载入最新版本对照。）");
    $("conflict").hidden = false;
    state.pendingSave = {source: source, version: err.current_version};
    $("conflict").scrollIntoView({block: "nearest"});
  }

  function renderDiff(pre, diff) {
    pre.textContent = "";
    (diff || "").split("\n").forEach(function (line) {
      var cls = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : "";
      pre.appendChild(el("span", {"class": cls}, [line + "\n"]));
    });
  }

  // ---- history, restore, review ------------------------------------------------------------------------
  var ACTIONS = {save: "修改", raw: "改原文", review: "审核", restore: "恢复", create: "新建"};
  async function loadHistory() {
    var e = state.entry;
    var revs = (await api("GET", "/api/editor/entries/" + e.kind + "/" + encodeURIComponent(e.id) + "/history")).revisions;
    var list = $("history-list");
    list.textContent = "";
    if (!revs.length) { list.appendChild(el("li", {"class": "muted", text: "还没有通过编辑器的修改记录。"})); }
    revs.forEach(function (r, i) {
      var pre = el("pre", {"class": "diff"});
      renderDiff(pre, r.diff);
      var changes = el("dl", {"class": "changes"});
      (r.changes || []).forEach(function (c) {
        changes.appendChild(el("dt", {text: c.label}));
        changes.appendChild(el("dd", {"class": "before", text: c.before === null ? "（没有）" : c.before}));
        changes.appendChild(el("dd", {"class": "after", text: c.after === null ? "（删掉了）" : c.after}));
      });
      // The newest revision is what the entry is now: restoring it would do nothing.
      var current = i === 0 && r.after_version === e.version;
      list.appendChild(el("li", {"data-revision": r.id}, [
        el("strong", {text: "#" + r.id + " " + (ACTIONS[r.action] || r.action)}), " ",
        el("span", {text: r.user + " · " + fmtTime(r.at) + (r.needs_retraining ? " · 需要重新训练" : "") + (r.note ? " · " + r.note : "")}),
        current ? el("span", {"class": "badge verified", text: "当前版本"}) : null,
        changes,
        el("details", {}, [el("summary", {text: "看原文（YAML）的改动"}), pre]),
        el("div", {"class": "entry-actions"}, [
          current ? null : el("button", {type: "button", "class": "secondary restore-after", text: "恢复成这次修改后的样子", onclick: function () { restore(r.id, "after"); }}),
          r.action !== "create" ? el("button", {type: "button", "class": "secondary restore-before", text: "撤销这次修改（恢复成修改前）", onclick: function () { restore(r.id, "before"); }}) : null])]));
    });
    $("history").hidden = false;
  }
  async function restore(revisionId, side) {
    var e = state.entry;
    if (!confirm(side === "after" ? "把条目恢复成第 " + revisionId + " 号修改后的样子？" : "撤销第 " + revisionId + " 号修改？")) { return; }
    try {
      var res = await api("POST", "/api/editor/entries/" + e.kind + "/" + encodeURIComponent(e.id) + "/restore",
                          {revision_id: revisionId, side: side, version: e.version});
      afterSave(res, "已恢复（恢复本身也记录在修改记录里）。");
      loadHistory();
    } catch (err) { onSaveError(err, "form"); }
  }
  async function markReviewed() {
    var e = state.entry;
    try {
      var res = await api("POST", "/api/editor/entries/" + e.kind + "/" + encodeURIComponent(e.id) + "/review",
                          {status: $("review-status").value, version: e.version});
      afterSave(res, "已记录审核。");
    } catch (err) { onSaveError(err, "form"); }
  }

  // ---- residents' feedback on this programme's answers ------------------------------------------------
  async function loadFeedback(entry, isNew) {
    var box = $("entry-feedback");
    box.hidden = true;
    if (isNew || entry.kind !== "program") { return; }
    try {
      var f = await api("GET", "/api/insights/feedback?program=" + encodeURIComponent(entry.id));
      if (!f.aspects.length) { return; }
      var labels = {};
      (entry.aspects || []).forEach(function (a) { labels[a.key] = a.label; });
      box.textContent = "居民反馈：" + f.aspects.map(function (a) {
        return (labels[a.aspect] || a.aspect || "其他") + " 有用 " + a.helpful + " / 没用 " + a.unhelpful;
      }).join("；") + (f.notes.length ? "。最近说缺的：" + f.notes.slice(0, 3).map(function (n) { return "“" + n.missing + "”"; }).join("、") : "");
      box.hidden = false;
    } catch (e) { /* feedback is extra information: the form works without it */ }
  }

  // "Needs new content" tasks filed from the insights page: their number beside its link.
  async function loadTasks() {
    try {
      var tasks = (await api("GET", "/api/insights/tasks")).tasks;
      $("open-tasks").textContent = tasks.length + " 项待办";
      $("open-tasks").hidden = !tasks.length;
    } catch (e) { /* the editor works without the insights feature */ }
  }

  // ---- training ----------------------------------------------------------------------------------------
  async function loadTraining() {
    try {
      var t = await api("GET", "/api/editor/training");
      $("training").classList.toggle("needs", !!t.needs_retraining);
      $("training-reason").textContent = (t.needs_retraining ? "需要重新训练：" : "") + t.reason;
      $("train").hidden = !(t.needs_retraining || t.needs_retraining === null) || !!t.current;
      if (t.current) { showJob(t.current); pollJob(t.current.id); }
      else if (t.recent && t.recent.length && !state.jobTimer) {
        var last = t.recent[0];
        if (last.status === "failed") { showJob(last); }
      }
    } catch (e) { $("training-reason").textContent = e.message || "训练状态暂时查不到。"; }
  }
  function showJob(job) {
    $("training-job").hidden = false;
    var names = {running: "训练中", succeeded: "训练完成，新模型已启用", failed: "训练失败，居民仍在用原来的模型"};
    $("job-stage").textContent = (names[job.status] || job.status) + (job.status === "running" ? "：" + job.stage : "");
    $("job-progress").value = job.progress || 0;
    $("job-pct").textContent = (job.progress || 0) + "%";
    $("job-error").textContent = job.error || "";
    if (job.log !== undefined) { $("job-log").textContent = job.log; }
  }
  function pollJob(id) {
    clearTimeout(state.jobTimer);
    state.jobTimer = setTimeout(async function () {
      try {
        var job = (await api("GET", "/api/editor/training/" + id)).job;
        showJob(job);
        if (job.status === "running") { pollJob(id); } else { state.jobTimer = null; loadTraining(); }
      } catch (e) { pollJob(id); }
    }, 2000);
  }
  async function startTraining() {
    $("train").disabled = true;
    try {
      var job = (await api("POST", "/api/editor/training", {})).job;
      $("train").hidden = true;
      showJob(job); pollJob(job.id);
    } catch (e) {
      $("training-reason").textContent = e.message || "没能开始训练。";
      if (e.job) { showJob(e.job); pollJob(e.job.id); }
    } finally { $("train").disabled = false; }
  }

  // ---- wiring ------------------------------------------------------------------------------------------
  async function init() {
    var me = await HuiminApi.refreshCsrf();
    csrf = me.csrf_token;
    HuiminApi.showUser(me.user);
    ["filter-kind", "filter-status"].forEach(function (id) { $(id).addEventListener("change", loadList); });
    var qTimer;
    $("filter-q").addEventListener("input", function () { clearTimeout(qTimer); qTimer = setTimeout(loadList, 250); });
    $("entry-form").addEventListener("submit", function (ev) { ev.preventDefault(); save(); });
    $("save-raw").addEventListener("click", function () { saveRaw(); });
    $("toggle-raw").addEventListener("click", function () { setRaw($("raw-box").hidden); if ($("raw-box").hidden) { schedulePreview(0); } });
    $("show-history").addEventListener("click", loadHistory);
    $("hide-history").addEventListener("click", function () { $("history").hidden = true; });
    $("raw").addEventListener("input", function () { state.dirty = true; });
    window.addEventListener("beforeunload", function (ev) {
      if (state.dirty) { ev.preventDefault(); ev.returnValue = ""; }
    });
    $("review").addEventListener("click", markReviewed);
    $("preview-locality").addEventListener("change", function () { schedulePreview(0); });
    $("conflict-reload").addEventListener("click", function () { state.dirty = false; openEntry(state.entry.kind, state.entry.id); });
    $("conflict-overwrite").addEventListener("click", function () {
      var p = state.pendingSave; $("conflict").hidden = true;
      if (p && p.source === "raw") { saveRaw(p.version); } else { save(p && p.version); }
    });
    $("train").addEventListener("click", startTraining);
    $("new-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      if (!mayLeave()) { return; }
      try {
        var model = await api("GET", "/api/editor/templates/" + $("new-kind").value + "?id=" +
                              encodeURIComponent($("new-id").value.trim()) + "&name=" + encodeURIComponent($("new-name").value.trim()));
        await loadConcepts();
        showEntry(model, true);
      } catch (e) { say(e.message || "没能打开模板。", "error"); }
    });
    await loadKinds();
    await loadList();
    loadTraining();
    loadTasks();
    var params = new URLSearchParams(location.search);
    if (params.get("kind") && params.get("id")) { openEntry(params.get("kind"), params.get("id")); }
  }
  init().catch(function (e) { say(e.message || "页面加载失败，请刷新。", "error"); });
})();
