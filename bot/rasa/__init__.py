"""How Huimin plugs into Rasa: the client of the Rasa server's HTTP API (``http_api``), the lock store Rasa
loads from bot/endpoints.yml (``lock_store``), the fixes to Rasa 3.6 itself that the tracker store installs
(``fixes``) and the logging hook of bot/logging.yml (``log_redaction``). The tracker store stays a room of its own
(``bot.tracker_store``): it hands call-back numbers to ``bot.handoff``, which uses the HTTP API client here."""
