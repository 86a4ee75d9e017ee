"""Process settings, read from the environment only (documented in README and .env.example)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Mapping, Optional

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str = "") -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=lambda: _env(
        "HUIMIN_DATABASE_URL", f"sqlite+aiosqlite:///{ROOT / 'var' / 'huimin.db'}"))
    tracker_db_url: str = field(default_factory=lambda: _env(
        "HUIMIN_TRACKER_DB_URL", f"sqlite:///{ROOT / 'var' / 'tracker.db'}"))
    redis_url: str = field(default_factory=lambda: _env("HUIMIN_REDIS_URL"))
    knowledge_dir: Path = field(default_factory=lambda: Path(_env("HUIMIN_KNOWLEDGE_DIR", str(ROOT / "knowledge"))))
    # Keyed hashes of ID/phone numbers; rotating it invalidates stored verification factors.
    hash_key: str = field(default_factory=lambda: _env("HUIMIN_HASH_KEY", "dev-only-hash-key-change-me"))
    secret_key: str = field(default_factory=lambda: _env("HUIMIN_SECRET_KEY", "dev-only-secret-key-change-me"))
    rasa_url: str = field(default_factory=lambda: _env("HUIMIN_RASA_URL",
                                                         f"http://127.0.0.1:{_env('HUIMIN_RASA_PORT', '5005')}"))
    rasa_token: str = field(default_factory=lambda: _env("HUIMIN_RASA_TOKEN", "dev-only-rasa-token"))
    # Shared secret Rasa sends to the action server (bot/endpoints.yml); the action server refuses calls without it.
    actions_token: str = field(default_factory=lambda: _env("HUIMIN_ACTIONS_TOKEN", "dev-only-actions-token"))
    # Address the internal processes (Rasa, action server, console) listen on; containers set 0.0.0.0.
    listen_host: str = field(default_factory=lambda: _env("HUIMIN_LISTEN_HOST", "127.0.0.1"))
    rasa_port: int = field(default_factory=lambda: int(_env("HUIMIN_RASA_PORT", "5005")))
    actions_port: int = field(default_factory=lambda: int(_env("HUIMIN_ACTIONS_PORT", "5055")))
    console_port: int = field(default_factory=lambda: int(_env("HUIMIN_CONSOLE_PORT", "8080")))
    timezone: str = field(default_factory=lambda: _env("HUIMIN_TZ", "Asia/Shanghai"))
    wechat_token: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_TOKEN"))
    wechat_appid: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_APPID"))
    wechat_secret: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_SECRET"))
    wechat_aes_key: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_AES_KEY"))
    wechat_api_base: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_API_BASE", "https://api.weixin.qq.com"))
    # A web-chat session untouched this long is not resumed (bot/channels/chat_session.py).
    chat_idle_minutes: int = field(default_factory=lambda: int(_env("HUIMIN_CHAT_IDLE_MINUTES", "30")))
    locality: str = field(default_factory=lambda: _env("HUIMIN_LOCALITY"))
    # Sender of text messages (one-time codes), module:attribute; unset: bot.sms:LoggingSender (development).
    sms_sender: str = field(default_factory=lambda: _env("HUIMIN_SMS_SENDER"))


def get_settings() -> Settings:
    # Not cached: tests change the environment between cases, and reading it is cheap.
    return Settings()


# Secrets every production process needs; development falls back to the dev-only values above.
SECRET_NAMES = ("HUIMIN_HASH_KEY", "HUIMIN_SECRET_KEY", "HUIMIN_RASA_TOKEN", "HUIMIN_ACTIONS_TOKEN")
MIN_SECRET_CHARS = 32
_KNOWN_VALUES = {"change-me", "changeme", "secret", "password", "test-token", "test-secret", "test-hash-key"}
GENERATE_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def is_production(env: Optional[Mapping[str, str]] = None) -> bool:
    """HUIMIN_ENV=production: set by `make run-prod`, the compose file and the Kubernetes config."""
    return (env if env is not None else os.environ).get("HUIMIN_ENV", "") == "production"


def secret_problems(env: Optional[Mapping[str, str]] = None) -> List[str]:
    """What is wrong with the production secrets (empty: all set, not a known default, long enough, distinct)."""
    env = os.environ if env is None else env
    problems = []
    for name in SECRET_NAMES:
        value = (env.get(name) or "").strip()
        lowered = value.lower()
        if not value:
            problems.append(f"{name} is not set")
        elif lowered in _KNOWN_VALUES or lowered.startswith("dev-only") or "change-me" in lowered:
            problems.append(f"{name} is a development or example value")
        elif len(value) < MIN_SECRET_CHARS:
            problems.append(f"{name} is shorter than {MIN_SECRET_CHARS} characters")
    values = [(env.get(n) or "").strip() for n in SECRET_NAMES if (env.get(n) or "").strip()]
    if len(set(values)) < len(values):
        problems.append("the secrets must all be different")
    return problems


def require_production_secrets(process: str, env: Optional[Mapping[str, str]] = None,
                               always: bool = False) -> None:
    """Stop ``process`` with a clear message when, in production (or ``always``), a secret is unusable."""
    if not (always or is_production(env)):
        return
    problems = secret_problems(env)
    if problems:
        raise SystemExit(f"ERROR: {process} refuses to start with these production secrets:\n  - "
                         + "\n  - ".join(problems)
                         + f"\nSet each to its own random value (e.g. `{GENERATE_HINT}`); see .env.example.")
