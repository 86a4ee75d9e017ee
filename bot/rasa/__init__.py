"""How Huimin plugs into Rasa: the client of the Rasa server's HTTP API (``http_api``), the lock store Rasa
loads from bot/endpoints.yml (``lock_store``), the fixes to Rasa 3.6 itself that the tracker store installs
(``fixes``) and the logging hook of bot/logging.yml (``log_redaction``), and the tracker store named there
(``tracker_store``). The store hands what residents type in a paused conversation to each capability's
``tracker_plugin`` (the handoff's keeps call-back numbers), found by ``bot.capability_modules``: the handoff
uses the HTTP API client here, so the store never imports it."""
