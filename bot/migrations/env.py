"""Alembic environment, async engine. Each capability has its own branch (branch_labels) off the core revision."""
import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from bot.models import metadata

config = context.config


def _run(connection):
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _main():
    engine = create_async_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


asyncio.run(_main())
