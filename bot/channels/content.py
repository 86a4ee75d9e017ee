"""The WeChat channel's own content (menu, event payloads, fixed sentences) from ``bot/channels/wechat.yml``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

CONTENT_FILE = Path(__file__).with_name("wechat.yml")

# WeChat's own limits on menus (bytes of UTF-8): top-level names 16, sub-button names 60, keys 128.
_MAX_TOP, _MAX_SUB = 3, 5
_MAX_TOP_NAME, _MAX_SUB_NAME, _MAX_KEY = 16, 60, 128
_REQUIRED_TEXTS = ("choice_line", "image_line", "voice_not_recognised", "unsupported_media", "location")


class ContentError(ValueError):
    pass


@dataclass
class ChannelContent:
    menu: List[Dict[str, Any]]
    events: Dict[str, str]
    texts: Dict[str, str]
    click_payloads: Dict[str, str] = field(default_factory=dict)

    def payload_for_click(self, key: str) -> Optional[str]:
        """A menu key defined here, or (for menus installed by hand) a key that is itself a payload."""
        if key in self.click_payloads:
            return self.click_payloads[key]
        return key if key.startswith("/") else None

    def menu_for_api(self) -> Dict[str, Any]:
        """The body of ``/cgi-bin/menu/create``: our `payload` field stays here, WeChat only gets type/name/key."""
        def button(b: Dict[str, Any]) -> Dict[str, Any]:
            if "sub_button" in b:
                return {"name": b["name"], "sub_button": [button(s) for s in b["sub_button"]]}
            if "url" in b:
                return {"type": "view", "name": b["name"], "url": b["url"]}
            return {"type": "click", "name": b["name"], "key": b["key"]}
        return {"button": [button(b) for b in self.menu]}


def _check_button(b: Any, top: bool, where: str, payloads: Dict[str, str]) -> None:
    if not isinstance(b, dict) or not isinstance(b.get("name"), str) or not b["name"].strip():
        raise ContentError(f"{where}: every button needs a name")
    limit = _MAX_TOP_NAME if top else _MAX_SUB_NAME
    if len(b["name"].encode()) > limit:
        raise ContentError(f"{where}: name {b['name']!r} is longer than WeChat allows ({limit} bytes)")
    if "sub_button" in b:
        if not top:
            raise ContentError(f"{where}: sub-buttons cannot have sub-buttons")
        subs = b["sub_button"]
        if not isinstance(subs, list) or not 1 <= len(subs) <= _MAX_SUB:
            raise ContentError(f"{where}: 1 to {_MAX_SUB} sub-buttons")
        for i, s in enumerate(subs, 1):
            _check_button(s, False, f"{where} › {i}", payloads)
        return
    if "url" in b:
        if not str(b["url"]).startswith(("http://", "https://")):
            raise ContentError(f"{where}: url must start with http:// or https://")
        return
    key, payload = b.get("key"), b.get("payload")
    if not isinstance(key, str) or not key or len(key.encode()) > _MAX_KEY:
        raise ContentError(f"{where}: a click button needs a key of at most {_MAX_KEY} bytes")
    if key in payloads:
        raise ContentError(f"{where}: key {key!r} is used twice")
    if not isinstance(payload, str) or not payload.startswith("/"):
        raise ContentError(f"{where}: payload must be an intent like /ask_capabilities")
    payloads[key] = payload


def load_content(path: Optional[Path] = None) -> ChannelContent:
    path = Path(path or CONTENT_FILE)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ContentError(f"{path}: {exc}") from exc
    menu = data.get("menu") or []
    if not isinstance(menu, list) or len(menu) > _MAX_TOP:
        raise ContentError(f"{path}: menu has at most {_MAX_TOP} top-level buttons")
    payloads: Dict[str, str] = {}
    for i, b in enumerate(menu, 1):
        _check_button(b, True, f"{path.name}: menu {i}", payloads)
    texts = data.get("texts") or {}
    missing = [k for k in _REQUIRED_TEXTS if not isinstance(texts.get(k), str) or not texts[k].strip()]
    if missing:
        raise ContentError(f"{path}: texts missing: {', '.join(missing)}")
    events = {k: str(v) for k, v in (data.get("events") or {}).items()}
    return ChannelContent(menu=menu, events=events, texts=texts, click_payloads=payloads)
