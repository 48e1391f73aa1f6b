"""Conditional writes of state documents: a service writes a document back only if no one wrote it since it read it.

The document is created if it was absent when read, or replaced if its ETag is unchanged; a lost race
raises :class:`~shared.ports.ConflictError`, and the caller reads again and decides again, for at most
:data:`CAS_ATTEMPTS` rounds when other instances keep writing the same document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from shared.ports import StateStore

CAS_ATTEMPTS: Final = 10


def write_back(store: StateStore, key: str, data: Mapping[str, Any], etag: str | None) -> str:
    """Create ``key`` (``etag`` None: it was absent when read), else replace it if unchanged since ``etag``.
    Returns the new ETag; ConflictError otherwise."""
    return store.create(key, data) if etag is None else store.replace(key, data, etag)
