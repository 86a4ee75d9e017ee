"""Database engine, sessions and migrations (SQLAlchemy 1.4 asyncio API, Alembic).

Every capability declares its tables in ``bot/<capability>/models.py`` on the shared ``Base``;
``bot/models.py`` imports them all so that Alembic and tests see one metadata.
"""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Optional

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import declarative_base, sessionmaker

from bot.settings import get_settings

Base = declarative_base()

_engines: Dict[str, AsyncEngine] = {}


def to_async_url(url: str) -> str:
    """Accept plain URLs (as Rasa's tracker store uses them) and return the asyncio driver form."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def to_sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg2") if "+" in url.split("://")[0] else url


def _ensure_sqlite_folder(url: str) -> None:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def sqlite_pragmas(engine: Any) -> None:
    """WAL (readers never wait for the writer; persistent in the file) and one sync per checkpoint instead
    of one per commit — durable across a process crash, and at most the last commits lost on power loss."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def get_engine(url: Optional[str] = None) -> AsyncEngine:
    url = to_async_url(url or get_settings().database_url)
    engine = _engines.get(url)
    if engine is None:
        _ensure_sqlite_folder(url)
        if url.startswith("sqlite"):
            # SQLite serialises writers; a generous busy timeout turns contention into waiting, not errors.
            engine = create_async_engine(url, connect_args={"timeout": 30})
            sqlite_pragmas(engine.sync_engine)
        else:
            engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        _engines[url] = engine
    return engine


@contextlib.asynccontextmanager
async def session_scope(url: Optional[str] = None) -> AsyncIterator[AsyncSession]:
    """One transaction: commits on success, rolls back on error."""
    maker = sessionmaker(get_engine(url), class_=AsyncSession, expire_on_commit=False)
    async with maker() as session:
        async with session.begin():
            yield session


async def dispose_engines() -> None:
    for engine in list(_engines.values()):
        await engine.dispose()
    _engines.clear()


def migrate(url: Optional[str] = None) -> None:
    """Bring the schema to the newest revision of every capability branch (``alembic upgrade heads``)."""
    from alembic import command
    from alembic.config import Config

    url = to_async_url(url or get_settings().database_url)
    _ensure_sqlite_folder(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "heads")


async def migrate_async(url: Optional[str] = None) -> None:
    # Alembic's env runs its own event loop; keep it off the caller's loop.
    await asyncio.get_running_loop().run_in_executor(None, migrate, url)
