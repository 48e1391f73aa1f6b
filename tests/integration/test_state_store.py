"""The Blob state store on Azurite: ETag conditions, leases, submission claims across threads and processes, and
documents that are not JSON objects."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient

from shared.azure.storage import BlobStateStore
from shared.ports import ConflictError, CorruptDocumentError, Document, LockHeldError, PlatformError, TransientError
from shared.services.submission_claim import Claim, SubmissionClaims
from shared.settings import Settings


@pytest.fixture
def store(storage_env: dict[str, str]) -> BlobStateStore:
    return BlobStateStore.from_settings(Settings(storage_env))


def _state_container(storage_env: dict[str, str]) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(storage_env["STORAGE_CONNECTION_STRING"])
    return service.get_container_client(storage_env["STATE_CONTAINER"])


def plant(storage_env: dict[str, str], key: str, raw: bytes) -> None:
    """Write ``raw`` at ``key`` behind the store's back, as a hand edit or a cut-short upload would."""
    container = _state_container(storage_env)
    with suppress(ResourceExistsError):
        container.create_container()
    container.upload_blob(key, raw, overwrite=True)


def stored(storage_env: dict[str, str], key: str) -> bytes:
    return bytes(_state_container(storage_env).download_blob(key).readall())


def test_create_then_get_returns_data_and_etag(store: BlobStateStore) -> None:
    etag = store.create("a/doc.json", {"x": 1})
    doc = store.get("a/doc.json")
    assert doc is not None and doc.data == {"x": 1} and doc.etag == etag


def test_get_missing_is_none(store: BlobStateStore) -> None:
    assert store.get("nope.json") is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"watermark": "2026-11-24T10:00:00Z", "pending_fi', "not valid JSON (Unterminated string"),
        (b"", "not valid JSON (Expecting value at line 1 column 1)"),
        (b'{"a": 1} trailing', "not valid JSON (Extra data"),
        (b'\xff\xfe{"a": 1}', "not UTF-8"),
        (b"[1, 2]", "a JSON list, not an object"),
        (b'"text"', "a JSON str, not an object"),
        (b"null", "a JSON NoneType, not an object"),
    ],
    ids=["truncated", "empty", "trailing", "not-utf8", "list", "string", "null"],
)
def test_a_document_that_is_not_a_json_object_is_an_error_naming_it(
    store: BlobStateStore, storage_env: dict[str, str], raw: bytes, reason: str
) -> None:
    store.create("export/watermark.json", {"v": 1})  # the container exists; then the blob is broken by hand
    plant(storage_env, "export/watermark.json", raw)

    with pytest.raises(CorruptDocumentError) as caught:
        store.get("export/watermark.json")

    error = caught.value
    assert error.key == "export/watermark.json" and reason in error.detail
    assert "'export/watermark.json' is unreadable" in str(error) and "fix or delete it" in str(error)
    assert isinstance(error, PlatformError) and not isinstance(error, TransientError)  # a retry reads the same bytes
    with pytest.raises(ConflictError):  # never taken for absent: create-if-absent does not write over it
        store.create("export/watermark.json", {"v": 2})
    assert stored(storage_env, "export/watermark.json") == raw
    assert store.delete("export/watermark.json")  # what an operator does with it
    assert store.get("export/watermark.json") is None


def test_create_if_absent_conflicts_when_present(store: BlobStateStore) -> None:
    store.create("doc.json", {"v": 1})
    with pytest.raises(ConflictError, match="already exists"):
        store.create("doc.json", {"v": 2})
    assert store.get("doc.json").data == {"v": 1}  # type: ignore[union-attr]


def test_replace_with_stale_etag_is_a_conflict(store: BlobStateStore) -> None:
    first = store.create("doc.json", {"v": 1})
    second = store.replace("doc.json", {"v": 2}, first)
    assert second != first
    with pytest.raises(ConflictError, match="changed since it was read"):
        store.replace("doc.json", {"v": 3}, first)
    assert store.get("doc.json").data == {"v": 2}  # type: ignore[union-attr]


def test_replace_of_deleted_document_is_a_conflict(store: BlobStateStore) -> None:
    etag = store.create("doc.json", {"v": 1})
    assert store.delete("doc.json")
    with pytest.raises(ConflictError):
        store.replace("doc.json", {"v": 2}, etag)


def test_delete_with_stale_etag_is_a_conflict(store: BlobStateStore) -> None:
    first = store.create("doc.json", {"v": 1})
    store.put("doc.json", {"v": 2})
    with pytest.raises(ConflictError):
        store.delete("doc.json", first)
    assert not store.delete("missing.json")


def test_list_by_prefix(store: BlobStateStore) -> None:
    for key in ("r/a.json", "r/b.json", "s/c.json"):
        store.put(key, {})
    assert store.list("r/") == ["r/a.json", "r/b.json"]


def test_concurrent_replace_has_exactly_one_winner(store: BlobStateStore) -> None:
    etag = store.create("counter.json", {"n": 0})

    def attempt(i: int) -> bool:
        try:
            store.replace("counter.json", {"n": i}, etag)
        except ConflictError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(attempt, range(8))) == 1


def test_lock_excludes_a_second_holder(store: BlobStateStore) -> None:
    with store.lock("job"):
        with pytest.raises(LockHeldError, match="job"), store.lock("job"):
            pass
        # Another name is independent.
        with store.lock("other"):
            pass
    with store.lock("job"):  # released on exit
        pass


def test_lock_is_released_when_the_body_raises(store: BlobStateStore) -> None:
    with pytest.raises(RuntimeError), store.lock("job"):
        raise RuntimeError("boom")
    with store.lock("job"):
        pass


def test_lock_waits_for_the_holder(store: BlobStateStore) -> None:
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.lock("job"):
            entered.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    entered.wait(5)
    threading.Timer(0.5, release.set).start()
    with store.lock("job", wait_seconds=10):
        pass
    t.join()


def test_lock_is_renewed_while_held(store: BlobStateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BlobStateStore, "LEASE_SECONDS", 15)  # the shortest lease Blob Storage grants
    import time

    with store.lock("long"):
        time.sleep(16)  # past one lease period: still held thanks to renewal
        with pytest.raises(LockHeldError), store.lock("long"):
            pass


def test_a_submission_claim_is_held_once_and_release_allows_reclaim(store: BlobStateStore) -> None:
    claims = SubmissionClaims(store, label="test")
    first = claims.take("claims/alert-1", {"job": "j1"})
    assert isinstance(first, Claim)
    again = claims.take("claims/alert-1", {"job": "j2"})
    assert isinstance(again, Document) and again.data["job"] == "j1"
    claims.release(first)
    assert isinstance(claims.take("claims/alert-1", {}), Claim)


def _claim_in_process(env: dict[str, str], key: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    claims = SubmissionClaims(BlobStateStore.from_settings(Settings(env)), label="test")
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: isinstance(claims.take(key, {}), Claim), range(n)))
    out.put(sum(results))


def test_twenty_concurrent_claims_across_threads_and_processes_have_one_winner(storage_env: dict[str, str]) -> None:
    BlobStateStore.from_settings(Settings(storage_env))  # create the container first
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_claim_in_process, args=(storage_env, "once", 5, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sum(out.get(timeout=5) for _ in procs) == 1
