"""Settings every stage may read: where runtime data lives, and the defaults the
environment overrides (config/settings.py)."""
