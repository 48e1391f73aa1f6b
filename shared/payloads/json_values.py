"""What every input's JSON must satisfy before its schema is checked, and the time conversion they share.

:func:`load_json` turns a body into a JSON value or a :class:`PayloadError` naming where it went wrong, for
every input: bytes that are not UTF-8 JSON, nesting deeper than :data:`MAX_DEPTH` (the standard library would
raise ``RecursionError`` long before its own limit is reached on a busy stack), integers with more digits than
Python converts, and strings that are not valid Unicode (a lone surrogate such as ``"\\ud800"`` is legal JSON
but cannot be encoded as UTF-8: a state key, a blob or a log line built from it would fail later, far from
the input). :func:`check_json` applies the same checks to a value parsed by someone else (an Event Grid
event's ``data``, decoded by the Functions worker).

:func:`to_utc` converts a parsed date-time to UTC: at the edges of the representable range
(``0001-01-01T00:00:00+05:00``) the conversion overflows, which is bad input, not a bug.

Plain Python: no Azure SDK import.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from shared.payloads import PayloadError

# The deepest documented payload (the common alert schema's dimensions) is 8 levels deep.
MAX_DEPTH: Final = 32


def load_json(body: bytes | str, field: str = "body", *, under: str = "") -> Any:
    """The JSON value of ``body``, checked by :func:`check_json` (the places inside it named under ``under``).
    Raises PayloadError naming ``field`` or the place inside."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise PayloadError(field, f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(field, f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except ValueError as exc:  # UnicodeDecodeError, an integer beyond the int conversion limit
        raise PayloadError(field, f"not valid JSON ({_first_line(exc)})") from None
    check_json(value, under, whole=field)
    return value


def check_json(value: Any, path: str, *, whole: str | None = None) -> None:
    """Raise PayloadError naming the first place in ``value`` nested deeper than :data:`MAX_DEPTH` or holding
    a string (key or value) that is not valid Unicode. Places are dotted paths under ``path`` (``""``: the
    top-level keys themselves, ``data.essentials.alertId``), the value itself is named ``whole`` (default
    ``path``). Iterative: any depth is answered, none is recursed into."""
    pending: list[tuple[Any, str, int]] = [(value, path, 0)]
    while pending:
        item, where, depth = pending.pop()
        name = where or whole or path
        if isinstance(item, str):
            _check_text(item, name)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise PayloadError(name, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    child_where = _child(where, key)
                    if isinstance(key, str):
                        _check_text(key, child_where)
                    pending.append((child, child_where, depth + 1))
            else:
                pending.extend((child, f"{name}[{i}]", depth + 1) for i, child in enumerate(item))


def to_utc(moment: datetime, field: str) -> datetime:
    """``moment`` in UTC (naive: read as UTC). PayloadError when UTC cannot represent it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise PayloadError(field, f"{moment.isoformat()} is outside the range of representable UTC times") from None


def _child(where: str, key: Any) -> str:
    if not isinstance(key, str):
        return f"{where}[{key!r}]"
    # The path goes into error messages and log lines: a key that is not valid Unicode is shown escaped.
    shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{where}.{shown}" if where else shown


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(
            path, f"not valid Unicode: a lone surrogate {text[exc.start]!r} at character {exc.start}"
        ) from None


def _first_line(exc: Exception) -> str:
    return str(exc).split(";")[0].split("\n")[0][:200]
