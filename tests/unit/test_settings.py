"""Every setting: a missing or malformed value gives an error that names it and says what is expected."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shared.settings import Settings
from shared.settings_parsing import SettingsError, format_duration, parse_duration
from shared.settings_table import settings_table
from tests.conftest import PROJECT_ROOT

SETTINGS_PAGE = PROJECT_ROOT / "docs" / "settings.md"

MALFORMED = {
    "MLOPS_MODE": "cloud",
    "AZURE_SUBSCRIPTION_ID": "not-a-guid",
    "AZURE_RESOURCE_GROUP": "bad/rg",
    "AML_WORKSPACE_NAME": "-bad name",
    "MODEL_NAME": "bad name",
    "ENDPOINT_NAME": "1-starts-with-digit",
    "STORAGE_CONNECTION_STRING": "foo=bar",
    "STORAGE_ACCOUNT_URL": "ftp://nope",
    "STATE_CONTAINER": "Upper_Case",
    "EXPORT_SCHEDULE": "*/5 * * * *",
    "LOG_ANALYTICS_WORKSPACE_ID": "abc",
    "EXPORT_CONTAINER": "a",
    "EXPORT_PREFIX": "/leading",
    "EXPORT_QUARANTINE_PREFIX": "trailing/",
    "EXPORT_INGESTION_DELAY": "10 minutes",
    "EXPORT_WINDOW": "PT0S",
    "EXPORT_INITIAL_LOOKBACK": "-P1D",
    "EXPORT_TIME_BUDGET": "PT",
    "EXPORT_MAX_ROWS_PER_QUERY": "0",
    "EXPORT_DATA_ASSET_NAME": "bad name",
    "DRIFT_SCHEDULE": "daily",
    "DRIFT_WINDOW": "1d",
    "DRIFT_COMPUTE": "bad name",
    "DRIFT_MIN_ROWS": "-5",
    "DRIFT_STATTEST": "t-test",
    "DRIFT_THRESHOLD": "1.5",
    "DRIFT_SHARE": "0",
    "PERFORMANCE_SCHEDULE": "hourly",
    "PERFORMANCE_WINDOW": "30 days",
    "PERFORMANCE_COMPUTE": "bad name",
    "PERFORMANCE_MIN_COVERAGE": "1.5",
    "PERFORMANCE_MIN_LABELLED": "0",
    "PERFORMANCE_THRESHOLD": "1",
    "PERFORMANCE_AUC_FLOOR": "0",
    "PERFORMANCE_AUC_MARGIN": "-0.1",
    "LABELS_CONTAINER": "Labels_Here",
    "LABELS_PREFIX": "/labels",
    "LABELS_DATA_ASSET": "no-version",
    "TRAINING_DATA_ASSET": "no-version",
    "TRAINING_COMPUTE": "bad name",
    "TRAINING_MAX_TRIALS": "0",
    "RETRAIN_COOLDOWN": "six hours",
    "RETRAIN_ALERT_RULES": ",,",
    "ROLLOUT_RECONCILE_SCHEDULE": "often",
    "ROLLOUT_TRAFFIC_STEPS": "10,50",
    "ROLLOUT_STEP_DWELL": "5m",
    "ROLLOUT_PROVISIONING_TIMEOUT": "PT0M",
    "ROLLOUT_MIRROR_PERCENT": "80",
    "ROLLOUT_BAKE": "ten minutes",
    "ROLLOUT_APPROVAL_STEPS": "100,finish",
    "ROLLOUT_GATES": "on",
    "ROLLOUT_GATE_MIN_REQUESTS": "0",
    "ROLLOUT_GATE_MAX_ERROR_SHARE": "1%",
    "ROLLOUT_GATE_MAX_ERROR_SHARE_OVER_BASELINE": "1.5",
    "ROLLOUT_GATE_MAX_LATENCY_RATIO": "0.9",
    "ROLLOUT_GATE_LATENCY_SLACK_MS": "-1",
    "ROLLOUT_GATE_MAX_LATENCY_P90_MS": "nan",
    "ROLLOUT_GATE_MAX_LATENCY_P99_MS": "0",
    "ROLLOUT_GATE_LOW_TRAFFIC_WAIT": "-PT1M",
    "ROLLOUT_GATE_LOW_TRAFFIC": "rollback",
    "AML_WORKSPACE_REGION": "West Europe",
    "DEPLOY_SKIP_TAG": "nokey",
    "AML_REGISTRY_NAME": "bad name",
    "DEPLOYMENT_INSTANCE_TYPE": "bad size",
    "DEPLOYMENT_DATA_COLLECTION": "yes",
    "ENVIRONMENT_NAME": "bad name",
    "PROMOTION_REGISTRY": "bad/registry",
    "PROMOTE_TO": "-bad",
    "PROMOTION_SOURCE": "bad name",
    "PROMOTION_APPROVAL": "maybe",
    "LOCAL_PROMOTION_REGISTRY_DIR": None,
    "LOCAL_STATE_DIR": None,
    "APPLICATIONINSIGHTS_CONNECTION_STRING": None,
    "JOB_TELEMETRY_RESOURCE_ID": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/app",
}


def test_every_setting_has_a_malformed_case_or_accepts_any_text() -> None:
    assert {s.name for _, s in Settings.all()} == set(MALFORMED)


@pytest.mark.parametrize("name,value", [(k, v) for k, v in MALFORMED.items() if v is not None])
def test_malformed_setting_is_named_in_the_error(name: str, value: str) -> None:
    attr = next(a for a, s in Settings.all() if s.name == name)
    with pytest.raises(SettingsError) as info:
        getattr(Settings({name: value}), attr)
    assert info.value.name == name
    assert name in str(info.value) and "expected" in str(info.value)


REQUIRED = [s.name for _, s in Settings.all() if s.required]


def test_required_settings_are_the_azure_identifiers() -> None:
    assert set(REQUIRED) == {
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_RESOURCE_GROUP",
        "AML_WORKSPACE_NAME",
        "LOG_ANALYTICS_WORKSPACE_ID",
    }


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_setting_is_named(name: str) -> None:
    attr = next(a for a, s in Settings.all() if s.name == name)
    with pytest.raises(SettingsError, match=f"setting {name} is missing"):
        getattr(Settings({}), attr)


def test_defaults_and_valid_values_parse_to_types() -> None:
    s = Settings(
        {
            "EXPORT_INGESTION_DELAY": "PT15M",
            "ROLLOUT_TRAFFIC_STEPS": "5, 25,100",
            "RETRAIN_ALERT_RULES": "drift-alert, /subscriptions/x/rules/y",
            "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
            "MLOPS_MODE": "LOCAL",
        }
    )
    assert s.export_ingestion_delay == timedelta(minutes=15)
    assert s.rollout_traffic_steps == (5, 25, 100)
    assert s.retrain_alert_rules == ("drift-alert", "/subscriptions/x/rules/y")
    assert s.mode == "local"
    assert s.state_container == "mlops-state"
    assert s.retrain_cooldown == timedelta(hours=6)
    assert s.deploy_skip_tag == ("deploy", "false")
    assert s.registry_name is None


def test_empty_value_means_default() -> None:
    assert Settings({"STATE_CONTAINER": "  "}).state_container == "mlops-state"


def test_storage_auth_prefers_connection_string_then_account_url() -> None:
    assert Settings({"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}).storage_auth() == (
        "connection_string",
        "UseDevelopmentStorage=true",
    )
    url = "https://acct.blob.core.windows.net"
    assert Settings({"STORAGE_ACCOUNT_URL": url + "/"}).storage_auth() == ("account_url", url)
    with pytest.raises(SettingsError, match="STORAGE_ACCOUNT_URL"):
        Settings({}).storage_auth()


def test_errors_lists_every_problem_at_once() -> None:
    names = {e.name for e in Settings({"EXPORT_WINDOW": "x", "DRIFT_SHARE": "2"}).errors()}
    assert {"EXPORT_WINDOW", "DRIFT_SHARE", "AZURE_SUBSCRIPTION_ID"} <= names


@pytest.mark.parametrize(
    "text,expected",
    [("PT10M", timedelta(minutes=10)), ("P1DT6H", timedelta(days=1, hours=6)), ("PT1.5S", timedelta(seconds=1.5))],
)
def test_duration_round_trip(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


def test_sample_settings_and_settings_page_document_every_setting() -> None:
    sample = json.loads((PROJECT_ROOT / "local.settings.sample.json").read_text())
    page = SETTINGS_PAGE.read_text()
    values = sample["Values"]
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    for _, setting in Settings.all():
        assert setting.name in values, f"{setting.name} missing from local.settings.sample.json"
        assert f"`{setting.name}`" in page, f"{setting.name} missing from the settings table of docs/settings.md"
    # The sample is valid as far as it goes (placeholders for Azure identifiers aside).
    problems = [e for e in Settings(values).errors() if e.name not in REQUIRED]
    assert problems == []


def test_settings_page_table_is_generated_from_the_settings() -> None:
    """`python -m shared.settings_table` prints the table; docs/settings.md must hold it verbatim."""
    assert settings_table() in SETTINGS_PAGE.read_text(), "regenerate the table: python -m shared.settings_table"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PROMOTE_TO": "production", "PROMOTION_REGISTRY": "reg"}, "ENVIRONMENT_NAME"),
        ({"PROMOTION_SOURCE": "staging", "ENVIRONMENT_NAME": "production"}, "PROMOTION_REGISTRY"),
        ({"PROMOTE_TO": "staging", "ENVIRONMENT_NAME": "staging", "PROMOTION_REGISTRY": "reg"}, "PROMOTE_TO"),
    ],
)
def test_promotion_needs_this_environment_s_name_another_one_and_the_registry(env: dict, named: str) -> None:
    from shared.services.promotion_publish import PromotionConfig

    with pytest.raises(SettingsError, match=named):
        PromotionConfig.from_settings(Settings(env))
    assert PromotionConfig.from_settings(Settings({})).publishes is False
