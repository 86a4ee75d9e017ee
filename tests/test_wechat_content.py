"""The WeChat menu and event payloads point at intents the assistant knows, and bad menus are refused clearly."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.channels.content import CONTENT_FILE, ContentError, load_content

ROOT = Path(__file__).resolve().parent.parent


def _domain_intents():
    intents = set()
    for f in (ROOT / "bot" / "domain").glob("*.yml"):
        for item in (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("intents") or []:
            intents.add(item if isinstance(item, str) else next(iter(item)))
    return intents


def test_every_menu_and_event_payload_is_a_known_intent():
    content = load_content()
    intents = _domain_intents()
    payloads = list(content.click_payloads.values()) + list(content.events.values())
    assert payloads
    for payload in payloads:
        intent = re.match(r"/([A-Za-z_]+)", payload).group(1)
        assert intent in intents, f"{payload} is not an intent of bot/domain"


@pytest.mark.parametrize("change,reason", [
    (lambda d: d["menu"].append(dict(d["menu"][0])), "at most 3"),
    (lambda d: d["menu"][0].update(name="一二三四五六七八"), "longer than WeChat allows"),
    (lambda d: d["menu"][1].update(key=d["menu"][0]["sub_button"][0]["key"]), "used twice"),
    (lambda d: d["menu"][1].update(payload="ask_capabilities"), "payload must be an intent"),
    (lambda d: d["texts"].pop("unsupported_media"), "texts missing"),
])
def test_bad_menus_are_refused_with_the_reason(tmp_path, change, reason):
    data = yaml.safe_load(CONTENT_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "wechat.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match=reason):
        load_content(path)
