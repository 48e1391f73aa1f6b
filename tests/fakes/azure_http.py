"""What the tests put under a real Azure SDK client: canned HTTP answers at the azure-core transport.

A transport subclass plays one service resource (its ``send`` answers with :class:`JsonResponse`); the credential
hands out a token with Azure ML's audience, which ``MLClient`` checks before it sends a pipeline job (never a real
token); :func:`ml_client_on` builds the real ``MLClient`` of one test workspace on such a transport.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

SUBSCRIPTION = "5f1c6c4e-8a53-4b36-9a4c-0a5b7d1e2f30"
WORKSPACE = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-mlops/providers/Microsoft.MachineLearningServices/workspaces/mlw"
)
_NEVER_EXPIRES = 4_102_444_800


class _Raw:
    def close(self) -> None:
        pass


class JsonResponse(HttpResponseImpl):
    """An HTTP answer with a JSON body."""

    def __init__(self, request: Any, status: int, body: dict[str, Any]) -> None:
        super().__init__(
            request=request,
            internal_response=_Raw(),
            status_code=status,
            reason="OK" if status == 200 else "Error",
            content_type="application/json",
            headers=case_insensitive_dict({"Content-Type": "application/json"}),
            stream_download_generator=None,
        )
        self._content = json.dumps(body).encode()

    def read(self) -> bytes:
        return self._content or b""


class InMemoryTransport(HttpTransport):
    """A transport with nothing to open or close: subclasses answer in ``send``."""

    def send(self, request: Any, **kwargs: Any) -> JsonResponse:
        raise NotImplementedError

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> InMemoryTransport:
        return self

    def __exit__(self, *args: object) -> None: ...


class StaticCredential:
    """A token with Azure ML's audience (the SDK checks it before sending a pipeline job)."""

    def __init__(self) -> None:
        from azure.ai.ml._azure_environments import _get_aml_resource_id_from_metadata

        self.token = jwt.encode({"aud": _get_aml_resource_id_from_metadata()}, "test-key-" * 4, algorithm="HS256")

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, _NEVER_EXPIRES)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self.token, _NEVER_EXPIRES)


def ml_client_on(transport: HttpTransport) -> Any:
    """The real ``MLClient`` of the test workspace (``WORKSPACE``), sending through ``transport``, no retries."""
    from azure.ai.ml import MLClient

    return MLClient(
        StaticCredential(),
        subscription_id=SUBSCRIPTION,
        resource_group_name="rg-mlops",
        workspace_name="mlw",
        transport=transport,
        retry_total=0,
        show_progress=False,
    )
