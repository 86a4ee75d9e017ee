// Application records: a searchable list (masked), one record with its history, and the CSV import.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var labels = {programs: {}, statuses: {}};
  var FIELDS = {status: "状态", note: "备注", program_id: "项目", name: "申请人", phone: "电话", id_number: "身份证",
                submitted_at: "提交时间", updated_at: "更新时间"};
  function program(id) { return labels.programs[id] || id; }
  function status(code) { return labels.statuses[code] || code; }
  function value(field, v) { return field === "status" ? status(v) : field === "program_id" ? program(v) : v; }

  async function list() {
    var p = new URLSearchParams();
    if ($("number").value.trim()) { p.set("q", $("number").value.trim()); }
    if ($("f-program").value) { p.set("program", $("f-program").value); }
    if ($("f-status").value) { p.set("status", $("f-status").value); }
    try {
      var d = await HuiminApi.get("/api/applications?" + p.toString());
      var body = $("list"); body.textContent = "";
      $("count").textContent = d.total ? "共 " + d.total + " 条" + (d.total > d.shown ? "，显示最近更新的 " + d.shown + " 条" : "") : "没有符合条件的申请记录";
      d.applications.forEach(function (a) {
        var tr = document.createElement("tr");
        var td = document.createElement("td");
        var b = document.createElement("button");
        b.type = "button"; b.className = "secondary small"; b.textContent = a.application_no;
        b.setAttribute("aria-label", "查看申请 " + a.application_no);
        b.addEventListener("click", function () { show(a.application_no); });
        td.appendChild(b); tr.appendChild(td);
        [program(a.program_id), a.applicant, status(a.status), HuiminApi.fmtTime(a.submitted_at), HuiminApi.fmtTime(a.updated_at)]
          .forEach(function (t) { var c = document.createElement("td"); c.textContent = t; tr.appendChild(c); });
        body.appendChild(tr);
      });
    } catch (e) { HuiminApi.notice(e.message || "查询失败"); }
  }

  async function show(number) {
    var box = $("result"); box.textContent = "";
    try {
      var d = await HuiminApi.get("/api/applications/" + encodeURIComponent(number));
      var a = d.application;
      var h = document.createElement("h3"); h.textContent = "申请 " + a.application_no; box.appendChild(h);
      var dl = document.createElement("dl");
      [["申请编号", a.application_no], ["项目", program(a.program_id)], ["申请人", a.applicant], ["身份证", a.id_number],
       ["电话", a.phone], ["状态", status(a.status)], ["提交时间", HuiminApi.fmtTime(a.submitted_at)],
       ["更新时间", HuiminApi.fmtTime(a.updated_at)], ["备注", a.note]]
        .forEach(function (p) { var dt = document.createElement("dt"); dt.textContent = p[0]; var dd = document.createElement("dd"); dd.textContent = p[1] || "—"; dl.appendChild(dt); dl.appendChild(dd); });
      box.appendChild(dl);
      var h2 = document.createElement("h4"); h2.textContent = "变更记录"; box.appendChild(h2);
      var ul = document.createElement("ul");
      d.history.forEach(function (c) {
        var li = document.createElement("li");
        li.textContent = HuiminApi.fmtTime(c.changed_at) + " " + (c.field === "created" ? "新建" :
          (FIELDS[c.field] || c.field) + "：" + (value(c.field, c.old) || "—") + " → " + (value(c.field, c.new) || "—"));
        ul.appendChild(li);
      });
      box.appendChild(ul);
      h.tabIndex = -1; h.focus();
    } catch (e) { box.textContent = e.message || "查询失败"; }
  }

  function importSummary(r) {
    if (!r.imported) { return "没有导入：" + r.rows + " 行里有 " + (r.errors || []).length + " 处问题，请改好再上传。"; }
    return "导入了 " + (r.created + r.updated + r.unchanged) + " 行（共 " + r.rows + " 行）：新增 " + r.created +
      "，更新 " + r.updated + "，没有变化 " + r.unchanged + "，跳过 " + r.skipped + "。";
  }
  function rowError(text) { return String(text).replace(/^line (\d+): /, "第 $1 行："); }

  $("search").addEventListener("submit", function (ev) { ev.preventDefault(); list(); });
  $("upload").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var fd = new FormData();
    fd.append("file", $("file").files[0]);
    if ($("skip").checked) { fd.append("skip_invalid", "1"); }
    try {
      var r = await HuiminApi.post("/api/applications/import", fd);
      $("report").textContent = importSummary(r) + (r.errors.length ? "\n\n没有导入的行：\n" + r.errors.map(rowError).join("\n") : "");
      list();
    } catch (e) {
      $("report").textContent = (e.rows !== undefined ? importSummary(e) : e.message || "导入失败") +
        (e.errors && e.errors.length ? "\n\n" + e.errors.map(rowError).join("\n") : "");
    }
  });
  (async function init() {
    var me = await HuiminApi.header();
    if (!me) { return; }
    // Importing overwrites records: only the importer role (or admin) may, and the page says so.
    var mayImport = me.role === "importer" || me.role === "admin";
    $("upload").hidden = !mayImport;
    $("upload-note").hidden = mayImport;
    labels = await HuiminApi.labels();
    Object.keys(labels.programs).forEach(function (k) { $("f-program").add(new Option(labels.programs[k], k)); });
    Object.keys(labels.statuses).forEach(function (k) { $("f-status").add(new Option(labels.statuses[k], k)); });
    list();
  })();
})();
