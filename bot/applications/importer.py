"""CSV import of application records exported by the welfare system.

Every row is validated first. Any invalid row → nothing is written and every problem is reported as
``line N: column: reason``; with ``skip_invalid`` the valid rows are imported and the rest reported.
Re-importing an application number updates it and records each change (status from → to, and every other
field) in ``application_changes``. Full ID and phone numbers never leave this module: only keyed hashes and
masked forms are stored, and error messages show masked values.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import sqlalchemy as sa

from bot.applications.models import (HASH_ID, HASH_ID_LAST6, HASH_NAME, HASH_PHONE, Application,
                                     ApplicationChange)
from bot.applications.numbers import canonical_application_no
from bot.applications.statuses import STATUS_WORDS, parse_status
from bot.db import session_scope
from bot.privacy import id_number_valid, keyed_hash, mask_id, mask_name, mask_phone, redact_text, to_halfwidth

COLUMNS = ("application_no", "program", "applicant_name", "id_number", "phone", "status", "submitted_at",
           "updated_at", "note")
MAX_NOTE = 1000
MAX_NAME = 40


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.reason}"


@dataclass
class Record:
    """One valid row, already reduced to what is stored (no full ID or phone number)."""

    line: int
    application_no: str
    program_id: str
    name_masked: str
    name_hash: str
    id_hash: str
    id_last6_hash: str
    id_masked: str
    phone_hash: str
    phone_masked: str
    status: str
    submitted_at: datetime
    updated_at: datetime
    note: str


@dataclass
class ImportReport:
    encoding: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    imported: bool = False
    errors: List[RowError] = field(default_factory=list)

    def summary(self) -> str:
        if not self.imported:
            return f"nothing imported: {len(self.errors)} problem(s) in {self.rows} row(s)"
        return (f"imported {self.created + self.updated + self.unchanged} of {self.rows} row(s) "
                f"({self.encoding}): {self.created} new, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.skipped} skipped")


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, header): nothing can be imported."""


# ---------------------------------------------------------------------------------------------- decoding

