"""Data problems the user can fix: missing files, corrupt caches, impossible splits."""

from spec.errors import TwinspecError


class DataError(TwinspecError):
    """A dataset that cannot be produced or read; the message says how to fix it."""
