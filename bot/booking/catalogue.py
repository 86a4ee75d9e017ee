"""The bookable catalogue: services (``knowledge/services/*.yml``) and the sites that offer them
(``knowledge/sites/*.yml``, plus ``knowledge/sites/_holidays.yml``).

``load_catalogue`` returns a validated, immutable ``Catalogue``; ``check`` reports every problem with file and
line (it is registered with ``python -m bot kb check``); ``entity_phrases`` feeds the NLU phrase matcher.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

try:  # the KB engineer's shared problem record (file, line, message)
    from bot.knowledge.schema import Problem
except ImportError:  # pragma: no cover - only while bot.knowledge is not there yet
    try:
        from bot.knowledge.check import Problem  # type: ignore
    except ImportError:
        @dataclass(frozen=True)
        class Problem:  # type: ignore[no-redef]
            file: str
            line: int
            message: str

MODES = ("site", "home")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class CatalogueError(ValueError):
    def __init__(self, problems: List[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.file}:{p.line}: {p.message}" for p in problems[:5]))


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    aliases: Tuple[str, ...]
    description: str
    for_whom: str
    modes: Tuple[str, ...]
    duration_minutes: int
    price_note: str
    prepare: str


@dataclass(frozen=True)
class Offering:
    """One service in one mode at one site: its time slots and booking rules."""
    site_id: str
    service_id: str
    mode: str
    hours: Tuple[Tuple[dt.time, dt.time], ...]
    slot_minutes: int
    capacity: int
    horizon_days: int
    notice_days: int = 0
    notice_hours: int = 0


@dataclass(frozen=True)
class GeoPoint:
    """A point as WeChat sends it: GCJ-02 latitude and longitude, in degrees."""
    lat: float
    lng: float


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    aliases: Tuple[str, ...]
    address: str
    phone: str
    open_days: Tuple[int, ...]  # date.weekday() numbers
    hours: Tuple[dt.time, dt.time]
    closed_on_public_holidays: bool
    home_service_area: Tuple[str, ...]
    offerings: Tuple[Offering, ...]
    demo: bool = False
    location: Optional[GeoPoint] = None  # optional; used to suggest the nearest site (bot/booking/nearest.py)


@dataclass(frozen=True)
class Holiday:
    name: str
    start: dt.date
    end: dt.date


@dataclass
class Catalogue:
    services: Dict[str, Service] = field(default_factory=dict)
    sites: Dict[str, Site] = field(default_factory=dict)
    holidays: Tuple[Holiday, ...] = ()

    def holiday_on(self, day: dt.date) -> Optional[str]:
        for h in self.holidays:
            if h.start <= day <= h.end:
                return h.name
        return None

    def closed_reason(self, site: Site, day: dt.date) -> Optional[str]:
        """None when the site is open that day, else 'holiday:<name>' or 'weekday'."""
        if site.closed_on_public_holidays:
            name = self.holiday_on(day)
            if name:
                return f"holiday:{name}"
        if day.weekday() not in site.open_days:
            return "weekday"
        return None

    def offering(self, site_id: str, service_id: str, mode: str) -> Optional[Offering]:
        site = self.sites.get(site_id)
        if site is None:
            return None
        return next((o for o in site.offerings if o.service_id == service_id and o.mode == mode), None)

    def offerings(self, service_id: str, mode: Optional[str] = None) -> List[Offering]:
        return [o for s in self.sites.values() for o in s.offerings
                if o.service_id == service_id and (mode is None or o.mode == mode)]

    def modes_offered(self, service_id: str) -> List[str]:
        found = {o.mode for o in self.offerings(service_id)}
        return [m for m in MODES if m in found]

    def sites_for(self, service_id: str, mode: str) -> List[Site]:
        return [self.sites[o.site_id] for o in self.offerings(service_id, mode)]

    def site_for_address(self, service_id: str, address: str) -> Optional[Site]:
        """The site that serves an address at home: the one whose area the address mentions, else the first."""
        candidates = self.sites_for(service_id, "home")
        for site in candidates:
            if any(place in address for place in site.home_service_area):
                return site
        return candidates[0] if candidates else None

    def find_service(self, text: str) -> Optional[Service]:
        return _longest_match(text, ((p, s) for s in self.services.values() for p in (s.name,) + s.aliases))

    def find_site(self, text: str) -> Optional[Site]:
        return _longest_match(text, ((p, s) for s in self.sites.values() for p in (s.name,) + s.aliases))


def _longest_match(text: str, pairs: Iterable[Tuple[str, Any]]) -> Any:
    best, best_len = None, 0
    for phrase, item in pairs:
        if phrase and phrase in text and len(phrase) > best_len:
            best, best_len = item, len(phrase)
    return best


# ---------------------------------------------------------------- loading and validation

class _Collector:
    def __init__(self, root: Path):
        self.root = root
        self.problems: List[Problem] = []

    def add(self, path: Path, line: int, message: str) -> None:
        try:
            name = str(path.relative_to(self.root.parent))
        except ValueError:
            name = str(path)
        self.problems.append(Problem(name, line, message))


def _line(node: Any, key: Any = None) -> int:
    try:
        if key is None:
            return node.lc.line + 1
        if isinstance(key, int):
            return node.lc.item(key)[0] + 1
        return node.lc.key(key)[0] + 1
    except Exception:  # plain scalars carry no position; the mapping's own line is close enough
        return getattr(getattr(node, "lc", None), "line", 0) + 1 if hasattr(node, "lc") else 1


def _text(v: Any) -> str:
    return str(v).strip() if v is not None else ""


def _as_date(v: Any) -> Optional[dt.date]:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        return None


def _span(value: str) -> Optional[Tuple[dt.time, dt.time]]:
    m = _HOURS_RE.match(str(value).strip())
    if not m:
        return None
    start = dt.time(int(m.group(1)), int(m.group(2)))
    end = dt.time(int(m.group(3)), int(m.group(4)))
    return (start, end) if start < end else None


def _read(path: Path, c: _Collector) -> Any:
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
        c.add(path, line, f"不是合法的 YAML：{exc}")
        return None


def _load_service(path: Path, data: Any, c: _Collector) -> Optional[Service]:
    if not isinstance(data, dict):
        c.add(path, 1, "服务文件应是一个映射（id、name、aliases……）")
        return None
    ok = True
    for key in ("id", "name", "description", "for_whom", "price_note", "prepare"):
        if not _text(data.get(key)):
            c.add(path, _line(data), f"缺少必填字段 {key}")
            ok = False
    sid = _text(data.get("id"))
    if sid and not _ID_RE.match(sid):
        c.add(path, _line(data, "id"), f"id “{sid}” 只能用小写字母、数字和下划线")
        ok = False
    if sid and sid != path.stem:
        c.add(path, _line(data, "id"), f"id “{sid}” 要和文件名 {path.stem} 一致")
        ok = False
    aliases = data.get("aliases") or []
    if not isinstance(aliases, list) or not all(_text(a) for a in aliases):
        c.add(path, _line(data, "aliases") if "aliases" in data else 1, "aliases 应是非空文字的列表")
        ok = False
    modes = data.get("modes") or []
    if not isinstance(modes, list) or not modes or any(m not in MODES for m in modes):
        c.add(path, _line(data, "modes") if "modes" in data else 1, "modes 应是 [site]、[home] 或 [site, home]")
        ok = False
    duration = data.get("duration_minutes")
    if not isinstance(duration, int) or not 5 <= duration <= 480:
        c.add(path, _line(data, "duration_minutes") if "duration_minutes" in data else 1,
              "duration_minutes 应是 5 到 480 之间的整数（分钟）")
        ok = False
    price = _text(data.get("price_note"))
    if price and not any(w in price for w in ("各地", "当地", "为准")):
        c.add(path, _line(data, "price_note"), "price_note 要提醒收费和补贴各地不同、以当地公布为准")
        ok = False
    if not ok:
        return None
    return Service(id=sid, name=_text(data["name"]), aliases=tuple(_text(a) for a in aliases),
                   description=_text(data["description"]), for_whom=_text(data["for_whom"]),
                   modes=tuple(modes), duration_minutes=duration, price_note=price, prepare=_text(data["prepare"]))


def _positive(entry: Any, key: str, path: Path, c: _Collector, default: Optional[int] = None,
              minimum: int = 1, maximum: int = 10_000) -> Optional[int]:
    value = entry.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        c.add(path, _line(entry, key) if key in entry else _line(entry),
              f"{key} 应是 {minimum} 到 {maximum} 之间的整数")
        return None
    return value


def _load_offering(site_id: str, site_hours: Tuple[dt.time, dt.time], path: Path, entry: Any,
                   services: Dict[str, Service], c: _Collector) -> Optional[Offering]:
    if not isinstance(entry, dict):
        c.add(path, 1, "services 里每一项应是一个映射")
        return None
    sid = _text(entry.get("service"))
    mode = _text(entry.get("mode"))
    ok = True
    service = services.get(sid)
    if service is None:
        c.add(path, _line(entry, "service") if "service" in entry else _line(entry),
              f"没有这个服务：“{sid}”（见 knowledge/services/）")
        ok = False
    if mode not in MODES:
        c.add(path, _line(entry, "mode") if "mode" in entry else _line(entry), "mode 应是 site 或 home")
        ok = False
    elif service is not None and mode not in service.modes:
        c.add(path, _line(entry, "mode"), f"服务 {sid} 不提供 {mode} 方式（见它的 modes）")
        ok = False
    raw_hours = entry.get("hours") or [f"{site_hours[0]:%H:%M}-{site_hours[1]:%H:%M}"]
    spans = []
    for i, h in enumerate(raw_hours if isinstance(raw_hours, list) else [raw_hours]):
        span = _span(h)
        if span is None:
            c.add(path, _line(entry, "hours"), f"时间段 “{h}” 应写成 09:00-11:30")
            ok = False
        elif mode == "site" and (span[0] < site_hours[0] or span[1] > site_hours[1]):
            c.add(path, _line(entry, "hours"), f"时间段 {h} 超出了服务站的开放时间")
            ok = False
        else:
            spans.append(span)
    slot = _positive(entry, "slot_minutes", path, c, maximum=480)
    cap = _positive(entry, "capacity", path, c, maximum=500)
    horizon = _positive(entry, "horizon_days", path, c, maximum=90)
    notice_days = _positive(entry, "notice_days", path, c, default=0, minimum=0, maximum=30)
    notice_hours = _positive(entry, "notice_hours", path, c, default=0, minimum=0, maximum=72)
    if None in (slot, cap, horizon, notice_days, notice_hours):
        ok = False
    if ok and slot:
        for start, end in spans:
            minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
            if minutes < slot:
                c.add(path, _line(entry, "hours"), f"时间段 {start:%H:%M}-{end:%H:%M} 放不下一个 {slot} 分钟的时段")
                ok = False
    if not ok:
        return None
    return Offering(site_id=site_id, service_id=sid, mode=mode, hours=tuple(spans), slot_minutes=slot,
                    capacity=cap, horizon_days=horizon, notice_days=notice_days, notice_hours=notice_hours)


def degrees(value: Any, limit: float) -> Optional[float]:
    """``value`` as degrees when it is a finite number within ±limit (90 for latitude, 180 for longitude)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and -limit <= value <= limit else None


