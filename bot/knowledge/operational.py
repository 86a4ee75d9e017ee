"""``kb check`` for the operational files residents also read: bookable services (``services/*.yml``), the
human-service offices (``offices.yml``) and the application-status texts (``application_status.yml``).
Each is held to the same rule as a programme: what it states is sourced (or marked 待核实 claim by claim), and
none of it shows an internal path or an editor's note. Registered in ``bot/knowledge/check.py``.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, List, Optional

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.knowledge import integrity, names
from bot.knowledge.schema import FileChecker, Problem, check_sources, line_of, validate_service_facts, value_line

# Public service lines that are nobody's office: an office's phone must be its own (or marked demo).
HOTLINES = {"12345": "市民服务热线", "12356": "心理援助热线", "12349": "民政服务热线", "110": "报警电话",
            "120": "急救电话", "119": "火警电话"}
CALENDAR_FILE = Path("sites") / "_holidays.yml"


def read(path: Path, fc: FileChecker) -> Optional[Any]:
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except Exception as exc:  # reported as a problem: kb check lists everything wrong at once
        fc.add(getattr(getattr(exc, "problem_mark", None), "line", 0) + 1, f"不是合法的 YAML：{exc}")
        return None


def display(knowledge_dir: Path, path: Path) -> str:
    try:
        return str(path.relative_to(Path(knowledge_dir).parent))
    except ValueError:
        return str(path)


def check_services(knowledge_dir: Path) -> List[Problem]:
    problems: List[Problem] = []
    publishers = integrity.load_publishers(knowledge_dir, problems)
    for path in sorted((Path(knowledge_dir) / "services").glob("*.yml")):
        fc = FileChecker(display(knowledge_dir, path), problems)
        doc = read(path, fc)
        if doc is None:
            continue
        validate_service_facts(fc, doc)
        integrity.text_problems(fc, doc)
        integrity.source_problems(fc, doc, publishers)
    return problems


def check_offices(knowledge_dir: Path) -> List[Problem]:
    """Each office: its own phone (not a public hotline), and sourced hours or ``demo: true``."""
    problems: List[Problem] = []
    path = Path(knowledge_dir) / "offices.yml"
    if not path.exists():
        return problems
    fc = FileChecker(display(knowledge_dir, path), problems)
    doc = read(path, fc)
    offices = doc.get("offices") if isinstance(doc, CommentedMap) else None
    for i, office in enumerate(offices if isinstance(offices, CommentedSeq) else []):
        if not isinstance(office, CommentedMap):
            continue
        p = f"offices[{i + 1}]."
        phone = str(office.get("phone") or "").replace("-", "").replace(" ", "")
        if phone in HOTLINES:
            fc.add(value_line(office, "phone"), f"{p}phone {phone} 是{HOTLINES[phone]}，不是这个窗口的电话："
                                                f"写本窗口自己的电话", f"{p}phone")
        if office.get("demo") is not True:
            if "sources" not in office:
                fc.add(line_of(office), f"{p}上班时间、电话要写来源（sources：比如单位公布的办公时间），"
                                        f"或者标 demo: true（演示数据）", f"{p}sources")
            else:
                check_sources(fc, office, p, aspect_ids=("hours", "phone", "closed_dates"))
        integrity.text_problems(fc, office, p)
    return problems


def check_calendar(knowledge_dir: Path, today: Optional[dt.date] = None, current_year: bool = True) -> List[Problem]:
    """The one holiday calendar (sites and offices): every year in it has a source, and (``current_year``) the
    current year's arrangement is complete (otherwise offices would be "open" on an unlisted holiday).

    ``kb check`` (run by every editor save and by CI) checks the sources only: on 1 January a missing calendar
    must not stop editors from correcting answers. ``kb check --production`` — what a deployment runs — also
    requires the current year to be complete."""
    problems: List[Problem] = []
    path = Path(knowledge_dir) / CALENDAR_FILE
    if not path.exists():
        return problems
    fc = FileChecker(display(knowledge_dir, path), problems)
    doc = read(path, fc)
    if not isinstance(doc, CommentedMap):
        return problems
    sources = doc.get("sources")
    sourced, complete = set(), set()
    if not isinstance(sources, CommentedSeq) or not sources:
        fc.add(line_of(doc), "节假日日历要写来源（sources：国务院办公厅的节假日安排通知，写 years）", "sources")
    else:
        for i, src in enumerate(sources):
            if not isinstance(src, CommentedMap) or not isinstance(src.get("title"), str):
                fc.add(line_of(sources, i), "每条来源要写 title、years（覆盖哪几年）", "sources")
                continue
            years = src.get("years") if isinstance(src.get("years"), CommentedSeq) else []
            sourced.update(int(y) for y in years if isinstance(y, int))
            if src.get("complete") is True:
                complete.update(int(y) for y in years if isinstance(y, int))
    dates = []
    for i, h in enumerate(doc.get("holidays") or []):
        if isinstance(h, CommentedMap) and hasattr(h.get("from"), "year"):
            dates.append((h["from"].year, line_of(doc["holidays"], i)))
    for i, d in enumerate(doc.get("workdays") or []):
        if hasattr(d, "year"):
            dates.append((d.year, line_of(doc["workdays"], i)))
    for year, line in dates:
        if year not in sourced:
            fc.add(line, f"{year} 年的日期没有来源：在 sources 里写上公布它的通知（years 写 {year}）", "sources")
    year = (today or dt.date.today()).year
    if current_year and dates and year not in complete:
        fc.add(line_of(doc), f"今年（{year} 年）的节假日安排还没有全部录入：按国务院办公厅的通知补上，"
                             f"来源写 complete: true。否则节假日里会告诉居民工作人员在上班", "holidays")
    return problems


# A number a resident is told to call: "打 120", "拨打 12345", "热线 12356".
_CALL_RE = re.compile(r"(?:打|拨|电话|热线|致电)[^0-9{}\n]{0,8}?(?<![0-9-])(1[0-9]{2}(?:[0-9]{2})?)(?![0-9-])")
HOTLINES_FILE = "hotlines.yml"


def sourced_hotlines(knowledge_dir: Path, fc: Optional[FileChecker] = None) -> set:
    """The public numbers ``knowledge/hotlines.yml`` lists with a source."""
    path = Path(knowledge_dir) / HOTLINES_FILE
    if not path.exists():
        return set()
    doc = read(path, fc or FileChecker(str(path), []))
    out = set()
    seq = doc.get("hotlines") if isinstance(doc, CommentedMap) else None
    for i, entry in enumerate(seq if isinstance(seq, CommentedSeq) else []):
        if not isinstance(entry, CommentedMap) or not str(entry.get("number") or "").strip():
            if fc:
                fc.add(line_of(seq, i), "每个号码要写 number、name、sources")
            continue
        if fc:
            check_sources(fc, entry, f"hotlines[{i + 1}].", aspect_ids=())
        if entry.get("sources"):
            out.add(str(entry["number"]).strip())
    return out


def check_hotlines(knowledge_dir: Path) -> List[Problem]:
    """Residents are told to call only sourced public numbers (or an office's or site's own, via placeholders):
    every answer text in knowledge/ and every response in bot/domain/ is scanned; the responses also for internal
    paths and editors' notes."""
    problems: List[Problem] = []
    knowledge_dir = Path(knowledge_dir)
    allowed = sourced_hotlines(knowledge_dir, FileChecker(display(knowledge_dir, knowledge_dir / HOTLINES_FILE),
                                                          problems))
    files = [p for p in sorted(knowledge_dir.rglob("*.yml")) if p.name != HOTLINES_FILE]
    domain = knowledge_dir.parent / "bot" / "domain"
    files += sorted(domain.glob("*.yml")) if domain.is_dir() else []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            if path.parent == domain:  # response texts of the dialogue: the same rule as knowledge answers
                for marker in integrity.internal_markers(line):
                    problems.append(Problem(display(knowledge_dir, path), n,
                                            f"回复里有居民不该看到的内部路径或编辑备注“{marker}”", "responses"))
            for m in _CALL_RE.finditer(line):
                if m.group(1) not in allowed:
                    label = HOTLINES.get(m.group(1), "公共号码")
                    problems.append(Problem(
                        display(knowledge_dir, path), n,
                        f"让居民拨打的 {m.group(1)}（{label}）没有来源：写本窗口或服务站自己的电话，"
                        f"或者在 {HOTLINES_FILE} 里登记这个号码和来源", "phone"))
    return problems


