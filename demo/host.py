"""Azure and the Functions host for one demo run: Azurite, the local platforms, the app's context and its handlers.

:meth:`LocalHost.start` starts Azurite (unless the settings name a storage account already), the local job
platform (its register step queues ModelRegistered events in the outbox), endpoint platform, registry and data
assets, installs an :class:`~shared.context.AppContext` on them and builds the app's user functions; the caller's
``ExitStack`` stops all of it. The other methods call the handlers where the Functions host would, with real
``azure.functions`` objects: the timers (``reconcile_rollouts``, ``export_inference_data``), the Event Grid trigger
(``deploy_registered_model``, through :class:`demo.event_delivery.EventDelivery`), the drift job route and the
action group's webhook (``retrain_on_alert``, through :class:`demo.alerts.LocalAlertEvaluator`).

Every process group they start is recorded in one process registry (``<processes_dir>/processes/``), so what a demo
killed outright left running is stopped by the next one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from demo.alerts import LocalAlertEvaluator, Notification, handler_poster
from demo.event_delivery import Delivery, EventDelivery
from shared.local.process_registry import ProcessRegistry


class LocalHost:
    """What one run plays of Azure and the Functions host, around the state folder ``state_dir``; its process
    groups are recorded under ``processes_dir`` (default: ``state_dir``)."""

    def __init__(self, state_dir: Path, *, startup_timeout: float, processes_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        self.startup_timeout = startup_timeout
        self.processes = ProcessRegistry(processes_dir or state_dir)
        self.env: dict[str, str] = {}

    def start(self, stack: ExitStack, env: Mapping[str, str]) -> str:
        """Start everything with the app settings ``env``; Azurite too, without ``STORAGE_CONNECTION_STRING``.
        Returns what was started, for the stage's outcome."""
        from shared.context import AppContext, use_context
        from shared.local.data_assets import LocalDataAssetStore
        from shared.local.endpoint_platform import LocalEndpointPlatform
        from shared.local.job_platform import LocalJobPlatform
        from shared.local.registry import LocalRegistry
        from shared.settings import Settings
        from shared.triggers import drift, export, performance, retraining, rollout

        started = ""
        self.env = dict(env)
        if not self.env.get("STORAGE_CONNECTION_STRING"):
            from shared.local.azurite import Azurite

            azurite = stack.enter_context(Azurite(location=self.state_dir / "azurite", registry=self.processes))
            self.env["STORAGE_CONNECTION_STRING"] = azurite.connection_string
            started = f"Azurite at {azurite.blob_endpoint}"
        self.settings = Settings(self.env)
        self.registry = LocalRegistry(self.state_dir)
        # the jobs get the storage settings and the registry hook that queues ModelRegistered events
        self.jobs = LocalJobPlatform.from_settings(self.settings, process_registry=self.processes)
        stack.callback(self.jobs.close)
        self.endpoints = LocalEndpointPlatform(
            self.state_dir,
            self.registry,
            self.state_dir / "console-logs",
            startup_timeout=self.startup_timeout,
            process_registry=self.processes,
        )
        stack.callback(self.endpoints.close)
        self.data_assets = LocalDataAssetStore(self.state_dir)
        self.context = AppContext(
            settings=self.settings,
            overrides={"job_platform": self.jobs, "endpoint_platform": self.endpoints, "model_registry": self.registry},
        )
        use_context(self.context)
        stack.callback(use_context, None)
        self.fn_deploy = rollout.deploy_registered_model.build().get_user_function()
        self.fn_reconcile = rollout.reconcile_rollouts.build().get_user_function()
        self.fn_export = export.export_inference_data.build().get_user_function()
        self.fn_drift = drift.submit_drift_job_http.build().get_user_function()
        self.fn_performance = performance.submit_performance_job_http.build().get_user_function()
        self.fn_retrain = retraining.retrain_on_alert.build().get_user_function()
        self.events = EventDelivery(self.state_dir, self.fn_deploy, backoff_seconds=0.5)
        return started

    def state(self, key: str) -> dict[str, Any] | None:
        """The data of the app's state document ``key``, None if there is none."""
        doc = self.context.state_store().get(key)
        return doc.data if doc else None

    def export_watermark(self) -> datetime | None:
        from shared.services import state_keys

        doc = self.state(state_keys.EXPORT_WATERMARK)
        return datetime.fromisoformat(str(doc["watermark"]).replace("Z", "+00:00")) if doc else None

    def reconcile_tick(self) -> None:
        """One run of the ``reconcile_rollouts`` timer."""
        from azure.functions.timer import TimerRequest

        self.fn_reconcile(TimerRequest(past_due=False))

    def export_tick(self) -> None:
        """One run of the ``export_inference_data`` timer."""
        from azure.functions.timer import TimerRequest

        self.fn_export(TimerRequest(past_due=False))

    def deliver_events(self) -> tuple[list[Delivery], list[dict[str, Any]]]:
        """One Event Grid delivery round: what happened to each due event, and every dead-lettered event so far."""
        return self.events.deliver_pending(), self.events.folder("dead-letter")

    def post_drift_job(self, body: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /api/drift/jobs`` with ``body``: (status, the JSON answer)."""
        return self._post(self.fn_drift, "drift/jobs", body)

    def post_performance_job(self, body: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST /api/performance/jobs`` with ``body``: (status, the JSON answer)."""
        return self._post(self.fn_performance, "performance/jobs", body)

    def _post(self, handler: Any, route: str, body: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        import azure.functions as func

        response = handler(
            func.HttpRequest(
                method="POST", url=f"http://localhost/api/{route}", body=json.dumps(body).encode(), params={}
            )
        )
        return int(response.status_code), json.loads(response.get_body())

    def evaluate_alerts(self) -> list[Notification]:
        """One evaluation of the drift alert rule (local Azure Monitor), notifications posted to the webhook."""
        from ml_assets.src.contracts.alert_rules import rule_for

        evaluator = LocalAlertEvaluator(
            self.state_dir, rule_for(self.settings.drift_share), handler_poster(self.fn_retrain)
        )
        return evaluator.evaluate()

    def evaluate_performance_alerts(self) -> list[Notification]:
        """One evaluation of the performance-drop rule (its floor and margin from the settings), posted likewise."""
        from ml_assets.src.contracts.alert_rules import performance_rule_for

        rule = performance_rule_for(self.settings.performance_auc_floor, self.settings.performance_auc_margin)
        return LocalAlertEvaluator(self.state_dir, rule, handler_poster(self.fn_retrain)).evaluate()

    def post_alert(self, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """The action group's webhook call to ``retrain_on_alert`` with ``payload``: (status, the JSON answer)."""
        status, raw = handler_poster(self.fn_retrain)(json.dumps(payload).encode())
        return status, json.loads(raw)
