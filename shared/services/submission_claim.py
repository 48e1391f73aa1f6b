"""Submission claims: at most one job per key, however many callers ask, at once or hours apart, and however
often the answer of the platform is lost.

Retraining claims an alert (``retraining/alerts/<sha256>.json``), drift a model version and window
(``drift/jobs/<model>/<version>/<start>-<end>.json``); any other service that submits jobs claims its key the
same way, and submits through :meth:`SubmissionClaims.submit`. A claim is one state document, written only with
ETag conditions:

1. **claimed**: created only if absent (``StateStore.create``). The caller that creates it submits; every
   other one finds it and answers with what it holds (the first job's name, or "in progress");
2. **settled**: when the job is submitted (or the caller decided not to submit), replaced with the claim's ETag,
   recording the outcome and the job name;
3. **unconfirmed**: the submission failed transiently (a timeout, a 5xx, a dropped connection), so the job may
   exist: the platform may have created it and lost only its answer. The claim is kept, token and all, marked
   ``unconfirmed``; the next caller takes it over at once and submits again under the same job name, which
   the platform answers with the existing job if there is one (``JobPlatform.submit_pipeline`` is idempotent
   on the name). Releasing it instead would let the retry draw a new token, a new name, and a second job;
4. **released**: deleted with its ETag when the platform refused the job (any PlatformError that is not a
   TransientError: by the port's contract no job of that name exists), so that a retry can claim again;
5. **taken over**: a claim still ``submitting`` after :data:`STALE_AFTER` belongs to an attempt that died before
   it could settle or release it; it is replaced with its ETag, so only one caller takes it over, and keeps
   its token (the dead attempt may have created the job). A settled claim is taken over only when the
   caller's ``may_take_over`` says so (drift: its job ended Failed/Canceled), with a new token: a new job is
   what it asks for.

The job name is :func:`~shared.platform_rules.job_name` of the request's experiment and the claim's token: the
same in every attempt that holds the claim, and in no other claim's attempts.

Stored fields, the same in every claim document, next to the caller's own (the alert, the model version and
window, …):

- ``status``: ``submitting`` while the claimer submits, ``unconfirmed`` after a transient failure, then what it
  settled on (``submitted``, ``suppressed``);
- ``claimed_at``: when it was claimed (ISO 8601, UTC), kept when it is settled;
- ``settled_at``: when it was settled;
- ``job_name``: the job submitted, when there is one;
- ``token``: random, one per claim, kept when it is settled, made unconfirmed or taken over from an attempt that
  may have submitted. A claim stored before claims had a token is taken over, when stale, with a new one (its
  attempt named no job, so there is nothing to find by name);
- ``unconfirmed_at``, ``unconfirmed_job``, ``error``: when and under which name the last attempt failed
  transiently, and why.

Plain Python: the ports, no Azure SDK.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from shared import platform_rules
from shared.clock import utcnow
from shared.ports import (
    ConflictError,
    Document,
    JobPlatform,
    PipelineJobRequest,
    PlatformError,
    StateStore,
    TransientError,
)
from shared.services.state_documents import CAS_ATTEMPTS, write_back
from shared.services.timestamps import iso, parse_time

log = logging.getLogger(__name__)

SUBMITTING: Final = "submitting"
UNCONFIRMED: Final = "unconfirmed"

# An HTTP-triggered function answers within 230 s (the front end's limit) and any function ends within the
# host's functionTimeout (10 min, host.json), so a claim still "submitting" after this long belongs to an
# attempt that died before it could record its result.
STALE_AFTER: Final = timedelta(minutes=15)

_FIELDS: Final = frozenset(
    {"status", "claimed_at", "settled_at", "job_name", "token", "unconfirmed_at", "unconfirmed_job", "error"}
)


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
    """The key may be claimed: no claim there (``etag`` None), or one that may be taken over (its ETag, and
    its ``token`` when its attempt may have created the job: the new claim keeps it)."""

    etag: str | None = None
    token: str | None = None


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
        if not self._vacant(doc):
            return doc
        return Vacancy(doc.etag, _token_to_keep(doc))

    def acquire(self, key: str, fields: Mapping[str, Any], vacancy: Vacancy) -> Claim | None:
        """Claim ``key`` as :meth:`inspect` found it; None when another caller wrote it first."""
        token = vacancy.token or uuid.uuid4().hex
        data = {**fields, "status": SUBMITTING, "claimed_at": iso(self._clock()), "token": token}
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

    @staticmethod
    def job_name(claim: Claim, request: PipelineJobRequest) -> str:
        """The name of the claim's job: the same in every attempt that holds the claim."""
        return platform_rules.job_name(request.experiment_name, claim.token)

    def submit(self, claim: Claim, platform: JobPlatform, request: PipelineJobRequest) -> str:
        """Submit ``request`` as the claim's job (named :meth:`job_name`); returns the job's name. The caller
        settles the claim then. On failure the claim is released when the platform refused the job, else kept
        as unconfirmed (the job may exist: a retry submits again under the same name), and the error raised."""
        try:
            named = dataclasses.replace(request, name=self.job_name(claim, request))
        except PlatformError:  # a token no name can be made of (edited by hand): nothing was submitted
            self.release(claim)
            raise
        try:
            return platform.submit_pipeline(named)
        except PlatformError as exc:
            if isinstance(exc, TransientError):
                self._unconfirm(claim, str(named.name), exc)
            else:
                self.release(claim)
            raise
        except BaseException as exc:  # a bug or an interruption after the request may have left: as transient
            self._unconfirm(claim, str(named.name), exc)
            raise

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

    def _unconfirm(self, claim: Claim, job_name: str, exc: BaseException) -> None:
        """Keep the claim, marked unconfirmed, for the next attempt to take over with the same token (logged,
        not raised, when that fails: the claim stays ``submitting`` and is taken over, token and all, once
        stale)."""
        now = iso(self._clock())
        data = {**claim.data, "status": UNCONFIRMED, "unconfirmed_at": now, "unconfirmed_job": job_name}
        data["error"] = f"{type(exc).__name__}: {exc}"[:500]
        log.warning(
            "%s: submitting job %s for %s failed and it may exist (%s); the next attempt submits it again by name",
            self._label,
            job_name,
            claim.key,
            exc,
        )
        try:
            self._replace(claim.key, data, claim.etag)
        except ConflictError:
            pass  # taken over meanwhile: that caller holds the token and submits under the same name
        except PlatformError as error:
            log.error(
                "%s: could not mark claim %s unconfirmed (a retry takes it over when stale, %s, by the same name): %s",
                self._label,
                claim.key,
                STALE_AFTER,
                error,
            )

    def _replace(self, key: str, data: Mapping[str, Any], etag: str) -> str:
        """Retried once after a transient failure: a settled claim is what later callers answer with."""
        try:
            return self._store.replace(key, data, etag)
        except TransientError:
            time.sleep(0.5)
            return self._store.replace(key, data, etag)

    def _vacant(self, doc: Document) -> bool:
        if doc.data.get("status") == UNCONFIRMED:
            log.info(
                "%s: claim %s is unconfirmed since %s (job %s may exist); submitting it again by name",
                self._label,
                doc.key,
                doc.data.get("unconfirmed_at"),
                doc.data.get("unconfirmed_job"),
            )
            return True
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


def _token_to_keep(doc: Document) -> str | None:
    """The token of a claim whose attempt may have created the job (still submitting, or unconfirmed): taking
    it over keeps it, so the job name stays. None for a settled claim, and for one stored without a token."""
    token = doc.data.get("token")
    if doc.data.get("status") not in (SUBMITTING, UNCONFIRMED) or not isinstance(token, str) or not token:
        return None
    return token


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
