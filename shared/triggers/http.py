"""HTTP response helpers shared by the HTTP-triggered functions."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str, sort_keys=True),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def error_response(status: int, message: str, **extra: Any) -> func.HttpResponse:
    return json_response(status, {"error": message, **extra})
