"""The app's clock: the current time, always timezone-aware UTC. Services take a ``clock`` callable that
defaults to :func:`utcnow`, so tests move time without patching."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
