"""Shared view code: the session-state keys (state) and reusable widgets (widgets)."""
