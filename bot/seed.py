"""Demo data for `make run` (idempotent): each capability may provide ``bot.<capability>.seed:seed_demo(url)``."""
from __future__ import annotations

from typing import Optional

import bot
from bot.settings import get_settings


def seed_demo_data(url: Optional[str] = None) -> None:
    url = url or get_settings().database_url
    for seed in bot.capability_modules("seed"):
        result = seed.seed_demo(url)
        if result:
            print(f"  demo data ({seed.__name__.split('.')[1]}): {result}")
