"""Submission claims: at most one job per key, however many callers ask, at once or hours apart.

Retraining claims an alert (``retraining/alerts/<sha256>.json``), drift a model version and window
(``drift/jobs/<model>/<version>/<start>-<end>.json``); any other service that submits jobs claims its key the
same way. A claim is one state document, written only with ETag conditions:

1. **claimed**: created only if absent (``StateStore.create``). The caller that creates it submits; every
   other one finds it and answers with what it holds (the first job's name, or "in progress");
2. **settled**: when the job is submitted (or the caller decided not to submit), replaced with the claim's ETag,
   recording the outcome and the job name;
3. **released**: deleted with its ETag when the submission failed, so that a retry can claim again;
4. **taken over**: a claim still ``submitting`` after :data:`STALE_AFTER` belongs to an attempt that died before
   it could settle or release it; it is replaced with its ETag, so only one caller takes it over. A settled
   claim is taken over only when the caller's ``may_take_over`` says so (drift: its job ended Failed/Canceled).

Stored fields, the same in every claim document, next to the caller's own (the alert, the model version and
window, …):

- ``status``: ``submitting`` while the claimer submits, then what it settled on (``submitted``, ``suppressed``);
- ``claimed_at``: when it was claimed (ISO 8601, UTC), kept when it is settled;
- ``settled_at``: when it was settled;
- ``job_name``: the job submitted, when there is one;
- ``token``: random, one per claim and kept when it is settled. A job name derived from it is the same in
  every attempt that holds the claim, so a retry after a lost create-job response can find that job.

Plain Python: the state-store port, no Azure SDK.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from shared.clock import utcnow
from shared.ports import ConflictError, Document, PlatformError, StateStore, TransientError
from shared.services.state_documents import CAS_ATTEMPTS, write_back
from shared.services.timestamps import iso, parse_time

log = logging.getLogger(__name__)

SUBMITTING: Final = "submitting"

# An HTTP-triggered function answers within 230 s (the front end's limit) and any function ends within the
# host's functionTimeout (10 min, host.json), so a claim still "submitting" after this long belongs to an
# attempt that died before it could record its result.
STALE_AFTER: Final = timedelta(minutes=15)

_FIELDS: Final = frozenset({"status", "claimed_at", "settled_at", "job_name", "token"})


@dataclass(frozen=True)
class Claim:
    """A claim this caller holds: the document as written and the ETag to settle or release it with."""

    key: str
    etag: str
    data: Mapping[str, Any]

    @property
    def token(self) -> str:
        return str(self.data["token"])


@dataclass(frozen=True)
class Vacancy:
    """The key may be claimed: no claim there (``etag`` None), or one that may be taken over (its ETag)."""

    etag: str | None = None


class SubmissionClaims:
    """The claims of one service. ``label`` starts its log lines; ``may_take_over`` says whether a settled
    claim may be claimed again (default: never)."""

    def __init__(
        self,
        store: StateStore,
        *,
        label: str,
        clock: Callable[[], datetime] = utcnow,
        may_take_over: Callable[[Document], bool] | None = None,
    ) -> None:
        self._store = store
        self._label = label
        self._clock = clock
        self._may_take_over = may_take_over

    def current(self, key: str) -> Document | None:
        return _in_current_fields(self._store.get(key))

    def inspect(self, key: str) -> Vacancy | Document:
        """A :class:`Vacancy` when ``key`` may be claimed, else the claim document of its holder."""
        doc = self.current(key)
        if doc is None:
            return Vacancy()
        return Vacancy(doc.etag) if self._vacant(doc) else doc

    def acquire(self, key: str, fields: Mapping[str, Any], vacancy: Vacancy) -> Claim | None:
        """Claim ``key`` as :meth:`inspect` found it; None when another caller wrote it first."""
        data = {**fields, "status": SUBMITTING, "claimed_at": iso(self._clock()), "token": uuid.uuid4().hex}
        try:
            etag = write_back(self._store, key, data, vacancy.etag)
        except ConflictError:
            return None
        return Claim(key, etag, data)

    def take(self, key: str, fields: Mapping[str, Any]) -> Claim | Document:
        """Claim ``key`` now, or return its holder's document. TransientError when it kept changing."""
        found: Vacancy | Document = Vacancy()  # most keys are new: try to create before reading
        for _ in range(CAS_ATTEMPTS):
            claim = self.acquire(key, fields, found)
            if claim is not None:
                return claim
            found = self.inspect(key)
            if isinstance(found, Document):
                return found
        raise TransientError(f"{self._label}: could not claim {key}: the claim kept changing")

    def settle(self, claim: Claim, status: str, fields: Mapping[str, Any], *, overwrite: bool = False) -> Claim:
        """Record what came of the claim (``status``, ``settled_at``, ``fields`` such as ``job_name``) with its
        ETag. ConflictError when it was taken over meanwhile, unless ``overwrite``: then the record is written
        anyway (the job exists, and its record matters more than the claim of whoever took over)."""
        data = {**claim.data, **fields, "status": status, "settled_at": iso(self._clock())}
        try:
            etag = self._replace(claim.key, data, claim.etag)
        except ConflictError:
            if not overwrite:
                raise
            log.error(
                "%s: claim %s changed while its job was submitted; recording job %s anyway",
                self._label,
                claim.key,
                data.get("job_name"),
            )
            etag = self._store.put(claim.key, data)
        return Claim(claim.key, etag, data)

    def release(self, claim: Claim) -> None:
        """Withdraw the claim after a failed submission (logged, not raised, when that fails too)."""
        try:
            self._store.delete(claim.key, etag=claim.etag)
        except ConflictError:
            pass  # taken over or settled meanwhile: not this caller's to delete
        except PlatformError as exc:
            log.error(
                "%s: could not release claim %s (a retry waits until it is stale, %s): %s",
                self._label,
                claim.key,
                STALE_AFTER,
                exc,
            )

    def _replace(self, key: str, data: Mapping[str, Any], etag: str) -> str:
        """Retried once after a transient failure: a settled claim is what later callers answer with."""
        try:
            return self._store.replace(key, data, etag)
        except TransientError:
            time.sleep(0.5)
            return self._store.replace(key, data, etag)

    def _vacant(self, doc: Document) -> bool:
        if doc.data.get("status") != SUBMITTING:
            return self._may_take_over is not None and self._may_take_over(doc)
        claimed_at = parse_time(doc.data.get("claimed_at"))
        if claimed_at is not None and self._clock() - claimed_at < STALE_AFTER:
            return False
        log.warning(
            "%s: taking over claim %s, left submitting since %s; if that attempt did submit, a job for %s exists",
            self._label,
            doc.key,
            doc.data.get("claimed_at"),
            {k: v for k, v in doc.data.items() if k not in _FIELDS},
        )
        return True


# Claims written before the fields were one vocabulary: retraining's said ``state``, drift's ``submitted_at``.
_EARLIER_NAMES: Final = {"state": "status", "submitted_at": "settled_at"}


def _in_current_fields(doc: Document | None) -> Document | None:
    """``doc`` with earlier field names read as today's, so a claim stored before stays a claim: one still
    ``submitting`` is taken over when stale, a settled one answers with its job."""
    if doc is None or not any(old in doc.data and new not in doc.data for old, new in _EARLIER_NAMES.items()):
        return doc
    data = dict(doc.data)
    for old, new in _EARLIER_NAMES.items():
        if old in data and new not in data:
            data[new] = data.pop(old)
    return Document(doc.key, data, doc.etag)
