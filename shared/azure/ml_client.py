"""One way to build an ``MLClient`` and to read the errors it raises, for every ``shared/azure`` module
on ``azure-ai-ml`` (jobs, endpoints, models, data assets). ``azure.ai.ml`` is imported inside the
functions, so importing this module costs nothing at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from shared.ports import NotFoundError, PlatformError, TransientError
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

# A handler or a reconciler tick must stay short: a few quick retries, then the caller sees a
# TransientError (the action group, Event Grid or the next tick retries).
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 2,
    "retry_backoff_factor": 0.8,
    "retry_backoff_max": 8,
    "connection_timeout": 10,
    "read_timeout": 60,
}


def workspace_client(subscription_id: str, resource_group: str, workspace_name: str) -> MLClient:
    """``MLClient(DefaultAzureCredential(), …)`` for one workspace (managed identity in Azure)."""
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    return MLClient(
        DefaultAzureCredential(),
        subscription_id=subscription_id,
        resource_group_name=resource_group,
        workspace_name=workspace_name,
        show_progress=False,
        **CLIENT_OPTIONS,
    )


def make_ml_client(settings: Settings, registry_name: str | None = None) -> MLClient:
    """The workspace's client from the settings or, with ``registry_name``, an Azure ML registry's."""
    if registry_name:
        from azure.ai.ml import MLClient
        from azure.identity import DefaultAzureCredential

        return MLClient(DefaultAzureCredential(), registry_name=registry_name, show_progress=False, **CLIENT_OPTIONS)
    return workspace_client(settings.subscription_id, settings.resource_group, settings.workspace_name)


class LazyMLClient:
    """Mixin for the Azure modules on ``azure-ai-ml``: :attr:`client` is the ``MLClient`` given (tests pass
    fakes), else one built by ``build`` on first use, once, under a lock, so a handler that answers from the
    state store never pays for importing ``azure.ai.ml`` or fetching a token."""

    _client: Any
    _build_client: Callable[[], Any] | None
    _client_lock: threading.Lock

    def _init_client(self, client: Any | None, build: Callable[[], Any] | None) -> None:
        self._client = client
        self._build_client = build
        self._client_lock = threading.Lock()

    @property
    def client(self) -> MLClient:
        with self._client_lock:
            if self._client is None:
                if self._build_client is None:
                    raise PlatformError("no MLClient was given and there are no settings to build one")
                self._client = self._build_client()
            return self._client  # type: ignore[no-any-return]


# Statuses a later retry can fix, by operation: management calls (jobs, models, endpoints), where 409 means
# "another operation on this endpoint is in progress", and invoking a deployment, where 500 is the scoring
# script failing (the smoke test must fail) rather than the service.
TRANSIENT_STATUS: Final = frozenset({408, 429, *range(500, 600)})
TRANSIENT_ENDPOINT_STATUS: Final = frozenset({408, 409, 429, 500, 502, 503, 504})
TRANSIENT_INVOKE_STATUS: Final = frozenset({408, 429, 502, 503, 504})


def translate_ml_error(
    exc: BaseException,
    what: str,
    *,
    transient_status: frozenset[int] = TRANSIENT_STATUS,
    conflict_is_transient: bool = False,
) -> PlatformError:
    """Map an ``azure-ai-ml`` / azure-core / azure-identity error to the port's error types.

    Transient (retrying later may succeed): a status in ``transient_status``, connection errors and timeouts,
    a token that cannot be fetched or was refused (``ClientAuthenticationError``), and with
    ``conflict_is_transient`` a ``ResourceExistsError``. Not found: NotFoundError. Everything else (400 bad
    request, 403 missing role, client-side validation): PlatformError. ``MlException`` wrappers are
    classified by the error they wrap.
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    for cause in exception_chain(exc):
        if isinstance(cause, PlatformError):
            return cause
        if isinstance(cause, ClientAuthenticationError):
            return TransientError(f"{what}: could not get or use an access token ({first_line(cause)})")
        if isinstance(cause, ServiceRequestError | ServiceResponseError | TimeoutError | ConnectionError):
            return TransientError(f"{what}: {type(cause).__name__}: {first_line(cause)}")
        if isinstance(cause, ResourceNotFoundError):
            return NotFoundError(f"{what}: not found ({first_line(cause)})")
        if isinstance(cause, ResourceExistsError) and conflict_is_transient:
            return TransientError(f"{what}: conflict, another operation is in progress ({first_line(cause)})")
        if isinstance(cause, HttpResponseError):
            status = cause.status_code
            error = TransientError if status in transient_status else PlatformError
            return error(f"{what}: HTTP {status}: {first_line(cause)}")
    return PlatformError(f"{what}: {type(exc).__name__}: {first_line(exc)}")


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc``, then what it wraps (``inner_exception`` of MlException, ``__cause__``), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        inner = getattr(current, "inner_exception", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return chain


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 500 characters), or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
