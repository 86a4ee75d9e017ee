"""What understanding adds to the knowledge base's check: its lexicon (``knowledge/understanding.yml``) and every
entry's situations; ``check_file`` checks one entry's unsaved text (the editor's save). Found by
``bot.capability_modules("knowledge_plugin")``."""
from bot.understanding.lexicon import check, check_file  # noqa: F401 (the plug-in's interface)
