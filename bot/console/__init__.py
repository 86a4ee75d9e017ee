"""The console: an aiohttp app serving the staff pages, the resident /chat page, the editor and the JSON API."""
