"""The bodies of the operator's rollout controls (``/api/rollouts…``), and the model name in their route.

    POST /api/rollouts                  {"model": "credit-default", "version": 3, "request_id": "redeploy-3"}
    POST /api/rollouts/{model}/abort    {"reason": "p99 doubled on the dashboard", "by": "alice"}   (optional)
    POST /api/rollouts/{model}/approve  {"step": "100", "by": "alice"}                            (optional)

``request_id`` (optional) is the idempotency key of a start: the same id never starts a second rollout; without
it the key is the model and version, so a repeated call for the version is a duplicate. ``step`` (optional)
names what is approved (a percentage, ``retire``, or ``low-traffic:<step>`` for a step held for too little
traffic); without it, whatever the rollout waits on. Unknown fields are rejected. Every body first satisfies
:func:`shared.payloads.json_values.load_json` (UTF-8 JSON, depth, Unicode). Plain Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from shared.payloads import PayloadError
from shared.payloads.events import read_model_name, read_version
from shared.payloads.json_values import load_json

MAX_BODY_BYTES: Final = 16 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_STEP = re.compile(r"^(?:retire|(?:low-traffic:)?(?:mirror|bake|retire|[1-9][0-9]?|100))$")
_MAX_TEXT: Final = 500
_MAX_BY: Final = 128


@dataclass(frozen=True)
class StartRequest:
    model: str
    version: str
    request_id: str | None = None


@dataclass(frozen=True)
class AbortRequest:
    by: str = "operator"
    reason: str | None = None


@dataclass(frozen=True)
class ApproveRequest:
    by: str = "operator"
    step: str | None = None


def route_model(value: Any) -> str:
    """The ``{model}`` of a route, checked like an event's model name."""
    return read_model_name("model", value)


def parse_start(body: bytes | None) -> StartRequest:
    data = _object(body, ("model", "version", "request_id"), required=True)
    if "model" not in data:
        raise PayloadError("model", "required: the model to roll out")
    if "version" not in data:
        raise PayloadError("version", "required: the model version to roll out")
    request_id = data.get("request_id")
    if request_id is not None and (not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id)):
        raise PayloadError("request_id", "expected 1-128 letters, digits, . _ : - (starting with a letter or digit)")
    return StartRequest(read_model_name("model", data["model"]), read_version("version", data["version"]), request_id)


def parse_abort(body: bytes | None) -> AbortRequest:
    data = _object(body, ("reason", "by"))
    return AbortRequest(by=_by(data), reason=_text(data, "reason", _MAX_TEXT))


def parse_approve(body: bytes | None) -> ApproveRequest:
    data = _object(body, ("step", "by"))
    step = data.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, str | int):
            raise PayloadError("step", 'expected a step such as "100", "retire" or "low-traffic:10"')
        step = str(step).strip().lower()
        if not _STEP.fullmatch(step):
            raise PayloadError("step", f"{step[:40]!r} is not a step such as 100, retire or low-traffic:10")
    return ApproveRequest(by=_by(data), step=step)


def _object(body: bytes | None, fields: tuple[str, ...], *, required: bool = False) -> dict[str, Any]:
    if body is None or not body.strip():
        if required:
            raise PayloadError("body", f"expected a JSON object with {', '.join(fields)}")
        return {}
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError("body", f"larger than {MAX_BODY_BYTES} bytes")
    data = load_json(body)
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise PayloadError("body", f"expected a JSON object with {', '.join(fields)}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise PayloadError(unknown[0], f"unknown field; expected {', '.join(fields)}")
    return data


def _text(data: dict[str, Any], field: str, limit: int) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(field, f"expected a string of at most {limit} characters")
    value = " ".join(value.split())
    if len(value) > limit:
        raise PayloadError(field, f"longer than {limit} characters")
    return value or None


def _by(data: dict[str, Any]) -> str:
    return _text(data, "by", _MAX_BY) or "operator"
