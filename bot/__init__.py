"""Huimin (惠民助手): everything that is not a custom action."""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Iterator


def capability_modules(name: str) -> Iterator[ModuleType]:
    """``bot.<capability>.<name>`` for every capability package that has one (e.g. ``cli``, ``seed``)."""
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not mod.ispkg:
            continue
        try:
            yield importlib.import_module(f"bot.{mod.name}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.{mod.name}.{name}":
                raise