def _load_location(path: Path, data: Any, c: _Collector) -> Tuple[bool, Optional[GeoPoint]]:
    """(ok, point): the optional ``location: {lat: …, lng: …}`` of a site."""
    if data.get("location") is None:
        return True, None
    raw = data["location"]
    line = _line(data, "location")
    if not isinstance(raw, dict) or set(raw) - {"lat", "lng"}:
        c.add(path, line, "location 应写成 {lat: 32.03, lng: 118.79}（纬度、经度，GCJ-02 坐标）")
        return False, None
    lat, lng = degrees(raw.get("lat"), 90), degrees(raw.get("lng"), 180)
    if lat is None:
        c.add(path, _line(raw, "lat") if "lat" in raw else line, "location 的 lat（纬度）应是 -90 到 90 之间的数字")
    if lng is None:
        c.add(path, _line(raw, "lng") if "lng" in raw else line, "location 的 lng（经度）应是 -180 到 180 之间的数字")
    if lat is None or lng is None:
        return False, None
    return True, GeoPoint(lat, lng)


def _load_site(path: Path, data: Any, services: Dict[str, Service], c: _Collector) -> Optional[Site]:
    if not isinstance(data, dict):
        c.add(path, 1, "服务站文件应是一个映射（id、name、address……）")
        return None
    ok = True
    for key in ("id", "name", "address", "phone", "hours"):
        if not _text(data.get(key)):
            c.add(path, _line(data), f"缺少必填字段 {key}")
            ok = False
    site_id = _text(data.get("id"))
    if site_id and (not _ID_RE.match(site_id) or site_id != path.stem):
        c.add(path, _line(data, "id"), f"id “{site_id}” 只能用小写字母、数字和下划线，并和文件名一致")
        ok = False
    days = data.get("open_days") or []
    if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
        c.add(path, _line(data, "open_days") if "open_days" in data else 1,
              "open_days 应是 mon tue wed thu fri sat sun 中的几个")
        ok = False
    hours = _span(_text(data.get("hours")))
    if hours is None:
        c.add(path, _line(data, "hours") if "hours" in data else 1, "hours 应写成 08:30-17:00")
        return None
    if not isinstance(data.get("closed_on_public_holidays", True), bool):
        c.add(path, _line(data, "closed_on_public_holidays"), "closed_on_public_holidays 应是 true 或 false")
        ok = False
    location_ok, location = _load_location(path, data, c)
    ok = ok and location_ok
    offerings = []
    seen = set()
    for entry in data.get("services") or []:
        off = _load_offering(site_id, hours, path, entry, services, c)
        if off is None:
            ok = False
            continue
        if (off.service_id, off.mode) in seen:
            c.add(path, _line(entry), f"{off.service_id}（{off.mode}）重复了")
            ok = False
        seen.add((off.service_id, off.mode))
        offerings.append(off)
    if not offerings:
        c.add(path, _line(data), "services 里至少要有一项服务")
        ok = False
    if not ok:
        return None
    return Site(id=site_id, name=_text(data["name"]), aliases=tuple(_text(a) for a in data.get("aliases") or []),
                address=_text(data["address"]), phone=_text(data["phone"]),
                open_days=tuple(WEEKDAYS.index(d) for d in days), hours=hours,
                closed_on_public_holidays=bool(data.get("closed_on_public_holidays", True)),
                home_service_area=tuple(_text(a) for a in data.get("home_service_area") or []),
                offerings=tuple(offerings), demo=bool(data.get("demo", False)), location=location)


