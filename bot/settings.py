"""Process settings, read from the environment only (documented in README and .env.example)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    rasa_port: int = field(default_factory=lambda: int(_env("HUIMIN_RASA_PORT", "5005")))
    actions_port: int = field(default_factory=lambda: int(_env("HUIMIN_ACTIONS_PORT", "5055")))
    console_port: int = field(default_factory=lambda: int(_env("HUIMIN_CONSOLE_PORT", "8080")))
    timezone: str = field(default_factory=lambda: _env("HUIMIN_TZ", "Asia/Shanghai"))
    wechat_token: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_TOKEN"))
    wechat_appid: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_APPID"))
    wechat_secret: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_SECRET"))
    wechat_aes_key: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_AES_KEY"))
    wechat_api_base: str = field(default_factory=lambda: _env("HUIMIN_WECHAT_API_BASE", "https://api.weixin.qq.com"))
    locality: str = field(default_factory=lambda: _env("HUIMIN_LOCALITY"))


def get_settings() -> Settings:
    # Not cached: tests change the environment between cases, and reading it is cheap.
    return Settings()