def decode(data: bytes) -> Tuple[str, str]:
    """Text and the encoding it was in: UTF-8 with BOM, UTF-8, else GB18030 (a superset of GBK/GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ImportFileError("the file is neither UTF-8 nor GB18030/GBK text "
                              f"(undecodable byte at offset {exc.start})") from None


# ---------------------------------------------------------------------------------------------- one row

def _clean(value: str) -> str:
    # Excel exports: full-width digits, non-breaking and ideographic spaces, stray tabs.
    return to_halfwidth(value or "").replace("\u200b", "").strip()


def _parse_datetime(value: str) -> Optional[datetime]:
    value = value.replace("/", "-").replace("T", " ")
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # The export's times are local; keep wall-clock time as exported.
    return parsed.replace(tzinfo=None)


def _validate_row(line: int, cells: Sequence[str], resolve_program: Callable[[str], Optional[str]],
                  errors: List[RowError]) -> Optional[Record]:
    before = len(errors)

    def err(column: str, reason: str) -> None:
        errors.append(RowError(line, column, reason))

    if len(cells) != len(COLUMNS):
        err("row", f"expected {len(COLUMNS)} columns, found {len(cells)}")
        return None
    v = dict(zip(COLUMNS, (_clean(c) for c in cells)))
    app_no = _application_no(v, err)
    program_id = _program(v, resolve_program, err)
    name = _applicant_name(v, err)
    id_number = _id_number(v, err)
    phone = _phone(v, err)
    status = _status(v, err)
    submitted, updated = _dates(v, err)
    note = v["note"]
    if len(note) > MAX_NOTE:
        err("note", f"longer than {MAX_NOTE} characters")

    if len(errors) > before:
        return None
    return Record(
        line=line, application_no=app_no, program_id=program_id,
        name_masked=mask_name(name), name_hash=keyed_hash(name, HASH_NAME),
        id_hash=keyed_hash(id_number, HASH_ID), id_last6_hash=keyed_hash(id_number[-6:], HASH_ID_LAST6),
        id_masked=mask_id(id_number),
        phone_hash=keyed_hash(phone, HASH_PHONE), phone_masked=mask_phone(phone),
        status=status, submitted_at=submitted, updated_at=updated,
        # A note is shown to the resident; personal numbers typed into it by staff are masked.
        note=redact_text(note),
    )


def _application_no(v: Dict[str, str], err: Callable[[str, str], None]) -> Optional[str]:
    app_no = canonical_application_no(v["application_no"]) if v["application_no"] else None
    if not v["application_no"]:
        err("application_no", "missing")
    elif app_no is None:
        err("application_no", f"not an application number: '{redact_text(v['application_no'])[:40]}'")
    return app_no


def _program(v: Dict[str, str], resolve_program: Callable[[str], Optional[str]],
             err: Callable[[str, str], None]) -> Optional[str]:
    program_id = None
    if not v["program"]:
        err("program", "missing")
    else:
        program_id = resolve_program(v["program"])
        if program_id is None:
            err("program", f"unknown programme '{v['program'][:40]}' (use a programme id, name or alias "
                           "from the knowledge base)")
    return program_id


def _applicant_name(v: Dict[str, str], err: Callable[[str, str], None]) -> str:
    name = re.sub(r"\s+", "", v["applicant_name"])
    if not name:
        err("applicant_name", "missing")
    elif len(name) > MAX_NAME or re.search(r"\d", name):
        err("applicant_name", "not a name (digits or longer than 40 characters)")
    return name


def _id_number(v: Dict[str, str], err: Callable[[str, str], None]) -> str:
    id_number = v["id_number"].replace(" ", "").upper()
    if not id_number:
        err("id_number", "missing")
    elif not re.fullmatch(r"\d{17}[\dX]", id_number):
        err("id_number", f"not an 18-character ID number ({len(id_number)} characters)")
    elif not id_number_valid(id_number):
        err("id_number", f"check digit does not match ({mask_id(id_number)})")
    return id_number


def _phone(v: Dict[str, str], err: Callable[[str, str], None]) -> str:
    phone = re.sub(r"[\s\-()]", "", v["phone"])
    if phone.startswith("+86"):
        phone = phone[3:]
    if not phone:
        err("phone", "missing")
    elif not re.fullmatch(r"1[3-9]\d{9}", phone):
        err("phone", "not an 11-digit mainland mobile number" + (f" ({mask_phone(phone)})" if len(phone) == 11
                                                                  else f" ({len(phone)} digits)"))
    return phone


def _status(v: Dict[str, str], err: Callable[[str, str], None]):
    status = parse_status(v["status"])
    if not v["status"]:
        err("status", "missing")
    elif status is None:
        err("status", f"unknown status '{v['status'][:20]}' (one of: "
                      + ", ".join(f"{c}/{w}" for c, w in STATUS_WORDS.items()) + ")")
    return status


def _dates(v: Dict[str, str], err: Callable[[str, str], None]) -> Tuple[Optional[datetime], Optional[datetime]]:
    submitted = _parse_datetime(v["submitted_at"]) if v["submitted_at"] else None
    if not v["submitted_at"]:
        err("submitted_at", "missing")
    elif submitted is None:
        err("submitted_at", f"not an ISO date '{v['submitted_at'][:25]}' (e.g. 2026-11-02 or 2026-11-02 09:30)")
    updated = _parse_datetime(v["updated_at"]) if v["updated_at"] else submitted
    if v["updated_at"] and updated is None:
        err("updated_at", f"not an ISO date '{v['updated_at'][:25]}' (e.g. 2026-11-02 or 2026-11-02 09:30)")
    elif submitted and updated and updated < submitted:
        err("updated_at", "earlier than submitted_at")
    return submitted, updated


def parse(text: str, resolve_program: Callable[[str], Optional[str]]) -> Tuple[List[Record], List[RowError], int]:
    """Valid records, problems, and the number of data rows (blank rows are not records)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: List[RowError] = []
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: header: {exc}") from None
    names = [_clean(h).lower().lstrip("\ufeff") for h in header]
    if tuple(names) != COLUMNS:
        raise ImportFileError("line 1: header: expected the columns " + ",".join(COLUMNS)
                              + " (found " + ",".join(n for n in names if n)[:200] + ")")
    records: List[Record] = []
    seen: Dict[str, int] = {}
    rows = 0
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(line, "row", f"broken CSV quoting ({exc})"))
            break
        if not any(_clean(c) for c in cells):
            continue  # Excel's trailing empty rows
        rows += 1
        record = _validate_row(line, cells, resolve_program, errors)
        if record is None:
            continue
        if record.application_no in seen:
            errors.append(RowError(line, "application_no",
                                   f"{record.application_no} appears again "
                                   f"(first on line {seen[record.application_no]})"))
            continue
        seen[record.application_no] = line
        records.append(record)
    return records, errors, rows


