"""Data retention: personal data is kept only as long as needed (PIPL), by a scheduled command."""
