"""The ModelRegistered event model: every sender's key casing and version type, and clear errors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import azure.functions as func
import pytest

from shared.payloads import PayloadError
from shared.payloads.events import (
    MODEL_REGISTERED,
    EventSchema,
    is_model_registered,
    parse_envelope,
    parse_model_registered,
    read_envelope,
    version_key,
)


def parse(data: Any, subject: str | None = "models/credit-default:12", event_type: str = MODEL_REGISTERED):
    return parse_model_registered(event_id="e-1", event_type=event_type, subject=subject, data=data)


@pytest.mark.parametrize(
    "data",
    [
        {"modelName": "credit-default", "modelVersion": "12", "modelTags": {"a": "1"}, "modelProperties": {}},
        {"ModelName": "credit-default", "ModelVersion": 12, "ModelTags": {"a": 1}, "ModelProperties": None},
        {"model_name": "credit-default", "model_version": 12.0, "model_tags": {"a": "1"}},
        '{"modelName": "credit-default", "modelVersion": 12, "modelTags": {"a": "1"}}',
        {"modelName": "credit-default", "modelVersion": "012", "modelTags": {"a": "1"}},
    ],
    ids=["camelCase, string", "PascalCase, int", "snake_case, float", "JSON text", "leading zero"],
)
def test_every_casing_and_version_type_gives_the_same_event(data: Any) -> None:
    event = parse(data)
    assert (event.model_name, event.version, dict(event.tags)) == ("credit-default", "12", {"a": "1"})
    assert event.event_id == "e-1"


def test_the_subject_fills_in_missing_name_and_version() -> None:
    event = parse({}, subject="models/credit-default:7")
    assert (event.model_name, event.version, dict(event.tags)) == ("credit-default", "7", {})


@pytest.mark.parametrize(
    ("data", "subject", "field"),
    [
        ({"modelName": "credit-default"}, None, "data.modelVersion"),
        ({"modelVersion": 3}, "something/else", "data.modelName"),
        ({"modelName": "credit-default", "modelVersion": "latest"}, None, "data.modelVersion"),
        ({"modelName": "credit-default", "modelVersion": -1}, None, "data.modelVersion"),
        ({"ModelName": "credit-default", "ModelVersion": False}, None, "data.ModelVersion"),
        ({"modelName": "", "modelVersion": 1}, None, "data.modelName"),
        ({"modelName": "credit-default", "modelVersion": 3}, "models/other:3", "subject"),
        ({"modelName": "credit-default", "modelVersion": 3}, "models/credit-default:4", "subject"),
        ({"modelName": "credit-default", "modelVersion": 3, "modelTags": "deploy=false"}, None, "data.modelTags"),
        ([1, 2], None, "data"),
        ("not json", None, "data"),
    ],
)
def test_malformed_data_names_the_field(data: Any, subject: str | None, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(data, subject=subject)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_an_event_needs_an_id_and_the_right_type() -> None:
    with pytest.raises(PayloadError, match="id"):
        parse_model_registered(event_id="", event_type=MODEL_REGISTERED, subject=None, data={})
    with pytest.raises(PayloadError, match="eventType"):
        parse({"modelName": "m", "modelVersion": 1}, event_type="Microsoft.MachineLearningServices.RunCompleted")
    assert is_model_registered("microsoft.machinelearningservices.modelregistered")
    assert not is_model_registered(None)


def test_versions_order_numerically() -> None:
    assert version_key("2") < version_key("10") < version_key("10.1") < version_key("10.10")
    with pytest.raises(ValueError, match="not numeric"):
        version_key("v2")


@pytest.mark.parametrize(
    ("event", "schema", "time_field", "type_field"),
    [
        (
            func.EventGridEvent(
                id="e-1", data={}, topic="t", subject="s", event_type="x", event_time=None, data_version=""
            ),
            EventSchema.EVENT_GRID,
            "eventTime",
            "eventType",
        ),
        (
            func.CloudEvent(id="e-1", source="/s", type="x", specversion="1.0", data={}),
            EventSchema.CLOUD_EVENTS,
            "time",
            "type",
        ),
    ],
    ids=["Event Grid schema", "CloudEvents 1.0"],
)
def test_either_schema_is_read_and_its_errors_use_its_field_names(
    event: Any, schema: EventSchema, time_field: str, type_field: str
) -> None:
    envelope = read_envelope(event)
    assert envelope.schema == schema and envelope.type == "x" and envelope.id == "e-1"
    with pytest.raises(PayloadError) as caught:
        parse_envelope(envelope)
    assert caught.value.field == type_field
    good = replace(envelope, type=MODEL_REGISTERED, time="yesterday", data={"modelName": "m", "modelVersion": 1})
    with pytest.raises(PayloadError) as caught:
        parse_envelope(good)
    assert caught.value.field == time_field
    assert parse_envelope(replace(good, time=None)).version == "1"