def _load_holidays(path: Path, data: Any, c: _Collector) -> List[Holiday]:
    out: List[Holiday] = []
    items = data.get("holidays") if isinstance(data, dict) else None
    if not isinstance(items, list):
        c.add(path, 1, "节假日文件应有 holidays 列表")
        return out
    for i, h in enumerate(items):
        start, end = (_as_date(h.get("from")), _as_date(h.get("to"))) if isinstance(h, dict) else (None, None)
        if not isinstance(h, dict) or not _text(h.get("name")) or start is None or end is None or end < start:
            c.add(path, _line(items, i), "每个节假日要有 name、from、to（日期，from 不晚于 to）")
            continue
        out.append(Holiday(_text(h["name"]), start, end))
    return out


def _parse(knowledge_dir: Path) -> Tuple[Catalogue, List[Problem]]:
    knowledge_dir = Path(knowledge_dir)
    c = _Collector(knowledge_dir)
    cat = Catalogue()
    services_dir, sites_dir = knowledge_dir / "services", knowledge_dir / "sites"
    for path in sorted(services_dir.glob("*.yml")):
        data = _read(path, c)
        if data is None:
            continue
        service = _load_service(path, data, c)
        if service:
            if service.id in cat.services:
                c.add(path, _line(data, "id"), f"服务 id {service.id} 重复")
            cat.services[service.id] = service
    holidays: List[Holiday] = []
    for path in sorted(sites_dir.glob("*.yml")):
        data = _read(path, c)
        if data is None:
            continue
        if path.name.startswith("_"):
            holidays.extend(_load_holidays(path, data, c))
            continue
        site = _load_site(path, data, cat.services, c)
        if site:
            cat.sites[site.id] = site
    cat.holidays = tuple(sorted(holidays, key=lambda h: h.start))
    if services_dir.is_dir() and not cat.services:
        c.add(services_dir, 0, "没有可预约的服务")
    for service in cat.services.values():
        if not cat.offerings(service.id):
            c.add(services_dir / f"{service.id}.yml", 1, f"没有服务站提供 {service.name}，居民约不了")
    _check_phrase_clashes(cat, knowledge_dir, c)
    return cat, c.problems


