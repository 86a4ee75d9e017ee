"""Imports every capability's tables so that ``Base.metadata`` is complete (Alembic, tests)."""
import importlib
import pkgutil

import bot
from bot.db import Base

for _mod in pkgutil.iter_modules(bot.__path__):
    if _mod.ispkg:
        try:
            importlib.import_module(f"bot.{_mod.name}.models")
        except ModuleNotFoundError as exc:  # capabilities without tables
            if exc.name != f"bot.{_mod.name}.models":
                raise

metadata = Base.metadata