def check(knowledge_dir: Path) -> List[Problem]:
    """Every problem of the operational files (registered with ``python -m bot kb check``)."""
    return (check_services(knowledge_dir) + check_offices(knowledge_dir)
            + check_calendar(knowledge_dir, current_year=False) + check_hotlines(knowledge_dir)
            + names.check(knowledge_dir))


def production_problems(knowledge_dir: Path) -> List[Problem]:
    """``kb check --production``: every entry still marked ``demo: true`` (it must be replaced first), and a
    holiday calendar that does not cover the current year."""
    full, sources_only = check_calendar(knowledge_dir), check_calendar(knowledge_dir, current_year=False)
    problems: List[Problem] = [p for p in full if p not in sources_only]
    for path in sorted(Path(knowledge_dir).rglob("*.yml")):
        fc = FileChecker(display(knowledge_dir, path), problems)
        doc = read(path, fc)
        if not isinstance(doc, CommentedMap):
            continue
        nodes = [doc] + [item for value in doc.values() if isinstance(value, CommentedSeq)
                         for item in value if isinstance(item, CommentedMap)]
        for node in nodes:
            if node.get("demo") is True:
                fc.add(line_of(node, "demo"), f"“{node.get('name') or node.get('id')}”是演示数据（demo: true）："
                                              f"上线前换成真实信息并删掉 demo: true", "demo")
    return problems
