"""Personal data through the running stack: a record imported from a GBK CSV is looked up in a real
conversation (REST channel) by its applicant — with the full ID number, and with the mobile number — while a
stranger learns nothing; then the tracker store, the application database and every log are searched for the
digits the residents typed. None may be there; the conversations must still have worked."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import List

import pytest

from bot.channels.rest import conversation_id

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _check(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, _W)) % 11]


def _id_ending_in_x() -> str:
    # An X check digit makes the last-6 answer ("…X") impossible to confuse with timestamps in the database.
    for seq in range(100, 999):
        first17 = f"44010619580214{seq:03d}"
        if _check(first17) == "X":
            return first17 + "X"
    raise AssertionError("no such ID")


ID_NUMBER = _id_ending_in_x()
PHONE = "13645678901"
STRANGER_PHONE = "13512349876"
NUMBER = "GZ2026123456"


def say(stack, sender: str, text: str) -> List[str]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return [m.get("text") or "" for m in json.loads(response.read())]


def sqlite_path(url: str) -> Path:
    return Path(url.split(":///", 1)[1])


def stored_bytes(path: Path) -> bytes:
    """The database file and its journal/WAL, as bytes: what an attacker with the disk would see."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


@pytest.fixture(scope="module")
def conversations(stack, tmp_path_factory):
    csv = tmp_path_factory.mktemp("gbk") / "export.csv"
    csv.write_bytes((
        "application_no,program,applicant_name,id_number,phone,status,submitted_at,updated_at,note\r\n"
        f"{NUMBER},高龄津贴,周雪梅,{ID_NUMBER},{PHONE},公示中,2026-10-20,2026-11-02 09:30,\r\n"
    ).encode("gbk"))
    env = dict(stack.env, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "bot", "applications", "import", str(csv)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(gb18030)" in result.stdout

    replies = {}
    run = f"{int(time.time())}"
    # The applicant, with the whole ID number typed as the second factor.
    a = f"privacy-a-{run}"
    replies["a1"] = say(stack, a, f"帮我查下 {NUMBER} 办得怎么样了")
    replies["a2"] = say(stack, a, f"我的身份证号是{ID_NUMBER}")
    # The applicant again, in another conversation, with the mobile number (3-4-4, as people write it).
    b = f"privacy-b-{run}"
    replies["b1"] = say(stack, b, "查一下我的申请进度")
    replies["b2"] = say(stack, b, NUMBER.lower())
    replies["b3"] = say(stack, b, f"{PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}")
    # A stranger who knows the number but not the applicant; and one with a number that does not exist.
    c = f"privacy-c-{run}"
    replies["c1"] = say(stack, c, f"查询 {NUMBER}")
    replies["c2"] = say(stack, c, STRANGER_PHONE)
    d = f"privacy-d-{run}"
    replies["d1"] = say(stack, d, "查询 GZ2026999999")
    replies["d2"] = say(stack, d, STRANGER_PHONE)
    # Personal numbers typed outside any lookup.
    e = f"privacy-e-{run}"
    replies["e1"] = say(stack, e, f"我手机{PHONE}，身份证{ID_NUMBER}，能办低保吗")
    stack.settle_logs()  # every record of these conversations is in the log files before they are searched
    return replies, {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_the_applicant_gets_the_status_and_strangers_learn_nothing(conversations):
    replies, _ = conversations
    assert any("身份证号的最后 6 位" in t for t in replies["a1"]), replies["a1"]
    for key in ("a2", "b3"):
        text = "\n".join(replies[key])
        assert "周*梅" in text and "高龄津贴" in text and "公示中" in text, (key, text)
    assert any("申请编号" in t for t in replies["b1"]) and any("最后 6 位" in t for t in replies["b2"])
    # The stranger with a real number and the one with an unknown number get the very same reply.
    assert replies["c2"] == replies["d2"]
    assert "周" not in "".join(replies["c2"]) and "公示" not in "".join(replies["c2"])


def test_no_full_id_or_phone_number_in_the_tracker_store_or_logs(stack, conversations):
    _, senders = conversations
    secrets = {
        "ID number": ID_NUMBER, "ID number (last 6)": ID_NUMBER[-6:], "mobile": PHONE,
        "mobile 3-4-4": f"{PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}", "stranger's mobile": STRANGER_PHONE,
    }
    tracker_db = sqlite_path(stack.tracker_db_url)
    places = {
        "tracker store": stored_bytes(tracker_db).decode("utf-8", errors="replace"),
        "application database": stored_bytes(sqlite_path(stack.database_url)).decode("utf-8", errors="replace"),
        "logs": stack.logs(),
    }
    # The events really are there (the search is not vacuous), and stored as JSON text.
    with sqlite3.connect(tracker_db) as conn:
        rows = conn.execute("SELECT sender_id, type_name, data FROM events WHERE sender_id IN (?, ?, ?, ?, ?)",
                            tuple(conversation_id(v) for v in senders.values())).fetchall()
    assert {r[0] for r in rows} == {conversation_id(v) for v in senders.values()}
    user_texts = [json.loads(r[2]).get("text") for r in rows if r[1] == "user"]
    # The answer typed into the lookup is masked completely; elsewhere the ID and phone keep a masked form.
    assert "我的身份证号是" + "*" * 18 in user_texts
    assert any(t and "****" in t and "能办低保吗" in t for t in user_texts)
    # JSON escapes Chinese; search the decoded event texts as well as the raw bytes.
    places["tracker events (decoded)"] = "\n".join(json.dumps(json.loads(r[2]), ensure_ascii=False) for r in rows)
    for where, text in places.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} found in {where}"
    # The verification answer slot is only ever empty or the marker.
    answers = {json.loads(r[2]).get("value") for r in rows
               if r[1] == "slot" and json.loads(r[2]).get("name") == "status_answer"}
    assert answers <= {None, "verified", "[已隐藏]"} and "verified" in answers


def test_the_rasa_api_serves_the_masked_tracker(stack, conversations):
    _, senders = conversations
    conversation = urllib.parse.quote(conversation_id(senders['b']), safe=':')
    url = f"{stack.rasa_url}/conversations/{conversation}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        tracker = response.read().decode()
    assert PHONE not in tracker and f"{PHONE[:3]} {PHONE[3:7]}" not in tracker
    assert "*" * 11 in tracker  # the answer, masked
