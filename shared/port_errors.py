"""The errors the ports raise, and what each tells the caller: retry later, give up, or read again.

- :class:`PlatformError`: a call failed in a way a retry will not fix. :class:`TransientError` (retrying later
  may succeed), :class:`NotFoundError` and :class:`CorruptDocumentError` are kinds of it: ``except
  PlatformError`` catches them all, so a caller that retries catches :class:`TransientError` first.
- :class:`ConflictError` and :class:`LockHeldError` are not failures of the platform but lost races (a
  conditional write, a lock): the caller reads again or leaves the work to the holder.

The Azure implementations map the SDKs' errors onto these (``shared/azure/ml_client.py`` for Azure ML), the local
ones and the test fakes raise them directly. :mod:`shared.ports` re-exports every one: import them from there.
No Azure SDK is imported here.
"""

from __future__ import annotations


class PlatformError(Exception):
    """A platform call failed in a way a retry will not fix (bad request, forbidden, …)."""


class TransientError(PlatformError):
    """Throttling, 5xx, a timeout or a token fetch failure: retrying later may succeed."""


class NotFoundError(PlatformError):
    """The named resource does not exist."""


class CorruptDocumentError(PlatformError):
    """A state document that cannot be read as a JSON object (truncated, hand-edited, not UTF-8, not an object).

    Not transient: reading it again gives the same bytes. Nothing may treat it as absent (that would write a
    fresh one over it); an operator fixes or deletes the document, named by ``key``.
    """

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        self.detail = detail
        super().__init__(f"state document {key!r} is unreadable: {detail}; fix or delete it")


class ConflictError(Exception):
    """A conditional state-store write lost: the document changed (or exists) since it was read."""

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__(f"state document {key!r}: {detail}")


class LockHeldError(Exception):
    """Another holder has the lock."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"lock {name!r} is held by another instance")
