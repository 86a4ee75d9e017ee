"""Imports every capability's tables so that ``Base.metadata`` is complete (Alembic, tests): each capability's
``models`` module, found the way every capability plug-in is (``bot.capability_modules``)."""
import bot
from bot.db import Base

# Importing a capability's ``models`` declares its tables on Base.metadata.
CAPABILITY_MODELS = [module.__name__ for module in bot.capability_modules("models")]

metadata = Base.metadata
