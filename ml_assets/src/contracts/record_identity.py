"""How a scored record is identified, so that its label (known weeks later) can be joined with its prediction.

A client may send, in each record of a scoring request, :data:`RECORD_ID_FIELD` (``"record_id"``): its own
identifier of the record (an application number, a statement id). It is not a feature: ``score.py`` takes it out
before the record is validated and scored (``null`` is the same as no identifier), logs it with the record
(``console_log``: ``record_ids``) and the export writes it as the ``record_id`` column. Without one, the record is
identified by the request id and its index in the request: :func:`record_key` is
``"<request_id>/<record_index>"``. A labels file names a record by the same key (``contracts/labels.py``).

An identifier is a string of 1..:data:`MAX_RECORD_ID_CHARS` characters, valid Unicode, without control
characters, and without a ``/`` (so it can never be mistaken for a request-id key). Standard library only.
"""

from __future__ import annotations

from typing import Any, Final

RECORD_ID_FIELD: Final = "record_id"
MAX_RECORD_ID_CHARS: Final = 128
KEY_SEPARATOR: Final = "/"


def record_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a record identifier; None when it is one."""
    if not isinstance(value, str):
        return "expected a string identifier"
    if not value:
        return "an empty identifier"
    if len(value) > MAX_RECORD_ID_CHARS:
        return f"longer than {MAX_RECORD_ID_CHARS} characters"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "not valid Unicode (a lone surrogate, or bytes that are not UTF-8)"
    if not value.isprintable():
        return "holds a control or non-printable character"
    if KEY_SEPARATOR in value:
        return f"holds {KEY_SEPARATOR!r} (reserved for <request id>/<record index> keys)"
    return None


def record_key(record_id: str | None, request_id: str, record_index: int) -> str:
    """The key a label names: the client's identifier, else ``<request_id>/<record_index>``."""
    return record_id if record_id else f"{request_id}{KEY_SEPARATOR}{record_index}"


__all__ = ["KEY_SEPARATOR", "MAX_RECORD_ID_CHARS", "RECORD_ID_FIELD", "record_id_problem", "record_key"]
