"""Resident channels beyond Rasa's built-ins: the WeChat Official Account (公众号) channel."""
