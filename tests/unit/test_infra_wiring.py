"""The wiring of the Bicep templates, read from their parse trees: role assignments (role, principal, scope),
the endpoint's diagnostic setting, the ModelRegistered subscription and its function, the action group and alert
rules, storage without shared keys, the Flex Consumption app, the API versions recorded in docs/deploying.md, and
the parameters the postdeploy hook passes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from tests.bicep_tree import INFRA, BicepFile, Expr, Resource, bicep_files, read
from tests.conftest import PROJECT_ROOT

MODULE_FILES = sorted(p.relative_to(INFRA).as_posix() for p in (INFRA / "modules").glob("*.bicep"))
ALL_FILES = [*MODULE_FILES, "main.bicep", "postdeploy.bicep"]

# The built-in roles, by name, with their role definition IDs (the same in every tenant).
BUILT_IN_ROLES = {
    "storageBlobDataOwner": ("Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"),
    "storageBlobDataContributor": ("Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
    "storageBlobDataReader": ("Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"),
    "azureMLDataScientist": ("AzureML Data Scientist", "f6c7c914-8db3-469d-8ca1-694a8f32e121"),
    "azureMLRegistryUser": ("AzureML Registry User", "1823dd4f-9b8c-4ab6-ab4e-7397a3684615"),
    "logAnalyticsReader": ("Log Analytics Reader", "73c42c96-874c-492b-b04d-ab87d138a893"),
    "monitoringReader": ("Monitoring Reader", "43d0d8ad-25c7-4714-9337-8ba259a9fe05"),
    "monitoringMetricsPublisher": ("Monitoring Metrics Publisher", "3913510d-42f4-4e42-8a64-420c390055eb"),
}
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"

CONTAINER = "Microsoft.Storage/storageAccounts/blobServices/containers"
# (module, scope resource, its type, role, principal): every role assignment, no more, no fewer.
EXPECTED_ROLE_ASSIGNMENTS = {
    ("storage.bicep", "hostAccount", "Microsoft.Storage/storageAccounts", "storageBlobDataOwner", "app"),
    ("storage.bicep", "stateContainer", CONTAINER, "storageBlobDataContributor", "app"),
    ("storage.bicep", "exportContainer", CONTAINER, "storageBlobDataContributor", "app"),
    ("storage.bicep", "exportContainer", CONTAINER, "storageBlobDataReader", "compute"),
    ("storage.bicep", "labelsContainer", CONTAINER, "storageBlobDataReader", "app"),
    ("storage.bicep", "labelsContainer", CONTAINER, "storageBlobDataReader", "compute"),
    ("ml-resources.bicep", "workspace", "Microsoft.MachineLearningServices/workspaces", "azureMLDataScientist", "app"),
    (
        "ml-resources.bicep",
        "workspace",
        "Microsoft.MachineLearningServices/workspaces",
        "azureMLDataScientist",
        "compute",
    ),
    (
        "ml-resources.bicep",
        "endpoint",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "monitoringReader",
        "app",
    ),
    ("ml-resources.bicep", "registry", "Microsoft.MachineLearningServices/registries", "azureMLRegistryUser", "app"),
    ("monitoring.bicep", "logAnalytics", "Microsoft.OperationalInsights/workspaces", "logAnalyticsReader", "app"),
    ("monitoring.bicep", "appInsights", "Microsoft.Insights/components", "monitoringMetricsPublisher", "app"),
    ("monitoring.bicep", "appInsights", "Microsoft.Insights/components", "monitoringMetricsPublisher", "compute"),
    ("monitoring.bicep", "appInsights", "Microsoft.Insights/components", "monitoringReader", "compute"),
    ("events.bicep", "dataAccount::blobs::deadLetters", CONTAINER, "storageBlobDataContributor", "event-grid-topic"),
}
# What main.bicep passes as a module's principal parameter → whose identity it is.
PRINCIPALS = {
    "identities.outputs.appPrincipalId": "app",
    "identities.outputs.computePrincipalId": "compute",
}


def main() -> BicepFile:
    return read("main.bicep")


def module_call(file_name: str) -> Any:
    """The module declaration of main.bicep that deploys ``modules/<file_name>``."""
    (call,) = [m for m in main().modules if m.source == f"modules/{file_name}"]
    return call


def principal_of(file_name: str, assignment: Resource) -> str:
    principal = assignment.body["properties"]["principalId"]
    assert isinstance(principal, Expr)
    if principal.text == "systemTopic.identity.principalId":
        return "event-grid-topic"
    passed = module_call(file_name).params[principal.text]
    return PRINCIPALS[passed.text]


def role_of(assignment: Resource) -> str:
    role = assignment.body["properties"]["roleDefinitionId"]
    assert isinstance(role, Expr), "a role definition ID is named through roleIds, never a literal GUID"
    pattern = r"subscriptionResourceId\( ?'Microsoft.Authorization/roleDefinitions', roleIds\.(\w+) ?\)"
    match = re.fullmatch(pattern, role.text)
    assert match, role.text
    return match.group(1)


def role_assignments() -> set[tuple[str, str, str, str, str]]:
    found = set()
    for relative in ALL_FILES:
        bicep = read(relative)
        for assignment in bicep.resources_of("Microsoft.Authorization/roleAssignments"):
            file_name = Path(relative).name
            scope = assignment.body["scope"].text
            found.add(
                (file_name, scope, bicep.resource(scope).type, role_of(assignment), principal_of(file_name, assignment))
            )
    return found


def test_role_ids_are_the_built_in_roles_each_named_in_a_comment() -> None:
    roles = read("modules/roles.bicep")
    assert roles.variables["roleIds"] == {key: guid for key, (_, guid) in BUILT_IN_ROLES.items()}
    comments = roles.variable_comments["roleIds"]
    for key, (name, _) in BUILT_IN_ROLES.items():
        assert comments[key].startswith(f"{name}:"), f"roleIds.{key} is not named {name!r} in its comment"


def test_every_role_assignment_has_its_role_principal_and_scope() -> None:
    assert role_assignments() == EXPECTED_ROLE_ASSIGNMENTS


def test_every_role_assignment_says_why_and_is_a_service_principal() -> None:
    for relative in ALL_FILES:
        for assignment in read(relative).resources_of("Microsoft.Authorization/roleAssignments"):
            assert len(assignment.comment) > 20, f"{relative}: {assignment.symbol} has no comment saying why"
            assert assignment.body["properties"]["principalType"] == "ServicePrincipal"
            assert assignment.body["name"].text.startswith("guid("), "a deterministic name: redeploying is a no-op"


def test_no_owner_or_contributor_anywhere() -> None:
    for path in bicep_files():
        text = path.read_text(encoding="utf-8").lower()
        assert OWNER not in text and CONTRIBUTOR not in text, path


def test_storage_accounts_of_the_app_have_shared_keys_disabled() -> None:
    storage = read("modules/storage.bicep")
    accounts = [r for r in storage.resources_of("Microsoft.Storage/storageAccounts") if not r.existing]
    assert {r.symbol for r in accounts} == {"hostAccount", "dataAccount"}
    for account in accounts:
        properties = account.body["properties"]
        assert properties == Expr("accountProperties")
    shared = storage.variables["accountProperties"]
    assert shared["allowSharedKeyAccess"] is False
    assert shared["allowBlobPublicAccess"] is False
    # The one account with shared keys: the new workspace's own, which holds no app data (the comment says why).
    (workspace_storage,) = read("modules/ml-workspace.bicep").resources_of("Microsoft.Storage/storageAccounts")
    assert workspace_storage.body["properties"]["allowSharedKeyAccess"] is True


def test_monitoring_takes_entra_id_only_and_the_new_workspace_reports_to_its_application_insights() -> None:
    monitoring = read("modules/monitoring.bicep")
    (logs,) = monitoring.resources_of("Microsoft.OperationalInsights/workspaces")
    (insights,) = monitoring.resources_of("Microsoft.Insights/components")
    assert logs.body["properties"]["features"]["disableLocalAuth"] is True
    assert insights.body["properties"]["DisableLocalAuth"] is True
    # the jobs find the resource through their workspace: the one this deployment creates must name it
    (workspace,) = read("modules/ml-workspace.bicep").resources_of("Microsoft.MachineLearningServices/workspaces")
    assert workspace.body["properties"]["applicationInsights"] == Expr("appInsightsId")
    call = module_call("ml-workspace.bicep")
    assert call.params["appInsightsId"] == Expr("monitoring.outputs.appInsightsId")


def test_the_function_app_runs_on_flex_consumption_with_identity_based_host_storage() -> None:
    module = read("modules/function-app.bicep")
    (plan,) = module.resources_of("Microsoft.Web/serverfarms")
    assert plan.body["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    (site,) = module.resources_of("Microsoft.Web/sites")
    config = site.body["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert set(config["scaleAndConcurrency"]) == {"maximumInstanceCount", "instanceMemoryMB"}
    assert site.body["identity"]["type"] == "UserAssigned"
    settings = module_call("function-app.bicep").params["appSettings"]
    assert "AzureWebJobsStorage" not in settings, "no connection string for the host's storage"
    assert settings["AzureWebJobsStorage__accountName"] == Expr("storage.outputs.hostAccountName")
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    # Flex Consumption refuses these as app settings: the runtime is in functionAppConfig.
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"} & set(settings)


def test_containers_the_app_uses_are_the_ones_created() -> None:
    settings = module_call("function-app.bicep").params["appSettings"]
    storage = module_call("storage.bicep").params
    assert settings["STATE_CONTAINER"] == storage["stateContainerName"]
    assert settings["EXPORT_CONTAINER"] == storage["exportContainerName"]
    assert settings["EXPORT_QUARANTINE_PREFIX"] == storage["quarantinePrefix"]
    assert settings["STORAGE_ACCOUNT_URL"] == Expr("storage.outputs.dataBlobEndpoint")
    assert read("modules/storage.bicep").outputs["dataBlobEndpoint"] == Expr(
        "dataAccount.properties.primaryEndpoints.blob"
    )


def test_the_endpoint_sends_its_console_log_to_the_workspace_the_export_reads() -> None:
    ml = read("modules/ml-resources.bicep")
    (setting,) = ml.resources_of("Microsoft.Insights/diagnosticSettings")
    assert (
        ml.resource(setting.body["scope"].text).type == "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    )
    properties = setting.body["properties"]
    logs = {entry["category"]: entry["enabled"] for entry in properties["logs"]}
    assert logs["AmlOnlineEndpointConsoleLog"] is True
    assert logs["AmlOnlineEndpointTrafficLog"] is True
    assert {entry["category"] for entry in properties["metrics"] if entry["enabled"]} == {"AllMetrics"}
    # Resource-specific tables: the export queries the AmlOnlineEndpointConsoleLog table, not AzureDiagnostics.
    assert properties["logAnalyticsDestinationType"] == "Dedicated"
    # The destination is the workspace whose customer ID the export queries (LOG_ANALYTICS_WORKSPACE_ID).
    assert properties["workspaceId"] == Expr("logAnalyticsId")
    assert module_call("ml-resources.bicep").params["logAnalyticsId"] == Expr("monitoring.outputs.logAnalyticsId")
    monitoring = read("modules/monitoring.bicep")
    assert monitoring.outputs["logAnalyticsId"] == Expr("logAnalytics.id")
    assert monitoring.outputs["logAnalyticsCustomerId"] == Expr("logAnalytics.properties.customerId")
    settings = module_call("function-app.bicep").params["appSettings"]
    assert settings["LOG_ANALYTICS_WORKSPACE_ID"] == Expr("monitoring.outputs.logAnalyticsCustomerId")


def test_the_endpoint_has_key_auth_and_no_deployment() -> None:
    ml = read("modules/ml-resources.bicep")
    endpoint = ml.resource("newEndpoint")
    assert endpoint.body["properties"]["authMode"] == "Key"
    assert "traffic" not in endpoint.body["properties"]
    assert not ml.resources_of("Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments")


def test_the_endpoint_is_created_once_and_never_put_again() -> None:
    """Its traffic is the app's: every provision (each push to main) would otherwise put a body without it."""
    ml = read("modules/ml-resources.bicep")
    created, referenced = ml.resource("newEndpoint"), ml.resource("endpoint")
    assert created.condition == "(!endpointExists)" and not created.existing
    assert referenced.existing and referenced.condition is None
    assert created.body["name"] == referenced.body["name"] == Expr("endpointName")
    assert ml.params["endpointExists"] is False
    assert module_call("ml-resources.bicep").params["endpointExists"] == Expr("endpointExists")
    # what is scoped to the endpoint waits for it when it is created in the same deployment
    scoped = [r for r in ml.resources if isinstance(r.body.get("scope"), Expr) and r.body["scope"].text == "endpoint"]
    assert {r.symbol for r in scoped} == {"endpointLogs", "appReadsEndpointMetrics"}
    for resource in scoped:
        assert resource.body.get("dependsOn") == [Expr("newEndpoint")], resource.symbol


