"""Session fixtures: Azurite on a free loopback port in a temporary folder, and per-test containers."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.context import AppContext, use_context
from shared.local.azurite import Azurite
from shared.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "credit-card-default"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    with Azurite(location=tmp_path_factory.mktemp("azurite")) as instance:
        yield instance


@pytest.fixture
def storage_env(azurite: Azurite) -> dict[str, str]:
    """Settings for a fresh state container on the session's Azurite (one per test: no shared state)."""
    return {
        "STORAGE_CONNECTION_STRING": azurite.connection_string,
        "STATE_CONTAINER": f"state-{uuid.uuid4().hex[:20]}",
        "EXPORT_CONTAINER": f"data-{uuid.uuid4().hex[:20]}",
        "LABELS_CONTAINER": f"labels-{uuid.uuid4().hex[:20]}",
    }


@pytest.fixture
def app_context(storage_env: dict[str, str]) -> Iterator[AppContext]:
    """A fresh AppContext on Azurite, installed for the handlers under test."""
    context = AppContext(settings=Settings(storage_env))
    use_context(context)
    yield context
    use_context(None)


@pytest.fixture(autouse=True)
def _no_leaked_context() -> Iterator[None]:
    yield
    use_context(None)


@pytest.fixture
def real_data_csv() -> Path:
    """The real UCI data set from ../shared; the test is skipped when it is absent."""
    path = SHARED_DATA / "curated.csv"
    if not path.exists():
        pytest.skip(f"real data not available at {path}")
    return path


def pytest_configure(config: pytest.Config) -> None:
    # Tests talk to loopback only: make sure no proxy setting sends Azurite traffic elsewhere.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture
def no_pending_garbage() -> None:
    """Collect what earlier tests left for the garbage collector before a test that drives parsers into
    RecursionError: a collection that starts near the recursion limit runs those objects' finalizers there, and a
    finalizer's warning that cannot be formatted is an unraisable exception, which fails the test."""
    gc.collect()
