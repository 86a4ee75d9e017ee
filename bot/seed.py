"""Demo data for `make run` (idempotent): each capability may provide ``bot.<capability>.seed:seed_demo(url)``."""
from __future__ import annotations

import importlib
import pkgutil

import bot
from bot.settings import get_settings


def seed_demo_data(url: str | None = None) -> None:
    url = url or get_settings().database_url
    for mod in sorted(pkgutil.iter_modules(bot.__path__), key=lambda m: m.name):
        if not mod.ispkg:
            continue
        try:
            seed = importlib.import_module(f"bot.{mod.name}.seed")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.{mod.name}.seed":
                raise
            continue
        result = seed.seed_demo(url)
        if result:
            print(f"  demo data ({mod.name}): {result}")
