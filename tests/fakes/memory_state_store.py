"""An in-memory :class:`shared.ports.StateStore` with the Blob store's ETag and lock semantics.

Documents are kept as the bytes the Blob store would hold and read back with ``Document.from_json``, like the
Blob store, so a document planted with :meth:`MemoryStateStore.plant` (truncated, hand-edited) reads as the
same ``CorruptDocumentError``."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from shared.ports import ConflictError, Document, LockHeldError


class MemoryStateStore:
    def __init__(self) -> None:
        self._docs: dict[str, tuple[bytes, str]] = {}
        self._etags = itertools.count(1)
        self._mutex = threading.Lock()
        self._locks: set[str] = set()
        self.writes = 0

    def _etag(self) -> str:
        return f'"{next(self._etags)}"'

    @staticmethod
    def _copy(data: Mapping[str, Any]) -> bytes:
        return json.dumps(data, sort_keys=True, default=str).encode()  # what the Blob store uploads

    def plant(self, key: str, raw: bytes) -> str:
        """Store ``raw`` as it is (a document broken by hand or cut short); returns its ETag."""
        with self._mutex:
            etag = self._etag()
            self._docs[key] = (raw, etag)
            return etag

    def get(self, key: str) -> Document | None:
        with self._mutex:
            if key not in self._docs:
                return None
            raw, etag = self._docs[key]
        return Document.from_json(key, raw, etag)

    def create(self, key: str, data: Mapping[str, Any]) -> str:
        with self._mutex:
            if key in self._docs:
                raise ConflictError(key, "already exists")
            etag = self._etag()
            self._docs[key] = (self._copy(data), etag)
            self.writes += 1
            return etag

    def replace(self, key: str, data: Mapping[str, Any], etag: str) -> str:
        with self._mutex:
            if key not in self._docs or self._docs[key][1] != etag:
                raise ConflictError(key, f"changed since it was read at ETag {etag}")
            new = self._etag()
            self._docs[key] = (self._copy(data), new)
            self.writes += 1
            return new

    def put(self, key: str, data: Mapping[str, Any]) -> str:
        with self._mutex:
            new = self._etag()
            self._docs[key] = (self._copy(data), new)
            self.writes += 1
            return new

    def delete(self, key: str, etag: str | None = None) -> bool:
        with self._mutex:
            if key not in self._docs:
                return False
            if etag is not None and self._docs[key][1] != etag:
                raise ConflictError(key, f"changed since it was read at ETag {etag}")
            del self._docs[key]
            return True

    def list(self, prefix: str) -> list[str]:
        with self._mutex:
            return sorted(k for k in self._docs if k.startswith(prefix))

    @contextmanager
    def lock(self, name: str, *, wait_seconds: float = 0.0) -> Iterator[None]:
        with self._mutex:
            if name in self._locks:
                raise LockHeldError(name)
            self._locks.add(name)
        try:
            yield
        finally:
            with self._mutex:
                self._locks.discard(name)
