"""How the services write times into state documents, job inputs, file names and log lines, and read them back.

Three formats, each kept where a stored document, a file name or a pipeline input already depends on it:

- :func:`iso`: Python's ISO 8601 in UTC, ``2026-11-24T10:00:00.123456+00:00`` (retraining records, claims,
  rollout documents);
- :func:`iso_z`: ISO 8601 with ``Z``, ``2026-11-24T10:00:00Z`` (microseconds only when present: export
  watermarks and windows, drift windows and job inputs);
- :func:`stamp`: compact, for keys and file names, ``20261124T100000Z`` (drift job keys, export file names).

:func:`parse_iso` reads any of the ISO forms strictly (a time zone is required); :func:`parse_time` reads a
value of a document written by someone else, where a missing or malformed value means "unknown".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso(value: datetime) -> str: ...


@overload
def iso(value: None) -> None: ...


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def iso_z(moment: datetime) -> str:
    """``2026-11-24T10:00:00Z`` (whole seconds) or with microseconds when present."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time with a time zone (``Z`` or an offset), in UTC. ValueError otherwise, also for a time
    that UTC cannot represent (``0001-01-01T00:00:00+05:00``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the range of UTC times") from None


def parse_time(value: object) -> datetime | None:
    """A time read from a document, in UTC: None when it is missing, not a time or outside the range of UTC
    times; without a time zone, UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None
