"""`deploy_registered_model` called through its blueprint with real func.EventGridEvent objects, on Azurite.

Given an event as the workspace system topic (or another sender) delivers it, in the Event Grid schema or in
CloudEvents 1.0 (then the worker passes a func.CloudEvent), when the handler runs, then the rollout document
in the Blob state store says what happened, and nothing but a state-store or configuration failure escapes
the handler.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from shared.context import AppContext, use_context
from shared.ports import TransientError
from shared.services import state_keys
from shared.services.rollout_state import rollout_key
from shared.settings import Settings
from shared.triggers import rollout as rollout_trigger
from tests.samples import SCHEMAS, as_delivered, documented_event

MODEL = "credit-default"
TYPE = "Microsoft.MachineLearningServices.ModelRegistered"
TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws"
)


def make_event(
    data: Any,
    *,
    event_id: str = "e1",
    subject: str = f"models/{MODEL}:2",
    event_type: str = TYPE,
) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event_id,
        data=data,
        topic=TOPIC,
        subject=subject,
        event_type=event_type,
        event_time=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        data_version="2",
    )


def camel(version: Any = 2, tags: dict[str, Any] | None = None, name: str = MODEL) -> dict[str, Any]:
    """The data of a real ModelRegistered event from a workspace system topic."""
    return {
        "modelName": name,
        "modelVersion": version,
        "modelTags": tags if tags is not None else {"auc": "0.79", "training_job": "job-17"},
        "modelProperties": {"azureml.artifactPath": "outputs/model"},
    }


def call(event: func.EventGridEvent) -> None:
    rollout_trigger.deploy_registered_model.build().get_user_function()(event)


def document(context: AppContext) -> dict[str, Any] | None:
    found = context.state_store().get(rollout_key(MODEL))
    return found.data if found else None


def test_camel_case_event_with_an_integer_version_starts_a_rollout(app_context: AppContext) -> None:
    call(make_event(camel(2)))
    doc = document(app_context)
    assert doc is not None
    assert doc["state"] == "pending"
    assert doc["version"] == "2"
    assert doc["model_ref"] == "azureml:credit-default:2"
    assert doc["deployment"].startswith("v2-")
    assert doc["event_ids"] == ["e1"]
    assert doc["traffic_steps"] == [10, 50, 100]


def test_pascal_case_event_with_a_string_version_starts_a_rollout(app_context: AppContext) -> None:
    data = {"ModelName": MODEL, "ModelVersion": "2", "ModelTags": {}, "ModelProperties": {}}
    call(make_event(data))
    doc = document(app_context)
    assert doc is not None and doc["version"] == "2"


def test_version_from_the_subject_when_data_lacks_it(app_context: AppContext) -> None:
    call(make_event({"modelName": MODEL}, subject=f"models/{MODEL}:5"))
    doc = document(app_context)
    assert doc is not None and doc["version"] == "5"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (make_event(camel(2), event_type="Microsoft.MachineLearningServices.RunCompleted"), "of type"),
        (make_event(camel(2, name="fraud-model"), subject="models/fraud-model:2"), "ignored_foreign_model"),
        (make_event(camel(2, tags={"deploy": "false"})), "ignored_skip_tag"),
        (make_event(camel(2, tags={"deploy": False})), "ignored_skip_tag"),
    ],
    ids=["other event type", "other model", "skip tag", "skip tag as a boolean"],
)
def test_events_to_ignore_are_logged_and_record_nothing(
    app_context: AppContext, caplog: pytest.LogCaptureFixture, event: func.EventGridEvent, reason: str
) -> None:
    with caplog.at_level(logging.INFO):
        call(event)
    assert document(app_context) is None
    assert any(reason in r.getMessage() and event.id in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("data", "subject", "field"),
    [
        ({"modelName": MODEL, "modelVersion": "two"}, f"models/{MODEL}:2", "data.modelVersion"),
        ({"modelName": MODEL, "modelVersion": True}, "", "data.modelVersion"),
        ({"modelVersion": 2}, "not-a-model-subject", "data.modelName"),
        ({"modelName": MODEL, "modelVersion": 3}, f"models/{MODEL}:2", "subject"),
        ({"modelName": MODEL, "modelVersion": 2, "modelTags": ["deploy"]}, "", "data.modelTags"),
        (["not", "an", "object"], "", "data"),
        ("{not json", "", "data"),
    ],
    ids=["text version", "boolean version", "no name", "subject disagrees", "tags not an object", "list", "bad json"],
)
def test_malformed_events_are_logged_with_their_id_and_ignored(
    app_context: AppContext, caplog: pytest.LogCaptureFixture, data: Any, subject: str, field: str
) -> None:
    with caplog.at_level(logging.WARNING):
        call(make_event(data, event_id="evt-bad-1", subject=subject))  # no exception: Event Grid must not retry
    assert document(app_context) is None
    messages = [r.getMessage() for r in caplog.records if "evt-bad-1" in r.getMessage()]
    assert messages and "malformed" in messages[0] and field in messages[0]


@pytest.fixture
def sample_model_context(storage_env: dict[str, str]) -> AppContext:
    """The app configured for the documented sample's model."""
    context = AppContext(settings=Settings({**storage_env, "MODEL_NAME": "sklearn_regression_model"}))
    use_context(context)
    return context


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_documented_model_registered_event_starts_a_rollout_in_either_schema(
    sample_model_context: AppContext, schema: str
) -> None:
    event = as_delivered(documented_event("model-registered", schema))
    assert isinstance(event, func.CloudEvent if schema == "cloudevents" else func.EventGridEvent)
    call(event)  # type: ignore[arg-type]
    found = sample_model_context.state_store().get(rollout_key("sklearn_regression_model"))
    assert found is not None
    assert found.data["state"] == "pending"
    assert found.data["version"] == "20"
    assert found.data["model_ref"] == "azureml:sklearn_regression_model:20"
    assert found.data["event_ids"] == ["831e1650-001e-001b-66ab-eeb76e069631"]


