"""The body of ``POST /api/drift/jobs``: an optional JSON object.

    {"window_start": "2026-11-23T00:00:00Z", "window_end": "2026-11-24T00:00:00Z", "model_version": "3"}

Every field is optional: no window means the scheduled window (the last ``DRIFT_WINDOW`` up to the current
whole hour); only ``window_end`` means ``DRIFT_WINDOW`` before it; only ``window_start`` means up to the current
whole hour. No ``model_version`` means the latest registered version. Times are ISO-8601 with ``Z`` or an
offset (naive times are read as UTC), from :data:`EARLIEST` on: no exported data is older, and earlier years
are where the window's arithmetic and its four-digit-year formats break. Unknown fields are rejected, so a
typo never silently runs the default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from shared.payloads import PayloadError
from shared.payloads.json_values import load_json, to_utc

FIELDS: Final = ("window_start", "window_end", "model_version")
MAX_BODY_BYTES: Final = 16 * 1024
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class DriftJobRequest:
    window_start: datetime | None = None
    window_end: datetime | None = None
    model_version: str | None = None


def parse_instant(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(field, "expected an ISO-8601 date-time string such as 2026-11-24T00:00:00Z")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise PayloadError(field, f"{text[:80]!r} is not an ISO-8601 date-time such as 2026-11-24T00:00:00Z") from None
    moment = to_utc(parsed, field)
    if moment < EARLIEST:
        raise PayloadError(field, f"{text[:80]!r} is before {EARLIEST.isoformat()}; no exported data is that old")
    return moment


def parse_drift_request(body: bytes | None) -> DriftJobRequest:
    """The request of ``body`` (empty: all defaults). Raises :class:`PayloadError` naming the field."""
    if body is None or not body.strip():
        return DriftJobRequest()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError("body", f"larger than {MAX_BODY_BYTES} bytes")
    data = load_json(body)
    if data is None:
        return DriftJobRequest()
    if not isinstance(data, dict):
        raise PayloadError("body", f"expected a JSON object with {', '.join(FIELDS)} (all optional)")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise PayloadError(unknown[0], f"unknown field; expected {', '.join(FIELDS)}")

    start = parse_instant(data["window_start"], "window_start") if data.get("window_start") is not None else None
    end = parse_instant(data["window_end"], "window_end") if data.get("window_end") is not None else None
    if start is not None and end is not None and end <= start:
        raise PayloadError("window_end", f"must be after window_start ({end.isoformat()} <= {start.isoformat()})")

    version = data.get("model_version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, str | int):
            raise PayloadError("model_version", 'expected a version string or integer such as "3"')
        version = str(version).strip()
        if not _VERSION.match(version):
            raise PayloadError("model_version", f"{version!r} is not a model version (letters, digits, . _ -)")
    return DriftJobRequest(window_start=start, window_end=end, model_version=version)
