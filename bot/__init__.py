"""Huimin (惠民助手): everything that is not a custom action."""
