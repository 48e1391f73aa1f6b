"""Event Grid events the app consumes: ``Microsoft.MachineLearningServices.ModelRegistered``.

The workspace system topic sends ``data`` with camelCase keys (``modelName``, ``modelVersion``,
``modelTags``, ``modelProperties``); other senders (older SDKs, hand-made test events) use PascalCase
or snake_case, and the version arrives as an integer or a string. All are accepted. The subject is
``models/<name>:<version>``; it backs up missing data keys and must agree with them when both are present.

Plain Python: no Azure SDK import. Invalid input raises :class:`shared.payloads.PayloadError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.payloads import PayloadError

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"

_SUBJECT = re.compile(r"^models/(?P<name>[^:/]+):(?P<version>[^:/]+)$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class ModelRegisteredEvent:
    """A validated ModelRegistered event. ``version`` is normalised text (``12``, never ``12.0``)."""

    event_id: str
    model_name: str
    version: str
    tags: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)
    subject: str = ""
    event_time: datetime | None = None


def is_model_registered(event_type: str | None) -> bool:
    return (event_type or "").strip().lower() == MODEL_REGISTERED.lower()


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a model version (``"2" < "10"``, ``"1.2" < "1.10"``). Raises ValueError if not numeric."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"model version {version!r} is not numeric")
    return tuple(int(part) for part in version.split("."))


def parse_model_registered(
    *, event_id: str | None, event_type: str | None, subject: str | None, data: Any, event_time: datetime | None = None
) -> ModelRegisteredEvent:
    """Validate one ModelRegistered event (the caller has checked the type with :func:`is_model_registered`)."""
    if not event_id or not str(event_id).strip():
        raise PayloadError("id", "the event has no id")
    if not is_model_registered(event_type):
        raise PayloadError("eventType", f"expected {MODEL_REGISTERED}, got {event_type!r}")
    payload = _data_object(data)
    keys = {_normalise_key(k): k for k in payload}

    def pick(name: str) -> tuple[str, Any] | None:
        original = keys.get(name)
        return (f"data.{original}", payload[original]) if original is not None else None

    subject_name = subject_version = None
    if subject:
        match = _SUBJECT.fullmatch(subject.strip())
        if match:
            subject_name, subject_version = match["name"], match["version"]

    name_item = pick("modelname")
    if name_item is None:
        if subject_name is None:
            raise PayloadError("data.modelName", "missing (and the subject is not models/<name>:<version>)")
        name_item = ("subject", subject_name)
    name = _model_name(*name_item)

    version_item = pick("modelversion")
    if version_item is None:
        if subject_version is None:
            raise PayloadError("data.modelVersion", "missing (and the subject is not models/<name>:<version>)")
        version_item = ("subject", subject_version)
    version = _version(*version_item)

    if subject_name is not None and subject_name != name:
        raise PayloadError("subject", f"names model {subject_name!r} but data.modelName is {name!r}")
    if subject_version is not None and _version("subject", subject_version) != version:
        raise PayloadError("subject", f"names version {subject_version!r} but data.modelVersion is {version!r}")

    tags = _string_map(pick("modeltags"), "data.modelTags")
    properties = _string_map(pick("modelproperties"), "data.modelProperties")
    return ModelRegisteredEvent(
        event_id=str(event_id).strip(),
        model_name=name,
        version=version,
        tags=tags,
        properties=properties,
        subject=subject or "",
        event_time=event_time,
    )


def _data_object(data: Any) -> Mapping[str, Any]:
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PayloadError("data", f"not JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, Mapping):
        raise PayloadError("data", f"expected a JSON object, got {type(data).__name__}")
    return data


def _normalise_key(key: Any) -> str:
    """``modelName``, ``ModelName`` and ``model_name`` all become ``modelname``."""
    return str(key).replace("_", "").lower()


def _model_name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _MODEL_NAME.fullmatch(value.strip()):
        raise PayloadError(where, f"expected a model name, got {value!r}")
    return value.strip()


def _version(where: str, value: Any) -> str:
    if isinstance(value, bool):
        raise PayloadError(where, f"expected a version (integer or numeric string), got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise PayloadError(where, f"expected a non-negative version, got {value}")
        return str(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        if _VERSION.fullmatch(text):
            # "007" and "7" are the same version for Azure ML's integer versions.
            return ".".join(str(int(p)) for p in text.split("."))
        raise PayloadError(where, f"expected a numeric version such as 12, got {value!r}")
    raise PayloadError(where, f"expected a version (integer or numeric string), got {type(value).__name__}")


def _string_map(item: tuple[str, Any] | None, where: str) -> dict[str, str]:
    if item is None or item[1] is None:
        return {}
    value = item[1]
    if not isinstance(value, Mapping):
        raise PayloadError(item[0], f"expected an object of tags, got {type(value).__name__}")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}
