(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  $("upload").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var fd = new FormData();
    fd.append("file", $("file").files[0]);
    if ($("skip").checked) { fd.append("skip_invalid", "1"); }
    try {
      var r = await HuiminApi.post("/api/applications/import", fd);
      $("report").textContent = r.summary + (r.errors.length ? "\n\n没有导入的行：\n" + r.errors.join("\n") : "");
    } catch (e) {
      $("report").textContent = (e.summary || e.message || "导入失败") + (e.errors && e.errors.length ? "\n\n" + e.errors.join("\n") : "");
    }
  });
  $("search").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var box = $("result"); box.textContent = "";
    try {
      var d = await HuiminApi.get("/api/applications/" + encodeURIComponent($("number").value.trim()));
      var a = d.application;
      var dl = document.createElement("dl");
      [["申请编号", a.application_no], ["项目", a.program_id], ["申请人", a.applicant], ["身份证", a.id_number],
       ["电话", a.phone], ["状态", a.status], ["提交时间", a.submitted_at], ["更新时间", a.updated_at], ["备注", a.note]]
        .forEach(function (p) { var dt = document.createElement("dt"); dt.textContent = p[0]; var dd = document.createElement("dd"); dd.textContent = p[1] || "—"; dl.appendChild(dt); dl.appendChild(dd); });
      box.appendChild(dl);
      var h = document.createElement("h3"); h.textContent = "变更记录"; box.appendChild(h);
      var ul = document.createElement("ul");
      d.history.forEach(function (c) {
        var li = document.createElement("li");
        li.textContent = c.changed_at.replace("T", " ").slice(0, 16) + " " + (c.field === "created" ? "新建" : c.field + "：" + (c.old || "—") + " → " + (c.new || "—"));
        ul.appendChild(li);
      });
      box.appendChild(ul);
    } catch (e) { box.textContent = e.message || "查询失败"; }
  });
  HuiminApi.refreshCsrf();
})();
