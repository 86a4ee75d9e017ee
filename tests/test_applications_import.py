"""CSV import of application records: encodings, every kind of bad row, all-or-nothing, --skip-invalid,
re-import with history, changed ID/phone detected — through the real CLI and the module, on a migrated DB."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.applications.importer import ImportFileError, import_csv
from bot.applications.models import Application, ApplicationChange
from bot.applications.numbers import parse_answer
from bot.applications.verification import verify
from bot.db import session_scope, to_sync_url

ROOT = Path(__file__).resolve().parent.parent
HEADER = "application_no,program,applicant_name,id_number,phone,status,submitted_at,updated_at,note"
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def run_async(coro):
    """Run a coroutine from a sync test; pooled connections (asyncpg) belong to one event loop, so close them."""
    from bot.db import dispose_engines

    async def go():
        try:
            return await coro
        finally:
            await dispose_engines()

    return asyncio.run(go())


def make_id(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _W)) % 11]


ID_A = make_id("44010619560312002")   # a valid, fictitious ID number
ID_B = make_id("44010619480101003")
ID_C = make_id("44010619700707004")
PHONE_A, PHONE_B, PHONE_C = "13912340001", "13812340002", "15912340003"


def good_rows() -> list:
    return [
        f"GZ2026000001,低保,张建国,{ID_A},{PHONE_A},公示中,2026-10-20,2026-11-02 09:30,",
        f"GZ2026000002,高龄津贴,李秀英,{ID_B},{PHONE_B},reviewing,2026-10-28,2026-11-05,",
        f"GZ2026000003,tekun,欧阳建华,{ID_C},{PHONE_C},需补充材料,2026-09-15,2026-10-30 14:00,请补交户口簿原件",
    ]


def write_csv(tmp_path: Path, rows: list, encoding: str = "utf-8", name: str = "records.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join([HEADER] + rows) + "\r\n").encode(encoding))
    return path


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HUIMIN_DATABASE_URL=db_url, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "bot", "applications", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


async def all_applications(db_url: str) -> dict:
    async with session_scope(db_url) as s:
        return {a.application_no: a for a in (await s.execute(sa.select(Application))).scalars()}


async def changes_of(db_url: str, number: str) -> list:
    async with session_scope(db_url) as s:
        rows = await s.execute(sa.select(ApplicationChange).join(Application)
                               .where(Application.application_no == number).order_by(ApplicationChange.id))
        return [(c.field, c.old_value, c.new_value) for c in rows.scalars()]


def stored_text(db_url: str) -> str:
    """Every value of every application table, as text (works for SQLite and PostgreSQL)."""
    engine = sa.create_engine(to_sync_url(db_url).replace("postgresql+psycopg2", "postgresql"))
    out = []
    with engine.connect() as conn:
        for table in ("applications", "application_changes", "verification_attempts", "verification_counters"):
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                out.append(" ".join(str(v) for v in row))
    engine.dispose()
    return "\n".join(out)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_cli_imports_good_file_in_each_encoding(db_url, tmp_path, encoding):
    rows = good_rows()
    # Excel habits: surrounding whitespace, full-width digits in the phone number, lower-case number.
    rows[0] = rows[0].replace("GZ2026000001", " gz2026000001 ").replace(PHONE_A, "１３９１２３４０００１")
    rows[1] = rows[1].replace("高龄津贴", " 高龄津贴 ")
    path = write_csv(tmp_path, rows, encoding)
    if encoding == "gbk":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")  # really a GBK file, not UTF-8 in disguise

    result = run_cli(db_url, "import", str(path))

    assert result.returncode == 0, result.stderr
    assert "3 new" in result.stdout
    apps = run_async(all_applications(db_url))
    assert set(apps) == {"GZ2026000001", "GZ2026000002", "GZ2026000003"}
    a = apps["GZ2026000001"]
    assert (a.program_id, a.status, a.name_masked) == ("dibao", "public_notice", "张*国")
    assert a.id_masked == ID_A[:6] + "********" + ID_A[-4:] and a.phone_masked == "139****0001"
    assert apps["GZ2026000002"].program_id == "elderly_allowance"
    assert apps["GZ2026000003"].status == "need_more_documents" and apps["GZ2026000003"].name_masked == "欧**华"
    # No full ID or phone number is stored anywhere; still, the applicant can verify with either.
    text = stored_text(db_url)
    for secret in (ID_A, ID_B, ID_C, PHONE_A, PHONE_B, PHONE_C, ID_A[-6:]):
        assert secret not in text
    ok = run_async(verify("GZ2026000001", parse_answer(ID_A[-6:]), "conv-1", url=db_url))
    assert ok.outcome == "ok"
    ok = run_async(verify("GZ2026000003", parse_answer(PHONE_C), "conv-2", url=db_url))
    assert ok.outcome == "ok"


BAD_ROWS = [
    # (row, expected "column: reason" fragment)
    (f"GZ2026000101,低保,王五,{ID_A}", "line 3: row: expected 9 columns, found 4"),
    (f"??,低保,王五,{ID_A},{PHONE_A},公示中,2026-10-01,2026-10-02,",
     "line 4: application_no: not an application number"),
    (f"GZ2026000103,不存在的补贴,王五,{ID_A},{PHONE_A},公示中,2026-10-01,2026-10-02,",
     "line 5: program: unknown programme"),
    (f"GZ2026000104,低保,,{ID_A},{PHONE_A},公示中,2026-10-01,2026-10-02,", "line 6: applicant_name: missing"),
    (f"GZ2026000105,低保,王五,{ID_A[:-1]},{PHONE_A},公示中,2026-10-01,2026-10-02,",
     "line 7: id_number: not an 18-character ID number"),
    (f"GZ2026000106,低保,王五,{ID_A[:-1]}{'0' if ID_A[-1] != '0' else '1'},{PHONE_A},公示中,2026-10-01,2026-10-02,",
     "line 8: id_number: check digit does not match"),
    (f"GZ2026000107,低保,王五,{ID_A},1234567890,公示中,2026-10-01,2026-10-02,",
     "line 9: phone: not an 11-digit mainland mobile number"),
    (f"GZ2026000108,低保,王五,{ID_A},{PHONE_A},办完了,2026-10-01,2026-10-02,", "line 10: status: unknown status"),
    (f"GZ2026000109,低保,王五,{ID_A},{PHONE_A},公示中,10/01/2026,2026-10-02,",
     "line 11: submitted_at: not an ISO date"),
    (f"GZ2026000110,低保,王五,{ID_A},{PHONE_A},公示中,2026-10-05,2026-10-02,",
     "line 12: updated_at: earlier than submitted_at"),
    (f"GZ2026000001,低保,王五,{ID_A},{PHONE_A},公示中,2026-10-01,2026-10-02,",
     "line 13: application_no: GZ2026000001 appears again (first on line 2)"),
]


def bad_file(tmp_path: Path, encoding: str = "utf-8") -> Path:
    return write_csv(tmp_path, good_rows()[:1] + [row for row, _ in BAD_ROWS] + good_rows()[1:2], encoding)


def test_cli_reports_every_bad_row_and_imports_nothing(db_url, tmp_path):
    result = run_cli(db_url, "import", str(bad_file(tmp_path, "gbk")))

    assert result.returncode == 1
    for _, expected in BAD_ROWS:
        assert expected in result.stderr, expected
    assert "nothing imported: 11 problem(s) in 13 row(s)" in result.stderr
    assert run_async(all_applications(db_url)) == {}
    # Error messages never echo a full ID or phone number (they end up in staff terminals and logs).
    for secret in (ID_A, PHONE_A):
        assert secret not in result.stderr + result.stdout


def test_cli_skip_invalid_imports_the_valid_rows(db_url, tmp_path):
    result = run_cli(db_url, "import", "--skip-invalid", str(bad_file(tmp_path)))

    assert result.returncode == 0, result.stderr
    assert "imported 2 of 13 row(s)" in result.stdout and "2 new" in result.stdout
    assert "line 8: id_number: check digit does not match" in result.stderr
    assert "11 row(s) with problems were NOT imported" in result.stderr
    assert set(run_async(all_applications(db_url))) == {"GZ2026000001", "GZ2026000002"}


def test_cli_unreadable_files_exit_2(db_url, tmp_path):
    missing = run_cli(db_url, "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    wrong_header = tmp_path / "header.csv"
    wrong_header.write_text("编号,项目,姓名\nGZ1,低保,张三\n", encoding="utf-8")
    result = run_cli(db_url, "import", str(wrong_header))
    assert result.returncode == 2 and "line 1: header: expected the columns application_no,program" in result.stderr
    no_args = run_cli(db_url, "import")
    assert no_args.returncode == 2 and "usage:" in no_args.stderr


async def test_reimport_updates_and_keeps_history(db_url, tmp_path):
    first = await import_csv(write_csv(tmp_path, good_rows(), name="v1.csv"), url=db_url)
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)

    rows = good_rows()
    # GZ…001: public notice → approved. GZ…002: new phone number. GZ…003: corrected ID number, new note.
    rows[0] = rows[0].replace("公示中,2026-10-20,2026-11-02 09:30", "已批准,2026-10-20,2026-11-12 10:00")
    new_phone = "13700009999"
    rows[1] = rows[1].replace(PHONE_B, new_phone).replace("2026-11-05", "2026-11-06")
    new_id = make_id("44010619700707012")
    rows[2] = (rows[2].replace(ID_C, new_id).replace("2026-10-30 14:00", "2026-11-03")
               .replace("请补交户口簿原件", "请补交户口簿原件和银行流水"))
    second = await import_csv(write_csv(tmp_path, rows, name="v2.csv"), url=db_url)

    assert (second.created, second.updated, second.unchanged, second.errors) == (0, 3, 0, [])
    apps = await all_applications(db_url)
    assert apps["GZ2026000001"].status == "approved"
    history = await changes_of(db_url, "GZ2026000001")
    assert history[0] == ("created", None, "public_notice")
    assert ("status", "public_notice", "approved") in history
    assert ("updated_at", "2026-11-02 09:30", "2026-11-12 10:00") in history
    assert ("phone", "138****0002", "137****9999") in await changes_of(db_url, "GZ2026000002")
    changes3 = await changes_of(db_url, "GZ2026000003")
    assert ("id_number", ID_C[:6] + "********" + ID_C[-4:], new_id[:6] + "********" + new_id[-4:]) in changes3
    assert ("note", "请补交户口簿原件", "请补交户口簿原件和银行流水") in changes3
    # The new factors verify, the old ones no longer do.
    assert (await verify("GZ2026000002", parse_answer(new_phone), "c1", url=db_url)).outcome == "ok"
    assert (await verify("GZ2026000002", parse_answer(PHONE_B), "c2", url=db_url)).outcome == "failed"
    assert (await verify("GZ2026000003", parse_answer(new_id[-6:]), "c3", url=db_url)).outcome == "ok"

    third = await import_csv(write_csv(tmp_path, rows, name="v3.csv"), url=db_url)
    assert (third.created, third.updated, third.unchanged) == (0, 0, 3)
    assert len(await changes_of(db_url, "GZ2026000001")) == len(history)


async def test_changed_id_detected_even_when_the_masked_form_is_the_same(db_url, tmp_path):
    await import_csv(write_csv(tmp_path, good_rows()[:1], name="a.csv"), url=db_url)
    # Same region prefix and last four characters: only the hash can tell the difference.
    candidates = (make_id(ID_A[:6] + f"195603{day:02d}" + ID_A[14:17]) for day in range(1, 29) if day != 12)
    other = next(c for c in candidates if c[-1] == ID_A[-1])
    assert other != ID_A and other[:6] + other[-4:] == ID_A[:6] + ID_A[-4:]
    row = good_rows()[0].replace(ID_A, other).replace("2026-11-02 09:30", "2026-11-03")
    report = await import_csv(write_csv(tmp_path, [row], name="b.csv"), url=db_url)
    assert report.updated == 1
    assert any(field == "id_number" for field, _, _ in await changes_of(db_url, "GZ2026000001"))


async def test_an_older_export_cannot_roll_back_a_newer_record(db_url, tmp_path):
    newer = good_rows()[0].replace("公示中,2026-10-20,2026-11-02 09:30", "已批准,2026-10-20,2026-11-12")
    await import_csv(write_csv(tmp_path, [newer], name="new.csv"), url=db_url)
    report = await import_csv(write_csv(tmp_path, good_rows(), name="old.csv"), url=db_url)

    assert not report.imported
    assert [str(e) for e in report.errors] == [
        "line 2: updated_at: 2026-11-02 09:30 is older than the stored record (2026-11-12); "
        "an older export cannot overwrite it"]
    apps = await all_applications(db_url)
    assert set(apps) == {"GZ2026000001"} and apps["GZ2026000001"].status == "approved"
    # One run reports both kinds of problem: a bad row and a stale one.
    report = await import_csv(write_csv(tmp_path, good_rows() + [BAD_ROWS[7][0]], name="both.csv"), url=db_url)
    assert [e.line for e in report.errors] == [2, 5] and not report.imported


async def test_file_level_problems_raise(db_url):
    with pytest.raises(ImportFileError, match="empty"):
        await import_csv(b"", url=db_url)
    with pytest.raises(ImportFileError, match="header"):
        await import_csv("编号,姓名\n".encode("gbk"), url=db_url)


def test_cli_show_is_masked_and_lists_the_history(db_url, tmp_path):
    path = write_csv(tmp_path, good_rows()[:1], name="one.csv")
    assert run_cli(db_url, "import", str(path)).returncode == 0
    shown = run_cli(db_url, "show", "gz2026-000001")
    assert shown.returncode == 0, shown.stderr
    assert "张*国" in shown.stdout and "139****0001" in shown.stdout and "最低生活保障 (dibao)" in shown.stdout
    assert ID_A not in shown.stdout and PHONE_A not in shown.stdout and "created" in shown.stdout
    assert run_cli(db_url, "show", "GZ404").returncode == 1