def test_the_cluster_scales_to_zero_with_its_identity() -> None:
    ml = read("modules/ml-resources.bicep")
    (cluster,) = ml.resources_of("Microsoft.MachineLearningServices/workspaces/computes")
    assert cluster.body["properties"]["properties"]["scaleSettings"]["minNodeCount"] == 0
    assert cluster.body["identity"]["type"] == "UserAssigned"
    assert module_call("ml-resources.bicep").params["computeIdentityId"] == Expr("identities.outputs.computeIdentityId")


@cache
def function_routes() -> dict[str, str | None]:
    """The app's functions and their HTTP routes, indexed in a fresh process (as the host does)."""
    script = (
        "import json, function_app\n"
        "out = {}\n"
        "for f in function_app.app.get_functions():\n"
        "    bindings = json.loads(f.get_function_json())['bindings']\n"
        "    trigger = next(b for b in bindings if b['type'].endswith('Trigger'))\n"
        "    out[f.get_function_name()] = trigger.get('route')\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_model_registered_events_of_the_model_go_to_deploy_registered_model() -> None:
    post = read("postdeploy.bicep")
    (subscription,) = post.resources_of("Microsoft.EventGrid/systemTopics/eventSubscriptions")
    properties = subscription.body["properties"]
    assert properties["filter"]["includedEventTypes"] == ["Microsoft.MachineLearningServices.ModelRegistered"]
    assert properties["filter"]["subjectBeginsWith"] == Expr("'models/${modelName}:'")
    destination = properties["destination"]
    assert destination["endpointType"] == "AzureFunction"
    target = post.resource(destination["properties"]["resourceId"].text.removesuffix(".id"))
    assert target.type == "Microsoft.Web/sites/functions"
    assert target.body["name"] == "deploy_registered_model"
    assert "deploy_registered_model" in function_routes()
    assert properties["retryPolicy"]["maxDeliveryAttempts"] == Expr("maxDeliveryAttempts")
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"]["type"] == "SystemAssigned"
    assert dead_letter["deadLetterDestination"]["properties"]["blobContainerName"] == Expr("deadLetterContainerName")
    # The topic's identity is the one with the role on the dead-letter container (events.bicep).
    assert main().outputs["AZURE_DEAD_LETTER_CONTAINER_NAME"] == Expr("deadLetterContainerName")
    assert module_call("events.bicep").params["deadLetterContainerName"] == Expr("deadLetterContainerName")


def test_the_system_topic_is_on_the_workspace() -> None:
    (topic,) = read("modules/events.bicep").resources_of("Microsoft.EventGrid/systemTopics")
    assert topic.body["properties"] == {
        "source": Expr("workspaceId"),
        "topicType": "Microsoft.MachineLearningServices.Workspaces",
    }
    assert module_call("events.bicep").params["workspaceId"] == Expr("ml.outputs.workspaceId")


def test_the_action_group_calls_retrain_on_alert_with_a_key_read_at_deployment() -> None:
    post = read("postdeploy.bicep")
    group = post.resource("retrainActionGroup")
    (receiver,) = group.body["properties"]["webhookReceivers"]
    assert receiver["useCommonAlertSchema"] is True
    route_name = "retrain_on_alert"
    route = function_routes()[route_name]
    # the function's own key: a host key would also open the operator routes (rollout and promotion controls)
    key = "${listKeys(app::retrainOnAlert.id, '2024-04-01').default}"
    assert receiver["serviceUri"] == Expr(f"'https://${{app.properties.defaultHostName}}/api/{route}?code={key}'")
    assert post.resource("app").type == "Microsoft.Web/sites"
    function = post.resource("app::retrainOnAlert")
    assert (function.existing, function.type, function.body["name"]) == (
        True,
        "Microsoft.Web/sites/functions",
        route_name,
    )
    # The key goes into the action group only: no output, nothing in main's outputs (which azd writes to .azure/).
    assert post.outputs == {}
    assert not any("listKeys" in json.dumps(v, default=str) for v in main().outputs.values())


def test_the_postdeploy_hook_passes_every_parameter_from_the_environment() -> None:
    post = read("postdeploy.bicep")
    required = {name for name, default in post.params.items() if default is None}
    hook = (INFRA / "hooks" / "postdeploy.sh").read_text(encoding="utf-8")
    passed = dict(re.findall(r"^\s+(\w+)=\"\$(\w+)\"", hook, flags=re.MULTILINE))
    assert required <= set(passed), f"not passed by the hook: {required - set(passed)}"
    from_azd = {"AZURE_ENV_NAME"}  # azd's own; the others are main.bicep's outputs
    assert set(passed.values()) - from_azd <= set(main().outputs)


def test_api_versions_are_ga_and_recorded_in_the_deploying_page() -> None:
    page = (PROJECT_ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| `([\w.]+/[\w/]+)` \| `([\w-]+)` \|", page, flags=re.MULTILINE))
    used: dict[str, set[str]] = {}
    for path in bicep_files():
        for resource in read(path.relative_to(INFRA).as_posix()).resources:
            used.setdefault(resource.type, set()).add(resource.api_version)
    for type_, versions in used.items():
        assert len(versions) == 1, f"{type_} is used with several API versions: {versions}"
        (version,) = versions
        assert recorded.get(type_) == version, f"{type_}@{version} is not the version docs/deploying.md records"
        if version.endswith("-preview"):
            # The one exception: diagnostic settings have no GA version with categories newer than 2016.
            assert type_ == "Microsoft.Insights/diagnosticSettings", f"{type_}@{version} is a preview version"
