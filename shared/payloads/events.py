"""Event Grid events the app consumes: ``Microsoft.MachineLearningServices.ModelRegistered``.

An Event Grid subscription delivers in the Event Grid schema (``id``, ``topic``, ``subject``, ``eventType``,
``eventTime``, ``data``, ``dataVersion``) or in CloudEvents 1.0 (``id``, ``source``, ``subject``, ``type``,
``time``, ``data``, ``specversion``). The Functions worker decodes the first into ``func.EventGridEvent``
and the second (a body with ``specversion``) into ``func.CloudEvent``, whatever the function's annotation
says; :func:`read_envelope` reads either into one :class:`EventEnvelope`, and errors name the field as that
schema spells it.

The workspace system topic sends ``data`` with camelCase keys (``modelName``, ``modelVersion``,
``modelTags``, ``modelProperties``); other senders (older SDKs, hand-made test events) use PascalCase
or snake_case, and the version arrives as an integer or a string. All are accepted. The subject is
``models/<name>:<version>``; it backs up missing data keys and must agree with them when both are present.

Plain Python: no Azure SDK import. Invalid input raises :class:`shared.payloads.PayloadError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from shared.payloads import PayloadError
from shared.payloads.json_values import check_json, load_json, to_utc

MODEL_REGISTERED = "Microsoft.MachineLearningServices.ModelRegistered"

_SUBJECT = re.compile(r"^models/(?P<name>[^:/]+):(?P<version>[^:/]+)$")
_VERSION = re.compile(r"^\d+(?:\.\d+)*$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_MAX_VERSION_CHARS: Final = 64  # Azure ML versions are small integers; int() of a long digit string is slow
_MAX_TEXT_CHARS: Final = 1024  # ids and subjects are GUIDs and short paths


class EventSchema(StrEnum):
    EVENT_GRID = "EventGridSchema"
    CLOUD_EVENTS = "CloudEventSchemaV1_0"


# How each schema spells the envelope's fields, for error messages.
_FIELD_NAMES: Final = {
    EventSchema.EVENT_GRID: {"type": "eventType", "time": "eventTime"},
    EventSchema.CLOUD_EVENTS: {"type": "type", "time": "time"},
}

# The attributes of func.EventGridEvent and func.CloudEvent holding the type and the time.
_ATTRIBUTES: Final = {
    EventSchema.EVENT_GRID: ("event_type", "event_time"),
    EventSchema.CLOUD_EVENTS: ("type", "time"),
}


@dataclass(frozen=True)
class EventEnvelope:
    """One delivered event in either schema, its attributes as delivered (not yet validated)."""

    schema: EventSchema
    id: Any
    type: Any
    subject: Any
    time: Any
    data: Any
    data_error: str | None = None  # the event's data could not be read as JSON

    def label(self) -> str:
        """The id for a log line: as delivered when it is a short printable string, else its repr cut short."""
        if isinstance(self.id, str) and len(self.id) <= 200 and self.id.isprintable() and _encodes(self.id):
            return self.id
        return _show(self.id)

    def type_label(self) -> str:
        return _show(self.type)

    def subject_label(self) -> str:
        return _show(self.subject)


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


def read_envelope(event: Any) -> EventEnvelope:
    """The envelope of a ``func.EventGridEvent`` or ``func.CloudEvent`` (read by attribute: no SDK import).
    Never raises."""
    try:
        data, data_error = event.get_json(), None
    except ValueError as exc:
        data, data_error = None, str(exc)
    schema = EventSchema.CLOUD_EVENTS if hasattr(event, "specversion") else EventSchema.EVENT_GRID
    kind, moment = (getattr(event, name, None) for name in _ATTRIBUTES[schema])
    return EventEnvelope(
        schema=schema,
        id=getattr(event, "id", None),
        type=kind,
        subject=getattr(event, "subject", None),
        time=moment,
        data=data,
        data_error=data_error,
    )


def is_model_registered(event_type: Any) -> bool:
    return isinstance(event_type, str) and event_type.strip().lower() == MODEL_REGISTERED.lower()


def parse_envelope(envelope: EventEnvelope) -> ModelRegisteredEvent:
    """Validate the ModelRegistered event of ``envelope``; errors name the field as its schema spells it."""
    if envelope.data_error is not None:
        raise PayloadError("data", f"not JSON ({envelope.data_error})")
    return parse_model_registered(
        event_id=envelope.id,
        event_type=envelope.type,
        subject=envelope.subject,
        data=envelope.data,
        event_time=envelope.time,
        schema=envelope.schema,
    )


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a model version (``"2" < "10"``, ``"1.2" < "1.10"``). Raises ValueError if not numeric."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"model version {version!r} is not numeric")
    return tuple(int(part) for part in version.split("."))


def parse_model_registered(
    *,
    event_id: Any,
    event_type: Any,
    subject: Any,
    data: Any,
    event_time: Any = None,
    schema: EventSchema = EventSchema.EVENT_GRID,
) -> ModelRegisteredEvent:
    """Validate one ModelRegistered event (the caller has checked the type with :func:`is_model_registered`).
    Total: any value of any argument is an event or a PayloadError naming the field."""
    names = _FIELD_NAMES[schema]
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        raise PayloadError("id", "the event has no id")
    event_id = _text(event_id, "id")
    if not is_model_registered(event_type):
        raise PayloadError(names["type"], f"expected {MODEL_REGISTERED}, got {_show(event_type)}")
    subject = _text(subject, "subject") if subject is not None else None
    moment = _event_time(event_time, names["time"])
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
        event_id=event_id.strip(),
        model_name=name,
        version=version,
        tags=tags,
        properties=properties,
        subject=subject or "",
        event_time=moment,
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise PayloadError(where, f"expected a string, got {type(value).__name__}")
    if len(value) > _MAX_TEXT_CHARS:
        raise PayloadError(where, f"{len(value)} characters; at most {_MAX_TEXT_CHARS} expected")
    check_json(value, where)
    return value


def _event_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise PayloadError(where, f"expected a date-time, got {type(value).__name__}")
    return to_utc(value, where)


def _data_object(data: Any) -> Mapping[str, Any]:
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):
        data = load_json(data, "data", under="data")
    elif isinstance(data, Mapping):
        check_json(dict(data), "data")  # decoded by the worker: the same checks as a body this app decodes
    if not isinstance(data, Mapping):
        raise PayloadError("data", f"expected a JSON object, got {type(data).__name__}")
    return data


def _normalise_key(key: Any) -> str:
    """``modelName``, ``ModelName`` and ``model_name`` all become ``modelname``."""
    return str(key).replace("_", "").lower()


def _model_name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _MODEL_NAME.fullmatch(value.strip()):
        raise PayloadError(where, f"expected a model name, got {_show(value)}")
    return value.strip()


def _version(where: str, value: Any) -> str:
    too_long = f"expected a version of at most {_MAX_VERSION_CHARS} digits"
    if isinstance(value, bool):
        raise PayloadError(where, f"expected a version (integer or numeric string), got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise PayloadError(where, "expected a non-negative version")
        if value >= 10**_MAX_VERSION_CHARS:
            raise PayloadError(where, too_long)
        return str(value)
    if isinstance(value, float) and value.is_integer() and 0 <= value < 10**_MAX_VERSION_CHARS:
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_VERSION_CHARS:
            raise PayloadError(where, f"{too_long}, got {len(text)} characters")
        if _VERSION.fullmatch(text):
            # "007" and "7" are the same version for Azure ML's integer versions.
            return ".".join(str(int(p)) for p in text.split("."))
        raise PayloadError(where, f"expected a numeric version such as 12, got {_show(value)}")
    raise PayloadError(where, f"expected a version (integer or numeric string), got {type(value).__name__}")


def _string_map(item: tuple[str, Any] | None, where: str) -> dict[str, str]:
    if item is None or item[1] is None:
        return {}
    value = item[1]
    if not isinstance(value, Mapping):
        raise PayloadError(item[0], f"expected an object of tags, got {type(value).__name__}")
    out = {}
    for key, text in value.items():
        try:
            out[str(key)] = "" if text is None else str(text)
        except ValueError:  # an integer with more digits than str() converts
            raise PayloadError(f"{item[0]}.{key}", "a number too long to be a tag value") from None
    return out


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _show(value: Any, limit: int = 80) -> str:
    """``repr`` of a delivered value for a message or a log line, cut short (a repr is always printable)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an integer beyond the str() limit, a structure nested too deep
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_model_name(where: str, value: Any) -> str:
    """A model name as events carry it (the operator's rollout request reads it the same way)."""
    return _model_name(where, value)


def read_version(where: str, value: Any) -> str:
    """A model version as events carry it: an integer or a numeric string, normalised ("007" is "7")."""
    return _version(where, value)
