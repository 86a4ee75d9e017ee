"""What a resident's message says about a booking: service, at home or at a site, which site, the address, the day
and time, who receives the service and a contact mobile — any of them, in any order, several in one message.

Pure functions; the date/time part is ``bot.booking.when``. The contact mobile leaves this module only as a mask
and a keyed hash (``bot.privacy``).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from bot.booking.catalogue import Catalogue
from bot.booking.when import When, parse
from bot.privacy import MOBILE_RE, keyed_hash, mask_phone, to_halfwidth

PHONE_PURPOSE = "booking_phone"
CODE_RE = re.compile(r"YY\d{11,14}", re.IGNORECASE)

_HOME_WORDS = ("上门", "来家里", "到家里", "到家", "家里来", "来我家", "送到家", "送饭", "送餐", "在家",
               "派人来", "派个人来")
_SITE_WORDS = ("到服务站", "去服务站", "到站里", "去站里", "站里", "到中心", "去中心", "服务站", "服务中心",
               "堂食", "去食堂", "到食堂", "食堂吃")
_RELATIONS = ("妈妈", "老妈", "母亲", "妈", "爸爸", "老爸", "父亲", "爸", "奶奶", "爷爷", "外婆", "姥姥", "外公",
              "姥爷", "老伴儿", "老伴", "婆婆", "公公", "岳母", "岳父", "丈母娘", "老丈人", "姑姑", "舅舅", "姨妈",
              "阿姨")
_RELATION_RE = re.compile(r"我(?:的)?(" + "|".join(_RELATIONS) + r")")
_SELF_RE = re.compile(r"我自己|本人|给我约|帮我自己")
_NAME_RE = re.compile(r"(?:老人|他|她|名字|姓名)(?:叫|是)\s*([\u4e00-\u9fa5·]{2,6})")
_ADDRESS_RE = re.compile(r"(?:住在|家住|家在|我住|老人住|她住|他住|住(?!院)|地址是|地址:|住址是|住址:)"
                         r"\s*([^，,。；;！!？?\s]{4,60})")
_ADDRESS_HINT = re.compile(r"[路街巷弄道村号楼栋幢室苑园里院区]|小区|公寓|新村")
_LEADING_FILLER = re.compile(r"^(?:是|叫|就是|嗯|好的|好|名字是|姓名是|老人叫|她叫|他叫)+")
_TRAILING_PUNCTUATION = "。.!！，,"


def _strip_filler(text: str) -> str:
    """Without leading fillers ("就是…", "她叫…") and trailing punctuation. Not a ``[…]+$`` regex: that is retried
    from every position of a long punctuation run and takes quadratic time."""
    text = _LEADING_FILLER.sub("", text, count=1)
    end = len(text)
    while end and (text[end - 1] in _TRAILING_PUNCTUATION or text[end - 1].isspace()):
        end -= 1
    return text[:end]
# "我本人，刘福贵" answers who the booking is for (the resident) and gives the name: the name is what counts.
_SELF_PREFIX = re.compile(r"^(?:我本人|我自己|本人|我就是|我是|我叫)[，,、:：\s]*")


def name_as_given(text: str) -> str:
    """The booker's name in an answer to "who is it for" (我本人，刘福贵 → 刘福贵; 本人 stays 本人)."""
    candidate = _strip_filler(text or "").strip()
    return _SELF_PREFIX.sub("", candidate).strip() or candidate


def is_relation(person: str) -> bool:
    """True when the booker was given as who they are to the resident (本人, 我妈), not by name: nothing to mask."""
    return person == "本人" or bool(_RELATION_RE.fullmatch(person or ""))


@dataclass
class Message:
    text: str = ""
    intent: str = ""
    entities: List[Dict[str, Any]] = field(default_factory=list)

    def entity(self, name: str) -> Optional[str]:
        for e in reversed(self.entities):
            if e.get("entity") == name and e.get("value"):
                return str(e["value"])
        return None


