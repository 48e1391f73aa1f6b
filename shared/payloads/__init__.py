"""Typed, validated models of every input: Event Grid events, the common alert schema, HTTP bodies.

Invalid input raises :class:`PayloadError`, whose message names the offending field and says what is
expected, so a person can act on it. Plain Python: no Azure SDK import.
"""

from __future__ import annotations


class PayloadError(ValueError):
    """An input does not satisfy its schema. ``field`` is a dotted path (``data.essentials.alertId``)."""

    def __init__(self, field: str | None, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)
