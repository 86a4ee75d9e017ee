"""What understanding adds to the knowledge base's check: its lexicon (``knowledge/understanding.yml``).
Found by ``bot.capability_modules("knowledge_plugin")``."""
from bot.understanding.lexicon import check  # noqa: F401 (the plug-in's interface)
