"""What applications add to the knowledge base's check: the status texts (``knowledge/application_status.yml``).
Found by ``bot.capability_modules("knowledge_plugin")``."""
from bot.applications.status_text import kb_check as check  # noqa: F401 (the plug-in's interface)