def test_the_same_event_in_both_schemas_starts_one_rollout(sample_model_context: AppContext) -> None:
    for schema in SCHEMAS:
        call(as_delivered(documented_event("model-registered", schema)))  # type: ignore[arg-type]
    found = sample_model_context.state_store().get(rollout_key("sklearn_regression_model"))
    assert found is not None
    assert [h["to"] for h in found.data["history"]] == ["pending"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_documented_model_deployed_event_is_acknowledged_and_logged_in_either_schema(
    sample_model_context: AppContext, caplog: pytest.LogCaptureFixture, schema: str
) -> None:
    with caplog.at_level(logging.INFO):
        call(as_delivered(documented_event("model-deployed", schema)))  # type: ignore[arg-type]
    assert sample_model_context.state_store().list(state_keys.ROLLOUT_PREFIX) == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("Microsoft.MachineLearningServices.ModelDeployed" in m and "ignored" in m for m in messages)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": {"ModelName": "sklearn_regression_model", "ModelVersion": "v20"}}, "data.ModelVersion"),
        ({"data": ["not", "an", "object"]}, "data"),
        ({"subject": 20}, "subject"),
        ({"id": 20}, "id"),
    ],
    ids=["text version", "data a list", "subject a number", "id a number"],
)
def test_a_malformed_cloud_event_is_logged_with_its_field_and_acknowledged(
    sample_model_context: AppContext, caplog: pytest.LogCaptureFixture, change: dict[str, Any], field: str
) -> None:
    event = {**documented_event("model-registered", "cloudevents"), **change}
    with caplog.at_level(logging.WARNING):
        call(as_delivered(event))  # type: ignore[arg-type]
    assert sample_model_context.state_store().list(state_keys.ROLLOUT_PREFIX) == []
    messages = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(messages) == 1 and f"{field}:" in messages[0] and "CloudEventSchemaV1_0" in messages[0]


def test_five_duplicate_deliveries_start_one_rollout(app_context: AppContext) -> None:
    event = make_event(camel(2), event_id="dup-1")
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            call(event)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    doc = document(app_context)
    assert doc is not None
    assert doc["event_ids"] == ["dup-1"]
    assert [h["to"] for h in doc["history"]] == ["pending"]
    assert doc["past"] == []


def test_two_events_for_one_version_start_one_rollout(app_context: AppContext) -> None:
    call(make_event(camel(2), event_id="a"))
    first = document(app_context)
    call(make_event({"ModelName": MODEL, "ModelVersion": "2"}, event_id="b"))
    assert document(app_context) == first


def test_an_older_version_arriving_late_is_ignored(app_context: AppContext) -> None:
    call(make_event(camel(3), event_id="v3", subject=f"models/{MODEL}:3"))
    call(make_event(camel(2), event_id="v2", subject=f"models/{MODEL}:2"))
    doc = document(app_context)
    assert doc is not None and doc["version"] == "3" and doc["past"] == []


def test_a_newer_version_supersedes_the_unfinished_rollout(app_context: AppContext) -> None:
    call(make_event(camel(2), event_id="v2", subject=f"models/{MODEL}:2"))
    v2 = document(app_context)
    call(make_event(camel(3), event_id="v3", subject=f"models/{MODEL}:3"))
    doc = document(app_context)
    assert doc is not None and v2 is not None
    assert doc["version"] == "3"
    assert [c["deployment"] for c in doc["cleanup"]] == [v2["deployment"]]
    assert doc["cleanup"][0]["reason"] == "superseded"
    assert doc["past"][0]["version"] == "2" and doc["past"][0]["outcome"] == "superseded"


@pytest.mark.slow  # the Blob client's quick retries against a closed port: several seconds
def test_a_state_store_outage_raises_so_event_grid_redelivers() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=YQ==;BlobEndpoint=http://127.0.0.1:{port}/a;"
    use_context(AppContext(settings=Settings({"STORAGE_CONNECTION_STRING": conn})))
    with pytest.raises(TransientError):
        call(make_event(camel(2)))


def test_a_configuration_error_raises_and_names_the_setting(storage_env: dict[str, str]) -> None:
    from shared.settings_parsing import SettingsError

    use_context(AppContext(settings=Settings({**storage_env, "DEPLOY_SKIP_TAG": "no-equals-sign"})))
    with pytest.raises(SettingsError, match="DEPLOY_SKIP_TAG"):
        call(make_event(camel(2)))
