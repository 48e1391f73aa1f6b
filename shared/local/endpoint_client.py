"""The client side of the local endpoint: a direct call to one deployment, and a scoring call through the router.

:func:`invoke_deployment` is what :meth:`shared.ports.EndpointPlatform.invoke` does on this machine (the rollout's
smoke test): ``POST /score`` to the deployment's own ``azmlinfsrv`` port, bypassing the traffic rules, with its
answer mapped to the port's errors as the Azure implementation maps Azure ML's: 4xx and 500 (score.py failed) →
:class:`~shared.ports.PlatformError` carrying the answer's error message; a connection failure, a timeout, 408,
429, 502, 503 or 504 → :class:`~shared.ports.TransientError`. :func:`score_through_router` is what a client of the
endpoint does (``POST /score`` to the router, which picks the deployment): status, body and the deployment that
served it, as they are.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Mapping

from shared.local.endpoint_router import DEPLOYMENT_HEADER, post
from shared.local.serve import LOOPBACK
from shared.ports import PlatformError, TransientError

_TRANSIENT_STATUSES = (408, 429, 502, 503, 504)


def invoke_deployment(port: int, body: bytes, timeout: float, *, endpoint: str, deployment: str) -> bytes:
    """The answer of ``deployment`` (listening on ``port``) to ``body``; the port's errors otherwise (see above)."""
    try:
        status, answer, _ = post(
            port,
            body,
            {"Content-Type": "application/json", "x-request-id": f"invoke-{uuid.uuid4()}"},
            timeout,
        )
    except TimeoutError as exc:
        raise TransientError(f"invoke {deployment} on {endpoint}: timed out after {timeout:g}s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(f"invoke {deployment} on {endpoint}: {type(exc).__name__}: {exc}") from exc
    if status >= 400:
        error = f"invoke {deployment} on {endpoint}: HTTP {status}: {error_of(answer)}"
        if status in _TRANSIENT_STATUSES:
            raise TransientError(error)
        raise PlatformError(error)
    return answer


def score_through_router(
    port: int, body: bytes, headers: Mapping[str, str] | None, timeout: float, *, endpoint: str
) -> tuple[int, bytes, str]:
    """POST ``body`` to the router of ``endpoint`` on ``port``: (status, body, deployment that served it, ``""``
    when none did). TransientError when the router cannot be reached or does not answer within ``timeout``."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("POST", "/score", body, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader(DEPLOYMENT_HEADER) or ""
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(f"endpoint {endpoint}: {type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()


def error_of(body: bytes) -> str:
    """The error message of a JSON error answer (``{"error": …}`` from score.py), else a snippet of the body."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _snippet(body)
    if isinstance(doc, dict):
        for key in ("error", "message", "detail"):
            if isinstance(doc.get(key), str):
                return doc[key]
    return _snippet(body)


def _snippet(data: bytes | str, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
