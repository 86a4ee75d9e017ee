"""The editor's word lists for understanding residents through the real console app, a migrated database and a
temporary copy of knowledge/: roles and CSRF, a new distress phrase saved (file changed, history row, read live
by the second reading), refusals with the problem next to the list (an emptied list, a concept still used by a
programme's situations), and a stale version."""
from __future__ import annotations

from bot.understanding.lexicon import load_lexicon
from tests.test_editor_api import console, kdir, put  # noqa: F401  (fixtures)

URL = "/api/editor/wordlists"
PHRASE = "心里堵得慌没处说"


def _lists(model: dict) -> dict:
    return {lst["key"]: lst["phrases"] for g in model["groups"] for lst in g["lists"]}


async def test_only_editors_with_csrf_may_change_the_word_lists(console):  # noqa: F811
    anon, staff, editor = await console(None), await console("wang"), await console("zhao")
    assert (await anon.get(URL)).status == 401
    assert (await staff.get(URL)).status == 403
    model = await (await editor.get(URL)).json()
    body = {"lists": _lists(model), "version": model["version"]}
    assert (await put(staff, URL, body)).status == 403
    resp = await editor.put(URL, json=body)  # no X-CSRF-Token
    assert resp.status == 403


async def test_the_page_model_explains_each_list(console):  # noqa: F811
    editor = await console("zhao")
    model = await (await editor.get(URL)).json()
    groups = {g["id"]: g for g in model["groups"]}
    assert "居民描述自己情况" in groups["concepts"]["note"]  # from the comment at the top of understanding.yml
    notes = {lst["key"]: lst.get("note", "") for g in model["groups"] for lst in g["lists"]}
    assert "难过" in notes["distress"] and "真人" in notes["human"]
    assert "concepts.alone" in _lists(model) and "places.cities" in _lists(model)
    assert any(r["topic"] == "医保" and r["office"] for r in model["referrals"])


async def test_a_new_distress_phrase_is_saved_recorded_and_read_live(console, kdir):  # noqa: F811
    editor = await console("zhao")
    assert PHRASE not in load_lexicon(kdir).distress
    places_before = (kdir / "places.yml").read_text(encoding="utf-8")
    model = await (await editor.get(URL)).json()
    lists = _lists(model)
    lists["distress"] = lists["distress"] + [PHRASE]
    resp = await put(editor, URL, {"lists": lists, "referrals": model["referrals"], "version": model["version"]})
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    text = (kdir / "understanding.yml").read_text(encoding="utf-8")
    assert PHRASE in text
    assert "# 惠民助手“听懂居民”的词表" in text and "broad_concepts" in text and "replies:" in text
    assert (kdir / "places.yml").read_text(encoding="utf-8") == places_before  # untouched file: same bytes
    assert [r["file"] for r in result["revisions"]] == ["understanding.yml"]
    assert PHRASE in load_lexicon(kdir).distress  # the next message uses it, no retraining
    history = (await (await editor.get(URL)).json())["history"]
    assert history[0]["user"] == "zhao" and PHRASE in history[0]["diff"]
    # The old version is now stale: a second save from it is refused, not merged blindly.
    resp = await put(editor, URL, {"lists": lists, "version": model["version"]})
    assert resp.status == 409


async def test_an_emptied_list_or_a_concept_still_in_use_is_refused_in_chinese(console, kdir):  # noqa: F811
    editor = await console("zhao")
    before = (kdir / "understanding.yml").read_text(encoding="utf-8")
    model = await (await editor.get(URL)).json()
    lists = _lists(model)
    lists["human"] = ["  ", ""]
    resp = await put(editor, URL, {"lists": lists, "version": model["version"]})
    assert resp.status == 422
    problems = (await resp.json())["problems"]
    assert [p["field"] for p in problems] == ["human"] and "不能空着" in problems[0]["message"]

    lists = _lists(model)
    del lists["concepts.alone"]  # programmes' situations still say when: [alone]
    resp = await put(editor, URL, {"lists": lists, "version": model["version"]})
    assert resp.status == 422
    problems = (await resp.json())["problems"]
    assert problems and all(p["field"] == "concepts.alone" for p in problems)
    assert "还在用这个情况" in problems[0]["message"] and "alone" in problems[0]["message"]

    lists = _lists(model)
    lists["aspect_cues.fees"] = ["多少钱"]
    resp = await put(editor, URL, {"lists": lists, "version": model["version"]})
    assert resp.status == 422 and "没有这个方面" in (await resp.json())["problems"][0]["message"]
    assert (kdir / "understanding.yml").read_text(encoding="utf-8") == before


async def test_a_replica_with_its_own_copy_follows_a_word_list_save(db_url, tmp_path):
    """Published like every knowledge edit: a replica with its own knowledge/ (HUIMIN_KNOWLEDGE_SYNC=db) writes the
    saved file from the revision, and its second reading uses the phrase."""
    import shutil

    from bot.editor.publish import KnowledgeSync
    from bot.editor.wordlists import WordLists
    from tests.test_editor_api import ROOT

    console_copy, replica_copy = tmp_path / "console" / "knowledge", tmp_path / "replica" / "knowledge"
    shutil.copytree(ROOT / "knowledge", console_copy)
    shutil.copytree(ROOT / "knowledge", replica_copy)
    assert "掌柜的…出面" not in load_lexicon(replica_copy).human
    lists_service = WordLists(console_copy, db_url)
    model = lists_service.get()
    lists = _lists(model)
    lists["human"] = lists["human"] + ["掌柜的…出面"]
    await lists_service.save(lists, None, model["version"], "zhao")
    sync = KnowledgeSync(replica_copy, db_url)
    assert sync.sync_once() == 1
    assert (replica_copy / "understanding.yml").read_bytes() == (console_copy / "understanding.yml").read_bytes()
    assert "掌柜的…出面" in load_lexicon(replica_copy).human
    assert sync.sync_once() == 0


async def test_a_word_list_file_broken_by_hand_is_said_plainly(console, kdir):  # noqa: F811
    editor = await console("zhao")
    (kdir / "understanding.yml").write_text("concepts: [不配对\n", encoding="utf-8")
    resp = await editor.get(URL)
    assert resp.status == 422 and "打不开" in (await resp.json())["message"]
