"""``python -m bot users add NAME --role ROLE``: the password comes from HUIMIN_NEW_USER_PASSWORD or a prompt,
never from an argument; bad input exits non-zero with a clear message."""
from __future__ import annotations

import os
import subprocess
import sys

from bot.console import auth
from bot.settings import ROOT


def run(args, env_extra, db_url):
    env = {k: v for k, v in os.environ.items() if k != "HUIMIN_NEW_USER_PASSWORD"}
    env.update(PYTHONPATH=str(ROOT), HUIMIN_DATABASE_URL=db_url, **env_extra)
    return subprocess.run([sys.executable, "-m", "bot", "users", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


async def test_users_add_and_login(sqlite_url):
    done = run(["add", "xiaowang", "--role", "staff"], {"HUIMIN_NEW_USER_PASSWORD": "a-good-password"}, sqlite_url)
    assert done.returncode == 0, done.stderr
    user = await auth.authenticate("xiaowang", "a-good-password", sqlite_url)
    assert user.role == "staff"

    again = run(["add", "xiaowang", "--role", "staff"], {"HUIMIN_NEW_USER_PASSWORD": "a-good-password"}, sqlite_url)
    assert again.returncode == 2 and "已经存在" in again.stderr
    no_password = run(["add", "xiaoli", "--role", "staff"], {}, sqlite_url)
    assert no_password.returncode == 2 and "HUIMIN_NEW_USER_PASSWORD" in no_password.stderr
    password_arg = run(["add", "xiaoli", "--role", "staff", "--password", "x"], {}, sqlite_url)
    assert password_arg.returncode != 0  # there is no such option