def _check_phrase_clashes(cat: Catalogue, knowledge_dir: Path, c: _Collector) -> None:
    owners: Dict[str, Tuple[str, str]] = {}
    for phrase, entity, value in _phrases(cat):
        prev = owners.get(phrase)
        if prev and prev != (entity, value):
            folder = "services" if entity == "service" else "sites"
            c.add(knowledge_dir / folder / f"{value}.yml", 1,
                  f"别名 “{phrase}” 同时指向 {prev[1]} 和 {value}，居民说这个词时分不清")
        owners[phrase] = (entity, value)


def _phrases(cat: Catalogue) -> List[Tuple[str, str, str]]:
    out = []
    for s in cat.services.values():
        out.extend((p, "service", s.id) for p in (s.name,) + s.aliases)
    for site in cat.sites.values():
        out.extend((p, "site", site.id) for p in (site.name,) + site.aliases)
    return out


# ---------------------------------------------------------------- public API

def check(knowledge_dir: Path) -> List[Problem]:
    """Every problem in the catalogue, for ``kb check``; an empty list means it is fine."""
    return _parse(Path(knowledge_dir))[1]


def load_catalogue(knowledge_dir: Path) -> Catalogue:
    cat, problems = _parse(Path(knowledge_dir))
    if problems:
        raise CatalogueError(problems)
    return cat


