"""The settings of the safe rollout of a registered model version: the reconcile timer, the traffic steps, the
mirror, the bake and the approvals, the live-metric gates that judge each step, and the new deployment itself.
A group of :class:`shared.settings.Settings`; not used alone."""

from __future__ import annotations

from shared.settings_parsing import (
    Setting,
    approval_steps,
    azure_name,
    azure_region,
    duration_setting,
    flag,
    low_traffic_action,
    mirror_percent,
    non_negative_number,
    positive_int,
    positive_number,
    ratio,
    schedule_setting,
    share,
    tag_condition,
    traffic_steps,
)


class RolloutSettings:
    """Rollout: the steps, the gates and the deployment."""

    rollout_reconcile_schedule = schedule_setting(
        "ROLLOUT_RECONCILE_SCHEDULE",
        "NCRONTAB schedule of `reconcile_rollouts` (%ROLLOUT_RECONCILE_SCHEDULE%).",
        default="0 */1 * * * *",
    )
    rollout_traffic_steps = Setting(
        "ROLLOUT_TRAFFIC_STEPS",
        "Traffic percentages the new deployment goes through, ending at 100.",
        traffic_steps,
        "increasing percentages ending with 100, such as 10,50,100",
        default="10,50,100",
    )
    rollout_step_dwell = duration_setting(
        "ROLLOUT_STEP_DWELL",
        "Time the rollout stays at each traffic step before the next.",
        default="PT5M",
        zero_allowed=True,
    )
    rollout_provisioning_timeout = duration_setting(
        "ROLLOUT_PROVISIONING_TIMEOUT",
        "How long a new deployment may take to provision before the rollout is rolled back.",
        default="PT30M",
    )
    rollout_mirror_percent = Setting(
        "ROLLOUT_MIRROR_PERCENT",
        "Mirror this share of live traffic to the new deployment before shifting traffic (0: no mirroring).",
        mirror_percent,
        "an integer in 0..50",
        default="0",
    )
    rollout_bake = duration_setting(
        "ROLLOUT_BAKE",
        "After the last traffic step, the new deployment serves 100 % this long, judged by the gate, before the "
        "previous deployments are retired (0: no bake).",
        default="PT10M",
        zero_allowed=True,
    )
    rollout_approval_steps = Setting(
        "ROLLOUT_APPROVAL_STEPS",
        "Traffic steps (percentages) a rollout enters only after `POST /api/rollouts/{model}/approve`, and `retire` "
        "(retiring the previous deployments after the bake); empty: none.",
        approval_steps,
        "a comma-separated list of percentages and retire, such as 100,retire",
        optional=True,
    )
    rollout_gates = Setting(
        "ROLLOUT_GATES",
        "Judge every traffic step, the mirror step and the bake on the new deployment's live traffic (request "
        "count, share of non-2xx answers, latency p90/p99) against the limits below; a failing gate rolls back.",
        flag,
        "true or false",
        default="true",
    )
    rollout_gate_min_requests = Setting(
        "ROLLOUT_GATE_MIN_REQUESTS",
        "Requests the new deployment must have served in a step's window to be judged (the baseline likewise "
        "for the limits relative to it).",
        positive_int,
        "a positive integer",
        default="100",
    )
    rollout_gate_max_error_share = Setting(
        "ROLLOUT_GATE_MAX_ERROR_SHARE",
        "Highest share of non-2xx answers of the new deployment in a step's window.",
        share,
        "a number in [0, 1] (0.01 is 1 %)",
        default="0.01",
    )
    rollout_gate_max_error_share_over_baseline = Setting(
        "ROLLOUT_GATE_MAX_ERROR_SHARE_OVER_BASELINE",
        "Highest share of non-2xx answers above the baseline deployments' share in the same window.",
        share,
        "a number in [0, 1] (0.005 is half a point)",
        default="0.005",
    )
    rollout_gate_max_latency_ratio = Setting(
        "ROLLOUT_GATE_MAX_LATENCY_RATIO",
        "Highest latency p90 (and p99) of the new deployment as a multiple of the baseline's in the same window.",
        ratio,
        "a number of at least 1",
        default="1.5",
    )
    rollout_gate_latency_slack_ms = Setting(
        "ROLLOUT_GATE_LATENCY_SLACK_MS",
        "A latency above the baseline's by less than this many milliseconds never fails the gate.",
        non_negative_number,
        "a number of milliseconds, 0 or more",
        default="25",
    )
    rollout_gate_max_latency_p90_ms = Setting(
        "ROLLOUT_GATE_MAX_LATENCY_P90_MS",
        "Highest latency p90 of the new deployment in milliseconds, whatever the baseline's; empty: no limit.",
        positive_number,
        "a number of milliseconds",
        optional=True,
    )
    rollout_gate_max_latency_p99_ms = Setting(
        "ROLLOUT_GATE_MAX_LATENCY_P99_MS",
        "Highest latency p99 of the new deployment in milliseconds, whatever the baseline's; empty: no limit.",
        positive_number,
        "a number of milliseconds",
        optional=True,
    )
    rollout_gate_low_traffic_wait = duration_setting(
        "ROLLOUT_GATE_LOW_TRAFFIC_WAIT",
        "How much longer than the dwell a step waits for enough requests to judge.",
        default="PT30M",
        zero_allowed=True,
    )
    rollout_gate_low_traffic = Setting(
        "ROLLOUT_GATE_LOW_TRAFFIC",
        "What a step does when it still has too few requests after the wait: `hold` (wait for an operator's "
        "approve or abort) or `proceed` (go on without a verdict, recorded).",
        low_traffic_action,
        "hold or proceed",
        default="hold",
    )
    metrics_region = Setting(
        "AML_WORKSPACE_REGION",
        "Azure region of the workspace (its endpoint's metrics are read from that region's Azure Monitor "
        "metrics endpoint by the rollout gates); needed in azure mode with ROLLOUT_GATES.",
        azure_region,
        "an Azure region name such as westeurope",
        optional=True,
    )
    deploy_skip_tag = Setting(
        "DEPLOY_SKIP_TAG",
        "Model versions carrying this tag (key=value) are not deployed.",
        tag_condition,
        "key=value",
        default="deploy=false",
    )
    registry_name = Setting(
        "AML_REGISTRY_NAME",
        "If set, a model is shared into this Azure ML registry and deployed from there.",
        azure_name,
        "a registry name",
        optional=True,
    )
    deployment_instance_type = Setting(
        "DEPLOYMENT_INSTANCE_TYPE",
        "VM size of new deployments.",
        azure_name,
        "an Azure ML instance type",
        default="Standard_DS3_v2",
    )
    deployment_data_collection = Setting(
        "DEPLOYMENT_DATA_COLLECTION",
        "New deployments collect their model inputs and outputs with Azure ML's data collector (stored in the "
        "workspace's blob store, for Azure ML model monitoring).",
        flag,
        "true or false",
        default="false",
    )
