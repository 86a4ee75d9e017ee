"""What booking adds to the knowledge base's check and training export: the bookable catalogue
(``knowledge/services``, ``knowledge/sites``). Found by ``bot.capability_modules("knowledge_plugin")``."""
from bot.booking.catalogue import check, entity_phrases  # noqa: F401 (the plug-in's interface)