_cache: Dict[str, Tuple[Tuple, Catalogue]] = {}


def get_catalogue(knowledge_dir: Optional[Path] = None) -> Catalogue:
    """The catalogue, reloaded when a file changes (editors change it while the action server runs)."""
    if knowledge_dir is None:
        from bot.settings import get_settings
        knowledge_dir = get_settings().knowledge_dir
    knowledge_dir = Path(knowledge_dir)
    # With plain strings and os calls: this runs on every reading of a message in the action server, and pathlib's
    # glob, sorting and stat (twice a file) were about a tenth of a reading's CPU. The same files as globbing
    # "*.yml" in each folder; a file gone meanwhile raises OSError as before.
    files = []
    for sub in ("services", "sites"):
        folder = os.path.join(str(knowledge_dir), sub)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        files += [os.path.join(folder, name) for name in names if name.endswith(".yml")]
    stamp = tuple((f, st.st_mtime_ns, st.st_size) for f, st in ((f, os.stat(f)) for f in sorted(files)))
    hit = _cache.get(str(knowledge_dir))
    if hit and hit[0] == stamp:
        return hit[1]
    cat = load_catalogue(knowledge_dir)
    _cache[str(knowledge_dir)] = (stamp, cat)
    return cat


def entity_phrases(knowledge_dir: Path) -> List[Tuple[str, str, str]]:
    """(phrase, entity, value) for the NLU phrase matcher: entity ``service`` or ``site``, value = the id."""
    cat, _ = _parse(Path(knowledge_dir))
    seen, out = set(), []
    for item in _phrases(cat):
        if item[0] not in seen:
            seen.add(item[0])
            out.append(item)
    return out
