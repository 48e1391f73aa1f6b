"""Hostile inputs for the handlers' property tests: the classes of value that used to escape a parser.

- date-times at the edges of the representable range, with an offset (``0001-01-01T00:00:00+05:00`` overflows
  when converted to UTC);
- strings that are not valid Unicode (lone surrogates, legal in JSON as ``"\\ud800"``);
- JSON nested deeper than any schema (``json.loads`` raises RecursionError at about a thousand levels);
- numbers beyond any float (``1e400`` parses to inf, ``10**400`` overflows ``float()``) and digit strings beyond
  Python's int conversion limit (``int()`` raises ValueError);
- JSON values of the wrong type.

:data:`json_fragments` are JSON texts; :func:`with_fragment` puts one at any position of a valid document (the
document is serialised with a placeholder there, then the placeholder's text is replaced), so that a fragment
no Python value serialises to (a 5,000-digit number, 2,000 levels of nesting) reaches the parser as it would
over the wire. :data:`python_values` are the same classes as Python objects, for attributes the Functions
worker hands over already decoded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

PLACEHOLDER = "\x00hostile\x00"

_edge_moments = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 2)),
    st.datetimes(min_value=datetime(9999, 12, 30), max_value=datetime(9999, 12, 31, 23, 59, 59)),
)
_offsets = st.integers(min_value=-(14 * 60 - 1), max_value=14 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))

edge_datetimes = st.builds(lambda moment, tz: moment.replace(tzinfo=tz), _edge_moments, _offsets)
edge_datetime_texts = edge_datetimes.map(lambda moment: moment.isoformat())

lone_surrogate_texts = st.builds(
    lambda before, surrogate, after: before + surrogate + after,
    st.text(max_size=4),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(max_size=4),
)

_depths = st.integers(min_value=33, max_value=2_000)
deep_json = st.one_of(
    _depths.map(lambda n: "[" * n + "]" * n),
    _depths.map(lambda n: '{"a":' * n + "1" + "}" * n),
)

huge_numbers = st.one_of(
    st.sampled_from(["1e400", "-1e400", "1E309", "1" + "0" * 400, "-" + "9" * 400]),
    st.integers(min_value=4_301, max_value=6_000).map(lambda n: "9" * n),
)

wrong_types = st.sampled_from(
    ["null", "true", "false", "0", "-1", "1.5", '""', '"x"', "[]", "{}", '[1, "a"]', '{"a": 1}']
)

json_fragments = st.one_of(
    edge_datetime_texts.map(json.dumps),
    lone_surrogate_texts.map(json.dumps),
    deep_json,
    huge_numbers,
    wrong_types,
)


# One JSON text of each class (and every wrong type), for sweeping every position of a document.
REPRESENTATIVES = (
    '"0001-01-01T00:00:00+05:00"',
    '"9999-12-31T23:59:59-05:00"',
    '"\\ud800"',
    '"ok \\udc00 ok"',
    "[" * 2_000 + "]" * 2_000,
    '{"a":' * 40 + "1" + "}" * 40,
    "1e400",
    "1" + "0" * 400,
    "9" * 5_000,
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    '""',
    '"x"',
    "[]",
    "{}",
    '[1, "a"]',
    '{"a": 1}',
)


def _deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


python_values = st.one_of(
    edge_datetimes,
    lone_surrogate_texts,
    st.integers(min_value=33, max_value=3_000).map(_deep_list),
    st.sampled_from([10**400, -(10**400), 10**5_000, float("inf"), float("nan"), 1e300]),
    st.sampled_from([None, True, 0, -1, 1.5, "", "x", b"\xff", [], {}, [1, "a"], {"a": 1}]),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON document (not the document itself): a tuple of keys and indexes."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += paths(child, (*prefix, index))
    return out


def with_fragment(document: Any, path: tuple[Any, ...], fragment: str) -> str:
    """The JSON text of ``document`` with the JSON text ``fragment`` at ``path`` (``()``: instead of it)."""
    return with_fragments(document, [(path, fragment)])


def with_fragments(document: Any, changes: list[tuple[tuple[Any, ...], str]]) -> str:
    """The JSON text of ``document`` with each ``(path, fragment)`` of ``changes`` put in place, in order (a
    later change inside an earlier one's position is dropped, one around it replaces it)."""
    if any(not path for path, _ in changes):
        return next(fragment for path, fragment in changes if not path)
    copy = json.loads(json.dumps(document))
    placed: list[tuple[str, str]] = []
    for number, (path, fragment) in enumerate(changes):
        parent = copy
        try:
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = placeholder = f"{PLACEHOLDER}{number}"
        except (KeyError, IndexError, TypeError):  # inside a position an earlier change replaced
            continue
        placed.append((placeholder, fragment))
    text = json.dumps(copy)
    for placeholder, fragment in placed:
        text = text.replace(json.dumps(placeholder), fragment, 1)
    return text


@contextmanager
def unexpected_errors() -> Iterator[list[logging.LogRecord]]:
    """The records the app logs with a stack trace or as an ``unexpected error``: a handler's last-resort
    safety net caught something a parser should have answered."""
    found: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info or "unexpected error" in record.getMessage():
                found.append(record)

    handler = Catch(level=logging.DEBUG)
    logger = logging.getLogger("shared")
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
