"""The function app's settings in main.bicep are in step with shared/settings.py: every setting is either set
from the resources the Bicep creates, or listed here with the reason it is not; the required ones are set; the
Bicep sets nothing the app does not declare (besides the host's own)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from ml_assets.src.contracts.alert_rules import DEFAULT_RULE
from shared.settings import Settings
from tests.bicep_tree import Expr, read
from tests.conftest import PROJECT_ROOT

# Read by the Functions host or the SDKs, not by shared/settings.py.
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AZURE_CLIENT_ID",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# The default is what a deployment runs with; change it per environment in the Function App's settings.
DEFAULTS_APPLY = {
    "EXPORT_PREFIX",
    "EXPORT_INGESTION_DELAY",
    "EXPORT_WINDOW",
    "EXPORT_INITIAL_LOOKBACK",
    "EXPORT_TIME_BUDGET",
    "EXPORT_MAX_ROWS_PER_QUERY",
    "DRIFT_WINDOW",
    "DRIFT_MIN_ROWS",
    "DRIFT_SHARE",  # equal to the drift alert rule's threshold (asserted below)
    "TRAINING_DATA_ASSET",  # the data asset the ml-assets workflow registers
    "RETRAIN_COOLDOWN",
    "ROLLOUT_TRAFFIC_STEPS",
    "ROLLOUT_STEP_DWELL",
    "ROLLOUT_PROVISIONING_TIMEOUT",
    "ROLLOUT_MIRROR_PERCENT",
    "DEPLOY_SKIP_TAG",
    "DEPLOYMENT_DATA_COLLECTION",
    "ROLLOUT_BAKE",
    "ROLLOUT_GATES",
    "ROLLOUT_GATE_MIN_REQUESTS",
    "ROLLOUT_GATE_MAX_ERROR_SHARE",
    "ROLLOUT_GATE_MAX_ERROR_SHARE_OVER_BASELINE",
    "ROLLOUT_GATE_MAX_LATENCY_RATIO",
    "ROLLOUT_GATE_LATENCY_SLACK_MS",
    "ROLLOUT_GATE_LOW_TRAFFIC_WAIT",
    "ROLLOUT_GATE_LOW_TRAFFIC",
}
# Optional settings left unset on purpose, each with the reason.
NOT_SET = {
    "LOCAL_STATE_DIR": "local mode only",
    "LOCAL_PROMOTION_REGISTRY_DIR": "local mode only",
    "STORAGE_CONNECTION_STRING": "local development (Azurite) only: in Azure the identity and STORAGE_ACCOUNT_URL",
    "EXPORT_DATA_ASSET_NAME": "an opt-in feature: a data asset version per export run",
    "DRIFT_STATTEST": "unset means Evidently's default test per column type",
    "DRIFT_THRESHOLD": "unset means the test's default threshold",
    "ROLLOUT_APPROVAL_STEPS": "unset means no step waits for an operator's approval",
    "ROLLOUT_GATE_MAX_LATENCY_P90_MS": "unset: no absolute cap, the limit relative to the baseline applies",
    "ROLLOUT_GATE_MAX_LATENCY_P99_MS": "unset: no absolute cap, the limit relative to the baseline applies",
    "TRAINING_MAX_TRIALS": "unset means the training pipeline's default sweep size",
}


def app_settings() -> dict[str, object]:
    (call,) = [m for m in read("main.bicep").modules if m.source == "modules/function-app.bicep"]
    return call.params["appSettings"]


def declared() -> dict[str, object]:
    return {setting.name: setting for _, setting in Settings.all()}


def test_every_setting_is_set_by_the_bicep_or_listed_with_a_reason() -> None:
    in_bicep = set(app_settings())
    unclassified = [
        name for name in declared() if name not in in_bicep and name not in DEFAULTS_APPLY and name not in NOT_SET
    ]
    assert not unclassified, (
        f"settings neither set in infra/main.bicep (function app appSettings) nor listed in {__file__}: {unclassified}"
    )


def test_required_settings_are_set_by_the_bicep() -> None:
    required = {name for name, setting in declared().items() if setting.required}
    assert required, "shared/settings.py declares required settings"
    assert required <= set(app_settings())


def test_the_bicep_sets_only_declared_settings_and_the_hosts() -> None:
    assert set(app_settings()) - set(declared()) == HOST_SETTINGS


def test_the_lists_here_name_declared_settings_the_bicep_does_not_set() -> None:
    settings = declared()
    for name in DEFAULTS_APPLY | set(NOT_SET):
        assert name in settings, f"{name} is no longer a setting: drop it from this test's lists"
        assert name not in app_settings(), f"{name} is set by the Bicep and listed as not set"
    for name in DEFAULTS_APPLY:
        assert settings[name].default is not None, f"{name} has no default"
    for name in NOT_SET:
        assert settings[name].optional or settings[name].default is not None


def test_literal_values_are_valid_settings() -> None:
    literal = {name: value for name, value in app_settings().items() if isinstance(value, str)}
    settings = Settings(env=literal)
    for attr, setting in Settings.all():
        if setting.name in literal:
            settings.validate(attr)
    assert literal["MLOPS_MODE"] == "azure"


def test_resource_settings_come_from_what_the_bicep_creates() -> None:
    settings = app_settings()
    assert settings["AZURE_SUBSCRIPTION_ID"] == Expr("subscription().subscriptionId")
    assert settings["AZURE_RESOURCE_GROUP"] == Expr("resourceGroup().name")
    assert settings["AML_WORKSPACE_NAME"] == Expr("workspaceName")
    assert settings["ENDPOINT_NAME"] == Expr("ml.outputs.endpointName")
    assert settings["DRIFT_COMPUTE"] == settings["TRAINING_COMPUTE"] == Expr("ml.outputs.computeName")
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == Expr("monitoring.outputs.appInsightsConnectionString")


def test_the_drift_share_default_is_the_alert_rules_threshold() -> None:
    assert float(declared()["DRIFT_SHARE"].default) == DEFAULT_RULE.threshold


def binding_expressions() -> set[str]:
    """The app settings the function index names as ``%NAME%`` (resolved by the host), indexed in a fresh process."""
    script = "import function_app\nprint('\\n'.join(f.get_function_json() for f in function_app.app.get_functions()))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    names: set[str] = set()
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            names |= set(re.findall(r"%([A-Za-z0-9_]+)%", json.dumps(json.loads(line)["bindings"])))
    return names


def test_settings_the_host_resolves_are_set_with_the_apps_defaults() -> None:
    names = binding_expressions()
    assert {"EXPORT_SCHEDULE", "DRIFT_SCHEDULE", "ROLLOUT_RECONCILE_SCHEDULE"} <= names
    settings = app_settings()
    for name in names:
        assert name in settings, f"%{name}% is resolved by the host from app settings: set it in infra/main.bicep"
        assert settings[name] == declared()[name].default, f"{name} in the Bicep differs from shared/settings.py"
