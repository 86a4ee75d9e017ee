"""How Huimin plugs into Rasa from the outside: the client of the Rasa server's HTTP API (``http_api``)."""