@dataclass
class Understood:
    service: Optional[str] = None
    mode: Optional[str] = None
    site: Optional[str] = None
    address: Optional[str] = None
    address_invalid: bool = False
    when: When = field(default_factory=When)
    person: Optional[str] = None
    phone_masked: Optional[str] = None
    phone_hash: Optional[str] = None
    phone_invalid: bool = False
    code: Optional[str] = None

    @property
    def anything(self) -> bool:
        return any([self.service, self.mode, self.site, self.address, not self.when.empty, self.person,
                    self.phone_masked, self.code])


def phone_of(text: str) -> Optional[str]:
    m = MOBILE_RE.search(to_halfwidth(text or ""))
    return "".join(m.groups()) if m else None


def when_of(message: Message, now: dt.datetime) -> When:
    """A button payload carries an exact ISO time (entity ``booking_when``); otherwise read the words."""
    iso = message.entity("booking_when")
    if iso:
        try:
            at = dt.datetime.fromisoformat(iso)
            return When(date=at.date(), time=at.time())
        except ValueError:
            pass
    text = message.text or ""
    if text.startswith("/"):
        return When()
    # A mobile number is not a date or a time.
    return parse(MOBILE_RE.sub(" ", to_halfwidth(text)), now)


def understand(message: Message, catalogue: Catalogue, now: dt.datetime,
               requested: Optional[str] = None) -> Understood:
    text = to_halfwidth(message.text or "")
    plain = "" if text.startswith("/") else text
    u = Understood()

    # Several services matched ("派人来家里看看装扶手"): the one named last is what the resident asks for.
    named = [e for e in message.entities if e.get("entity") == "service" and e.get("value") in catalogue.services]
    value = max(named, key=lambda e: e.get("end") or 0)["value"] if named else None
    service = catalogue.services.get(value) if value else None
    service = service or (catalogue.find_service(plain) if plain else None)
    u.service = service.id if service else None

    value = message.entity("site")
    site = catalogue.sites.get(value) if value else None
    site = site or (catalogue.find_site(plain) if plain else None)
    u.site = site.id if site else None

    if any(w in plain for w in _HOME_WORDS):
        u.mode = "home"
    elif u.site or any(w in plain for w in _SITE_WORDS):
        u.mode = "site"

    code = message.entity("booking_code") or (CODE_RE.search(plain).group(0) if CODE_RE.search(plain) else None)
    u.code = code.upper() if code else None

    number = phone_of(plain) or (phone_of(message.entity("phone") or "") if message.entity("phone") else None)
    if number:
        u.phone_masked, u.phone_hash = mask_phone(number), keyed_hash(number, PHONE_PURPOSE)
    elif requested == "booking_phone" and len(re.sub(r"\D", "", plain)) >= 5:
        u.phone_invalid = True

    # Free text answers are only taken as such when that is what we asked for. When we asked for an address or
    # a name but the answer is a date/time ("明天上午"), it is a date/time, not an address ("3号楼" is not a day).
    when_only = False
    if requested not in ("booking_address", "booking_person", "booking_phone"):
        u.when = when_of(message, now)
    elif requested != "booking_phone" and plain:
        w = when_of(message, now)
        covered = sum(b - a for a, b in w.spans)
        if not w.empty and covered >= 0.6 * len(re.sub(r"[\s，,。.!！?？]", "", plain)):
            u.when, when_only = w, True

    m = _ADDRESS_RE.search(plain)
    if m:
        u.address = m.group(1)
    elif requested == "booking_address" and plain and not u.phone_masked and not when_only:
        candidate = _strip_filler(plain).strip()
        if len(candidate) >= 4 and _ADDRESS_HINT.search(candidate):
            u.address = candidate[:200]
        else:
            u.address_invalid = True
    if u.address:
        u.mode = u.mode or "home"

    m = _NAME_RE.search(plain)
    relation = _RELATION_RE.search(plain)
    if m:
        u.person = m.group(1)
    elif requested == "booking_person" and plain and not u.phone_masked and not when_only:
        candidate = name_as_given(plain)
        if 1 <= len(candidate) <= 20 and not re.search(r"\d", candidate):
            u.person = candidate
    elif relation:
        u.person = "我" + relation.group(1)
    elif _SELF_RE.search(plain):
        u.person = "本人"
    return u
