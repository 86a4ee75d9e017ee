"""Handoff: tickets that move a conversation from Huimin to a person and back, and the Rasa HTTP API client."""
