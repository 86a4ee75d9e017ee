"""Staff command line: ``python -m bot bookings list|cancel`` against a real migrated database."""
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from bot.booking import bookings
from bot.booking.bookings import BookingRequest, idempotency_key
from bot.booking.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 12, 2, 9, 30)


async def _book(url, i, site="dayanggou", service="bath", mode="site", hour=9):
    cat = load_catalogue(ROOT / "knowledge")
    req = BookingRequest(service, mode, site, dt.datetime(2026, 12, 3, hour, 0), f"居民{i}", "138****5678", "h" * 64,
                         address="白下路1号" if mode == "home" else None, conversation_id=f"c{i}")
    out = await bookings.book(cat, req, idempotency_key(f"c{i}", "e"), NOW, url=url)
    assert out.status == bookings.OK
    return out.booking.code


class Run:
    def __init__(self, url):
        self.url = url

    def __call__(self, argv):
        """The command as staff run it: a separate process on the same database."""
        env = dict(os.environ, HUIMIN_DATABASE_URL=self.url, PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=120)
        self.out, self.err = proc.stdout, proc.stderr
        return proc.returncode


async def test_list_filters_and_cancel(db_url):
    run = Run(db_url)
    a = await _book(db_url, 1)
    b = await _book(db_url, 2, site="wulaocun", service="rehab_care", hour=10)
    assert run(["bookings", "list", "--date", "2026-12-03"]) == 0
    out = run.out
    assert a in out and b in out and "138****5678" in out and "13812345678" not in out
    assert run(["bookings", "list", "--date", "2026-12-03", "--site", "wulaocun"]) == 0
    out = run.out
    assert b in out and a not in out
    assert run(["bookings", "list", "--date", "2026-12-03", "--service", "bath"]) == 0
    out = run.out
    assert a in out and b not in out
    assert run(["bookings", "cancel", a, "--reason", "老人住院"]) == 0
    assert "free again" in run.out
    assert run(["bookings", "list", "--date", "2026-12-03", "--all"]) == 0
    assert "cancelled (老人住院)" in run.out
    assert (await bookings.get(a, db_url)).status == "cancelled"


async def test_bad_input_is_a_clear_error(db_url):
    run = Run(db_url)
    assert run(["bookings", "list", "--date", "3 Dec"]) == 2
    assert "YYYY-MM-DD" in run.err
    assert run(["bookings", "list", "--date", "2026-12-03", "--site", "nowhere"]) == 2
    assert "unknown site" in run.err
    assert run(["bookings", "cancel", "YY00000000000", "--reason", "x"]) == 2
    assert "no booking" in run.err