# ---------------------------------------------------------------------------------------------- writing

_TRACKED = ("program_id", "status", "submitted_at", "updated_at", "note")
_HASHED = (("name", "name_hash", "name_masked"), ("id_number", "id_hash", "id_masked"),
           ("phone", "phone_hash", "phone_masked"))


def _fmt(value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    return "" if value is None else str(value)


def _changes(existing: Application, rec: Record) -> List[Tuple[str, str, str]]:
    out = []
    for attr in _TRACKED:
        old, new = getattr(existing, attr), getattr(rec, attr)
        if old != new:
            out.append((attr, _fmt(old), _fmt(new)))
    for name, hash_attr, masked_attr in _HASHED:
        if getattr(existing, hash_attr) != getattr(rec, hash_attr):
            out.append((name, getattr(existing, masked_attr), getattr(rec, masked_attr)))
    return out


_FIELDS = ("program_id", "name_masked", "name_hash", "id_hash", "id_last6_hash", "id_masked", "phone_hash",
           "phone_masked", "status", "submitted_at", "updated_at", "note")


async def _write(records: List[Record], errors: List[RowError], report: ImportReport, source: str,
                 skip_invalid: bool, url: Optional[str], now: datetime) -> None:
    async with session_scope(url) as session:
        existing: Dict[str, Application] = {}
        numbers = [r.application_no for r in records]
        for chunk in range(0, len(numbers), 500):
            rows = await session.execute(sa.select(Application).where(
                Application.application_no.in_(numbers[chunk:chunk + 500])))
            existing.update({a.application_no: a for a in rows.scalars()})
        # An older export must not roll back a newer status.
        valid: List[Record] = []
        for rec in records:
            old = existing.get(rec.application_no)
            if old is not None and rec.updated_at < old.updated_at:
                errors.append(RowError(rec.line, "updated_at",
                                       f"{_fmt(rec.updated_at)} is older than the stored record "
                                       f"({_fmt(old.updated_at)}); an older export cannot overwrite it"))
            else:
                valid.append(rec)
        errors.sort(key=lambda e: e.line)
        if errors and not skip_invalid:
            return  # the transaction writes nothing
        for rec in valid:
            src = f"{source} line {rec.line}"
            old = existing.get(rec.application_no)
            if old is None:
                app = Application(application_no=rec.application_no, imported_at=now,
                                  **{f: getattr(rec, f) for f in _FIELDS})
                session.add(app)
                await session.flush()
                session.add(ApplicationChange(application_id=app.id, field="created", old_value=None,
                                              new_value=rec.status, changed_at=rec.updated_at, recorded_at=now,
                                              source=src))
                report.created += 1
                continue
            changes = _changes(old, rec)
            if not changes:
                report.unchanged += 1
                continue
            for name, before, after in changes:
                session.add(ApplicationChange(application_id=old.id, field=name, old_value=before,
                                              new_value=after, changed_at=rec.updated_at, recorded_at=now,
                                              source=src))
            for f in _FIELDS:
                setattr(old, f, getattr(rec, f))
            old.imported_at = now
            report.updated += 1
        report.skipped = len({e.line for e in errors})
        report.imported = True


async def import_csv(source: Union[str, Path, bytes], *, url: Optional[str] = None, skip_invalid: bool = False,
                     source_name: Optional[str] = None,
                     resolve_program: Optional[Callable[[str], Optional[str]]] = None,
                     now: Optional[datetime] = None) -> ImportReport:
    """Import a CSV file (path or bytes). Raises ImportFileError when the file as a whole is unreadable."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
        source_name = source_name or path.name
    else:
        data = source
    if resolve_program is None:
        from bot.applications.programs import catalogue_resolver
        resolve_program = catalogue_resolver()
    text, encoding = decode(data)
    records, errors, rows = parse(text, resolve_program)
    report = ImportReport(encoding=encoding, rows=rows, errors=errors)
    # Even with invalid rows, the valid ones are checked against the database, so one run reports everything.
    await _write(records, errors, report, f"import {source_name or 'upload'}"[:250], skip_invalid, url,
                 now or datetime.now().replace(microsecond=0))
    return report
