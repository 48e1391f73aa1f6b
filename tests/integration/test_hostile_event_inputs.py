"""Hostile events for `deploy_registered_model`: always acknowledged (logged), never an exception.

An exception makes Event Grid redeliver the same event for a day and dead-letter it; only a state-store or
configuration failure may do that. The handler is called through its blueprint with the objects the
Functions worker builds: from the JSON of the documented sample events (:mod:`tests.samples`) with hostile
fragments (:mod:`tests.hostile`) at their positions, decoded by the library's converter as the worker does
(a fragment the converter itself refuses never reaches the app and is skipped), and with hostile Python
values in the attributes of ``func.EventGridEvent`` / ``func.CloudEvent`` built directly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.context import AppContext, use_context
from shared.services import state_keys
from shared.settings import Settings
from shared.triggers import rollout
from tests.fakes.memory_state_store import MemoryStateStore
from tests.hostile import REPRESENTATIVES, json_fragments, paths, python_values, unexpected_errors, with_fragment
from tests.samples import SCHEMAS, as_delivered, documented_event

pytestmark = pytest.mark.usefixtures("no_pending_garbage")

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SAMPLE_MODEL = {"MODEL_NAME": "sklearn_regression_model"}
OUTCOMES = ("ignored", "malformed", "started", "duplicate", "superseded")


@pytest.fixture
def on_azurite(storage_env: dict[str, str]) -> AppContext:
    context = AppContext(settings=Settings({**storage_env, **SAMPLE_MODEL}))
    use_context(context)
    return context


@pytest.fixture
def in_memory() -> AppContext:
    context = AppContext(settings=Settings(SAMPLE_MODEL), overrides={"state_store": MemoryStateStore()})
    use_context(context)
    return context


@contextmanager
def handler_lines() -> Iterator[list[str]]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    collect = Collect(level=logging.INFO)
    logger = logging.getLogger(rollout.__name__)
    previous = logger.level
    logger.addHandler(collect)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(collect)
        logger.setLevel(previous)


def deliver(event: Any) -> None:
    """Call the handler; it must return (an acknowledgement), say what it did in one line and never reach for a
    stack trace."""
    with unexpected_errors() as errors, handler_lines() as lines:
        rollout.deploy_registered_model.build().get_user_function()(event)
    assert errors == []
    assert any(outcome in line for line in lines for outcome in OUTCOMES), lines


def decoded(text: str) -> func.EventGridEvent | func.CloudEvent | None:
    """What the worker passes for the event JSON ``text``; None when the worker itself cannot decode it."""
    try:
        return as_delivered(json.loads(text))
    except (ValueError, TypeError, RecursionError):
        return None


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_class_at_every_position_of_the_documented_event_is_acknowledged(
    in_memory: AppContext, schema: str
) -> None:
    event = documented_event("model-registered", schema)
    delivered = 0
    for path in paths(event):
        for fragment in REPRESENTATIVES:
            function_event = decoded(with_fragment(event, path, fragment))
            if function_event is not None:
                deliver(function_event)
                delivered += 1
    assert delivered > len(paths(event)) * len(REPRESENTATIVES) // 2


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_class_at_every_position_of_data_sent_as_json_text_is_acknowledged(
    in_memory: AppContext, schema: str
) -> None:
    event = documented_event("model-registered", schema)
    for path in [(), *paths(event["data"])]:
        for fragment in REPRESENTATIVES:
            function_event = as_delivered({**event, "data": with_fragment(event["data"], path, fragment)})
            deliver(function_event)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("subject", 20),
        ("event_type", ["Microsoft.MachineLearningServices.ModelRegistered"]),
        ("data", '{"ModelName": "sklearn_regression_model", "ModelVersion": ' + "[" * 5_000 + "]" * 5_000 + "}"),
        ("data", '{"ModelName": "sklearn_regression_model", "ModelVersion": ' + "9" * 5_000 + "}"),
        ("data", {"ModelName": "sklearn_regression_model", "ModelVersion": "9" * 5_000}),
        ("data", {"ModelName": "sklearn_regression_model", "ModelVersion": 10**5_000}),
    ],
    ids=["subject a number", "type a list", "data nested 5000 deep", "data digits", "version digits", "huge version"],
)
def test_an_event_the_parser_used_to_raise_on_is_logged_as_malformed(
    in_memory: AppContext, attribute: str, value: Any
) -> None:
    fields = {
        "id": "e1",
        "topic": "/subscriptions/s",
        "subject": "models/sklearn_regression_model:20",
        "event_type": "Microsoft.MachineLearningServices.ModelRegistered",
        "event_time": None,
        "data": {"ModelName": "sklearn_regression_model", "ModelVersion": 20},
        "data_version": "",
    }
    deliver(func.EventGridEvent(**{**fields, attribute: value}))
    assert in_memory.state_store().list(state_keys.ROLLOUT_PREFIX) == []


@st.composite
def hostile_event_texts(draw: st.DrawFn) -> str:
    event = documented_event("model-registered", draw(st.sampled_from(SCHEMAS)))
    path = draw(st.sampled_from(paths(event)))
    return with_fragment(event, path, draw(json_fragments))


@PROPERTY
@given(text=hostile_event_texts())
def test_any_hostile_event_the_worker_decodes_is_acknowledged(on_azurite: AppContext, text: str) -> None:
    function_event = decoded(text)
    assume(function_event is not None)
    deliver(function_event)


_ATTRIBUTES = {
    "event-grid": ("id", "subject", "event_type", "event_time", "data"),
    "cloudevents": ("id", "subject", "type", "time", "data"),
}


@st.composite
def hostile_function_events(draw: st.DrawFn) -> func.EventGridEvent | func.CloudEvent:
    schema = draw(st.sampled_from(SCHEMAS))
    function_event = as_delivered(documented_event("model-registered", schema))
    values = {name: getattr(function_event, name) for name in _ATTRIBUTES[schema] if name != "data"}
    values["data"] = dict(function_event.get_json())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from([*_ATTRIBUTES[schema], "data.ModelName", "data.ModelVersion", "data.ModelTags"]))
        if where.startswith("data."):
            if isinstance(values["data"], dict):  # else the data itself was replaced already
                values["data"][where.removeprefix("data.")] = draw(python_values)
        else:
            values[where] = draw(python_values)
    if schema == "cloudevents":
        return func.CloudEvent(source="/subscriptions/s", specversion="1.0", **values)
    return func.EventGridEvent(topic="/subscriptions/s", data_version="", **values)


@PROPERTY
@given(function_event=hostile_function_events())
def test_any_hostile_attribute_value_is_acknowledged(on_azurite: AppContext, function_event: Any) -> None:
    deliver(function_event)
