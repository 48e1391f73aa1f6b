"""The submission claim both retraining and drift use: claim, settle, release, take over, and submit under a
job name that survives a lost answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.platform_rules import check_job_name
from shared.ports import ConflictError, Document, PipelineJobRequest, PlatformError, TransientError
from shared.services.submission_claim import (
    STALE_AFTER,
    SUBMITTING,
    UNCONFIRMED,
    Claim,
    SubmissionClaims,
    Vacancy,
)
from tests.fakes.job_platform import FakeJobPlatform
from tests.fakes.memory_state_store import MemoryStateStore

KEY = "jobs/one.json"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def claims(
    store: MemoryStateStore, clock: Clock, may_take_over: Callable[[Document], bool] | None = None
) -> SubmissionClaims:
    return SubmissionClaims(store, label="test", clock=clock, may_take_over=may_take_over)


def test_the_first_caller_claims_and_every_later_one_gets_its_document() -> None:
    store, clock = MemoryStateStore(), Clock()
    first = claims(store, clock).take(KEY, {"what": "x"})
    second = claims(store, clock).take(KEY, {"what": "x"})
    assert isinstance(first, Claim) and isinstance(second, Document)
    assert second.data["status"] == SUBMITTING and second.data["what"] == "x"
    assert second.data["claimed_at"] == "2026-11-24T12:00:00+00:00"
    assert second.data["token"] == first.token


def test_settling_keeps_the_claim_fields_and_the_token_and_records_the_job() -> None:
    store, clock = MemoryStateStore(), Clock()
    service = claims(store, clock)
    claim = service.take(KEY, {"what": "x"})
    assert isinstance(claim, Claim)
    clock.now += timedelta(seconds=3)
    service.settle(claim, "submitted", {"job_name": "job-1"})
    data = store.get(KEY).data
    assert data["status"] == "submitted" and data["job_name"] == "job-1" and data["what"] == "x"
    assert (data["claimed_at"], data["settled_at"]) == ("2026-11-24T12:00:00+00:00", "2026-11-24T12:00:03+00:00")
    assert data["token"] == claim.token
    assert isinstance(service.inspect(KEY), Document)  # settled: held for good without a predicate


def test_a_claim_left_submitting_is_taken_over_once_stale_by_one_caller_only() -> None:
    store, clock = MemoryStateStore(), Clock()
    dead = claims(store, clock).take(KEY, {})
    assert isinstance(dead, Claim)
    clock.now += STALE_AFTER - timedelta(seconds=1)
    assert isinstance(claims(store, clock).take(KEY, {}), Document)
    clock.now += timedelta(seconds=1)
    vacancy = claims(store, clock).inspect(KEY)
    assert vacancy == Vacancy(store.get(KEY).etag, dead.token)
    winner = claims(store, clock).acquire(KEY, {}, vacancy)
    loser = claims(store, clock).acquire(KEY, {}, vacancy)
    assert isinstance(winner, Claim) and loser is None
    assert winner.token == dead.token  # the dead attempt may have created the job: the same name finds it
    with pytest.raises(ConflictError):  # the dead attempt, had it lived on, cannot settle any more
        claims(store, clock).settle(dead, "submitted", {"job_name": "late"})
    claims(store, clock).settle(dead, "submitted", {"job_name": "late"}, overwrite=True)
    assert store.get(KEY).data["job_name"] == "late"


def test_a_settled_claim_is_taken_over_only_when_the_caller_says_so() -> None:
    store, clock = MemoryStateStore(), Clock()
    claim = claims(store, clock).take(KEY, {})
    assert isinstance(claim, Claim)
    claims(store, clock).settle(claim, "submitted", {"job_name": "failed-job"})
    ended = claims(store, clock, may_take_over=lambda doc: doc.data["job_name"] == "failed-job")
    again = ended.take(KEY, {})
    assert isinstance(again, Claim)
    assert again.token != claim.token  # a new job is what it asks for: a new name


def test_a_release_lets_the_next_caller_claim_and_never_deletes_a_claim_taken_over() -> None:
    store, clock = MemoryStateStore(), Clock()
    claim = claims(store, clock).take(KEY, {})
    assert isinstance(claim, Claim)
    claims(store, clock).release(claim)
    again = claims(store, clock).take(KEY, {})
    assert isinstance(again, Claim)
    claims(store, clock).release(claim)  # an old ETag: not this caller's to delete
    assert store.get(KEY) is not None


def test_a_claim_document_is_plain_json() -> None:
    store, clock = MemoryStateStore(), Clock()
    claim = claims(store, clock).take(KEY, {"n": 1})
    assert isinstance(claim, Claim)
    assert json.loads(json.dumps(dict(claim.data))) == dict(claim.data)
    assert set(claim.data) == {"n", "status", "claimed_at", "token"}


def test_a_claim_stored_with_the_earlier_field_names_is_still_a_claim() -> None:
    store, clock = MemoryStateStore(), Clock()
    settled = {"state": "submitted", "job_name": "job-1", "submitted_at": "2026-11-24T11:00:00+00:00"}
    store.create(KEY, settled)
    found = claims(store, clock).take(KEY, {})
    assert isinstance(found, Document)
    assert (found.data["status"], found.data["settled_at"], found.data["job_name"]) == (
        "submitted",
        "2026-11-24T11:00:00+00:00",
        "job-1",
    )
    store.put(KEY, {"state": SUBMITTING, "claimed_at": (clock.now - STALE_AFTER).isoformat()})
    taken = claims(store, clock).take(KEY, {})
    assert isinstance(taken, Claim)  # stale: taken over like any other
    assert taken.token  # it had none (its attempt named no job): a new one, and a job name from it


# --- submitting under the claim ------------------------------------------------------------------

REQUEST = PipelineJobRequest("ml_assets/pipelines/train_model.yml", {}, "credit-default-training")


def test_the_job_name_is_valid_and_the_same_for_every_holder_of_the_claim() -> None:
    store, clock = MemoryStateStore(), Clock()
    claim = claims(store, clock).take(KEY, {})
    assert isinstance(claim, Claim)
    name = SubmissionClaims.job_name(claim, REQUEST)
    check_job_name(name)
    assert name == f"credit-default-training-{claim.token}"
    assert SubmissionClaims.job_name(Claim(KEY, "other-etag", {"token": claim.token}), REQUEST) == name


def test_a_lost_answer_keeps_the_claim_unconfirmed_and_the_retry_gets_the_one_job() -> None:
    store, clock, platform = MemoryStateStore(), Clock(), FakeJobPlatform()
    platform.lost_answers = 1
    first = claims(store, clock).take(KEY, {"what": "x"})
    assert isinstance(first, Claim)

    with pytest.raises(TransientError, match="Read timed out"):
        claims(store, clock).submit(first, platform, REQUEST)

    kept = store.get(KEY).data
    assert kept["status"] == UNCONFIRMED and kept["token"] == first.token and kept["what"] == "x"
    assert kept["unconfirmed_job"] == platform.job_names[0]
    assert "Read timed out" in kept["error"]
    retry = claims(store, clock).take(KEY, {"what": "x"})  # at once, not after STALE_AFTER
    assert isinstance(retry, Claim) and retry.token == first.token
    assert claims(store, clock).submit(retry, platform, REQUEST) == platform.job_names[0]
    assert platform.submissions == 1 and platform.calls == 2


def test_an_unconfirmed_claim_is_taken_over_by_one_caller_only() -> None:
    store, clock, platform = MemoryStateStore(), Clock(), FakeJobPlatform()
    platform.failures = [TransientError("HTTP 503")]
    first = claims(store, clock).take(KEY, {})
    assert isinstance(first, Claim)
    with pytest.raises(TransientError):
        claims(store, clock).submit(first, platform, REQUEST)

    vacancy = claims(store, clock).inspect(KEY)
    assert vacancy == Vacancy(store.get(KEY).etag, first.token)
    winner = claims(store, clock).acquire(KEY, {}, vacancy)
    loser = claims(store, clock).acquire(KEY, {}, vacancy)
    assert isinstance(winner, Claim) and loser is None
    assert isinstance(claims(store, clock).inspect(KEY), Document)  # submitting again: held


def test_a_refused_submission_releases_the_claim_and_the_next_one_gets_a_new_name() -> None:
    store, clock, platform = MemoryStateStore(), Clock(), FakeJobPlatform()
    platform.failures = [PlatformError("HTTP 400: compute cpu-cluster not found")]
    first = claims(store, clock).take(KEY, {})
    assert isinstance(first, Claim)

    with pytest.raises(PlatformError, match="compute"):
        claims(store, clock).submit(first, platform, REQUEST)

    assert store.get(KEY) is None
    second = claims(store, clock).take(KEY, {})
    assert isinstance(second, Claim) and second.token != first.token
    assert claims(store, clock).submit(second, platform, REQUEST) == SubmissionClaims.job_name(second, REQUEST)
    assert platform.submissions == 1


def test_an_unexpected_error_while_submitting_counts_as_a_job_that_may_exist() -> None:
    store, clock, platform = MemoryStateStore(), Clock(), FakeJobPlatform()
    platform.failures = [RuntimeError("connection pool closed")]
    claim = claims(store, clock).take(KEY, {})
    assert isinstance(claim, Claim)

    with pytest.raises(RuntimeError):
        claims(store, clock).submit(claim, platform, REQUEST)

    assert store.get(KEY).data["status"] == UNCONFIRMED


def test_a_claim_that_cannot_be_marked_unconfirmed_keeps_its_token_for_the_take_over() -> None:
    store, clock, platform = MemoryStateStore(), Clock(), FakeJobPlatform()
    platform.lost_answers = 1
    claim = claims(store, clock).take(KEY, {})
    assert isinstance(claim, Claim)
    store.replace = _unavailable  # type: ignore[method-assign]

    with pytest.raises(TransientError):
        claims(store, clock).submit(claim, platform, REQUEST)

    assert store.get(KEY).data["status"] == SUBMITTING  # left as it was: in progress until stale
    del store.replace
    clock.now += STALE_AFTER
    taken = claims(store, clock).take(KEY, {})
    assert isinstance(taken, Claim) and taken.token == claim.token
    assert claims(store, clock).submit(taken, platform, REQUEST) == platform.job_names[0]
    assert platform.submissions == 1


def _unavailable(*args: object, **kwargs: object) -> str:
    raise TransientError("state store: HTTP 503")
