"""Typed application settings, read from the environment (Function App app settings).

One object, :class:`Settings`, holds every setting the app reads. Each attribute is a
:class:`Setting` descriptor that parses and validates its environment variable on first access, so
a missing or malformed setting only breaks the functions that use it (the host still indexes the
others) and the error names the variable and says what is expected.

Nothing here is read at import time: call :func:`get_settings` inside a handler.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed. The message names the setting and what is expected."""

    def __init__(self, name: str, problem: str, expected: str) -> None:
        self.name = name
        self.problem = problem
        self.expected = expected
        super().__init__(f"setting {name} {problem}; expected {expected}")


class _Invalid(ValueError):
    """Raised by a parser; turned into a SettingsError naming the setting."""


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable: its name, what it is for, how it is parsed, and its default.

    ``default`` (text, parsed like a set value) is used when the variable is absent or empty; a
    setting without a default is required unless ``optional=True``, which reads an absent one as
    ``None``.
    """

    name: str
    description: str
    parse: Callable[[str], T]
    expected: str
    default: str | None = None  # raw text, parsed like a set value
    optional: bool = False

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional

    def read(self, env: Mapping[str, str]) -> T:
        raw = env.get(self.name)
        if raw is None or raw.strip() == "":
            if self.default is None:
                if self.optional:
                    return None  # type: ignore[return-value]
                raise SettingsError(self.name, "is missing", self.expected)
            raw = self.default
        try:
            return self.parse(raw.strip())
        except _Invalid as exc:
            raise SettingsError(self.name, f"is malformed ({exc}): {raw.strip()!r}", self.expected) from None

    def default_text(self) -> str:
        if self.default is None:
            return "(optional)" if self.optional else "(required)"
        return self.default

    # Descriptor protocol: ``settings.model_name`` parses (once) from the instance's environment.
    def __set_name__(self, owner: type, attr: str) -> None:
        object.__setattr__(self, "_attr", attr)

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, instance: Settings, owner: type) -> T: ...
    def __get__(self, instance: Settings | None, owner: type) -> T | Setting[T]:
        if instance is None:
            return self
        cache = instance._cache
        if self.name not in cache:
            cache[self.name] = self.read(instance._env)
        return cache[self.name]  # type: ignore[no-any-return]


# --- parsers -------------------------------------------------------------------------------------

_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def parse_duration(raw: str) -> timedelta:
    """ISO-8601 duration limited to days/hours/minutes/seconds (``PT10M``, ``P1DT6H``)."""
    m = _DURATION.match(raw.upper())
    if not m or raw.upper() in ("P", "PT") or raw.upper().endswith("T"):
        raise _Invalid("not an ISO-8601 duration")
    return timedelta(
        days=int(m["d"] or 0), hours=int(m["h"] or 0), minutes=int(m["m"] or 0), seconds=float(m["s"] or 0)
    )


def format_duration(value: timedelta) -> str:
    total = value.total_seconds()
    days, rest = divmod(int(total), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, whole_seconds = divmod(rest, 60)
    seconds = whole_seconds + round(total - int(total), 6)
    out = "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{seconds:g}S" if seconds else "")
    return out + ("T" + time if time else ("" if days else "T0S"))


def positive_duration(raw: str) -> timedelta:
    value = parse_duration(raw)
    if value <= timedelta(0):
        raise _Invalid("must be longer than zero")
    return value


def non_negative_duration(raw: str) -> timedelta:
    return parse_duration(raw)


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _Invalid("not an integer") from None
    if value <= 0:
        raise _Invalid("must be greater than zero")
    return value


def fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _Invalid("not a number") from None
    if not 0.0 < value <= 1.0:
        raise _Invalid("must be in (0, 1]")
    return value


def probability(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _Invalid("not a number") from None
    if not 0.0 < value < 1.0:
        raise _Invalid("must be in (0, 1)")
    return value


def boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise _Invalid("not a boolean")


def guid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise _Invalid("not a GUID") from None


def _name_pattern(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def parse(raw: str) -> str:
        if not compiled.fullmatch(raw):
            raise _Invalid(f"not a valid {what}")
        return raw

    return parse


# Azure resource naming rules, as enforced by the services.
azure_name = _name_pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", "Azure resource name")
resource_group_name = _name_pattern(r"[-\w._()]{1,90}", "resource group name")
endpoint_name = _name_pattern(
    r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]", "online endpoint name (3-32 chars, letters, digits, -)"
)
model_name = _name_pattern(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", "model name")
container_name = _name_pattern(
    r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", "blob container name (3-63 lowercase letters, digits, -)"
)
blob_prefix = _name_pattern(r"[A-Za-z0-9_.=-]+(?:/[A-Za-z0-9_.=-]+)*", "blob prefix (no leading or trailing /)")


def account_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+/?", raw):
        raise _Invalid("not an account URL like https://<account>.blob.core.windows.net")
    return raw.rstrip("/")


def connection_string(raw: str) -> str:
    if raw == "UseDevelopmentStorage=true":
        return raw
    parts = dict(p.split("=", 1) for p in raw.split(";") if "=" in p)
    if not ({"AccountName", "BlobEndpoint"} & parts.keys()):
        raise _Invalid("not a storage connection string (no AccountName or BlobEndpoint)")
    return raw


def mode(raw: str) -> str:
    if raw.lower() not in ("azure", "local"):
        raise _Invalid("must be 'azure' or 'local'")
    return raw.lower()


def ncrontab(raw: str) -> str:
    """Azure Functions timer schedule: six-field NCRONTAB (``0 */15 * * * *``) or a TimeSpan."""
    if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", raw):
        return raw
    fields = raw.split()
    if len(fields) != 6 or not all(re.fullmatch(r"[\d*/,\-A-Za-z]+", f) for f in fields):
        raise _Invalid("not a six-field NCRONTAB expression")
    return raw


def traffic_steps(raw: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(p) for p in raw.split(","))
    except ValueError:
        raise _Invalid("not a comma-separated list of integers") from None
    if not steps or steps[-1] != 100 or any(not 0 < s <= 100 for s in steps):
        raise _Invalid("each step must be in 1..100 and the last must be 100")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise _Invalid("steps must increase")
    return steps


def mirror_percent(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _Invalid("not an integer") from None
    if not 0 <= value <= 50:
        raise _Invalid("must be in 0..50 (Azure ML mirrors at most 50 %)")
    return value


def name_list(raw: str) -> tuple[str, ...]:
    items = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not items:
        raise _Invalid("empty list")
    return items


def tag_condition(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise _Invalid("not of the form key=value")
    return key.strip(), value.strip()


def data_asset_ref(raw: str) -> str:
    """``name@latest``, ``name:version`` or a full ``azureml:`` reference."""
    ref = raw.removeprefix("azureml:")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*(?:@latest|:[A-Za-z0-9_.-]+)", ref):
        raise _Invalid("not a data asset reference like name@latest or name:3")
    return ref


def text(raw: str) -> str:
    return raw


def stattest(raw: str) -> str:
    allowed = {"ks", "chisquare", "psi", "wasserstein", "jensenshannon", "kl_div", "z", "anderson", "cramer_von_mises"}
    if raw not in allowed:
        raise _Invalid(f"unknown test; one of {', '.join(sorted(allowed))}")
    return raw


# --- the settings --------------------------------------------------------------------------------


class Settings:
    """Every app setting, parsed lazily from ``env`` (``os.environ`` by default)."""

    # Mode and platform
    mode = Setting(
        "MLOPS_MODE",
        "Where the ML platform lives: `azure` (Azure ML, Log Analytics) or `local` (the local mode).",
        mode,
        "azure or local",
        default="azure",
    )
    subscription_id = Setting(
        "AZURE_SUBSCRIPTION_ID", "Subscription of the Azure ML workspace.", guid, "a subscription GUID"
    )
    resource_group = Setting(
        "AZURE_RESOURCE_GROUP",
        "Resource group of the Azure ML workspace.",
        resource_group_name,
        "a resource group name",
    )
    workspace_name = Setting("AML_WORKSPACE_NAME", "Azure ML workspace name.", azure_name, "a workspace name")
    model_name = Setting(
        "MODEL_NAME",
        "Registered model that the loop trains, deploys and monitors.",
        model_name,
        "a model name",
        default="credit-default",
    )
    endpoint_name = Setting(
        "ENDPOINT_NAME",
        "Managed online endpoint that serves the model.",
        endpoint_name,
        "an endpoint name (3-32 chars: letters, digits, -)",
        default="credit-default",
    )
    local_state_dir = Setting(
        "LOCAL_STATE_DIR",
        "Local mode only: folder for jobs, the model registry, deployments' console logs and telemetry.",
        text,
        "a folder path",
        default=".local",
    )

    # Storage (state store and exported data)
    storage_connection_string = Setting(
        "STORAGE_CONNECTION_STRING",
        "Storage connection string for local development (Azurite: `UseDevelopmentStorage=true`). "
        "Leave empty in Azure and set STORAGE_ACCOUNT_URL (managed identity).",
        connection_string,
        "a storage connection string",
        optional=True,
    )
    storage_account_url = Setting(
        "STORAGE_ACCOUNT_URL",
        "Blob endpoint of the storage account, used with DefaultAzureCredential (managed identity) "
        "when STORAGE_CONNECTION_STRING is empty.",
        account_url,
        "https://<account>.blob.core.windows.net",
        optional=True,
    )
    state_container = Setting(
        "STATE_CONTAINER",
        "Blob container for the app's state: export watermark, rollouts, idempotency claims, locks.",
        container_name,
        "a blob container name",
        default="mlops-state",
    )

    # Export
    export_schedule = Setting(
        "EXPORT_SCHEDULE",
        "NCRONTAB schedule of `export_inference_data` (read by the host as %EXPORT_SCHEDULE%).",
        ncrontab,
        "a six-field NCRONTAB expression",
        default="0 */15 * * * *",
    )
    log_analytics_workspace_id = Setting(
        "LOG_ANALYTICS_WORKSPACE_ID",
        "Workspace (customer) ID of the Log Analytics workspace that receives AmlOnlineEndpointConsoleLog.",
        guid,
        "a workspace GUID",
    )
    export_container = Setting(
        "EXPORT_CONTAINER",
        "Blob container for exported inference data.",
        container_name,
        "a blob container name",
        default="inference-data",
    )
    export_prefix = Setting(
        "EXPORT_PREFIX",
        "Prefix under which exported Parquet is written (model=/version=/date=/hour= below it).",
        blob_prefix,
        "a blob prefix",
        default="inference",
    )
    quarantine_prefix = Setting(
        "EXPORT_QUARANTINE_PREFIX",
        "Prefix for malformed or incomplete console-log lines, kept with their raw message.",
        blob_prefix,
        "a blob prefix",
        default="quarantine",
    )
    export_ingestion_delay = Setting(
        "EXPORT_INGESTION_DELAY",
        "How far behind now a window ends, so late-ingested log lines are not missed.",
        non_negative_duration,
        "an ISO-8601 duration such as PT10M",
        default="PT10M",
    )
    export_window = Setting(
        "EXPORT_WINDOW",
        "Longest query window; windows are split further when a result would exceed the service limits.",
        positive_duration,
        "an ISO-8601 duration such as PT1H",
        default="PT1H",
    )
    export_initial_lookback = Setting(
        "EXPORT_INITIAL_LOOKBACK",
        "Where the first export starts when no watermark is stored yet (now minus this).",
        positive_duration,
        "an ISO-8601 duration such as P7D",
        default="P7D",
    )
    export_time_budget = Setting(
        "EXPORT_TIME_BUDGET",
        "Time one run may spend catching up before it stops and leaves the rest to the next run.",
        positive_duration,
        "an ISO-8601 duration such as PT4M",
        default="PT4M",
    )
    export_max_rows = Setting(
        "EXPORT_MAX_ROWS_PER_QUERY",
        "Row count above which a window is split before querying (the service returns at most 500,000).",
        positive_int,
        "a positive integer up to 500000",
        default="400000",
    )
    export_data_asset = Setting(
        "EXPORT_DATA_ASSET_NAME",
        "If set, a new version of this Azure ML data asset (uri_folder over the export prefix) is created "
        "after a run that wrote data.",
        azure_name,
        "a data asset name",
        optional=True,
    )

    # Drift
    drift_schedule = Setting(
        "DRIFT_SCHEDULE",
        "NCRONTAB schedule of `submit_drift_job` (%DRIFT_SCHEDULE%).",
        ncrontab,
        "a six-field NCRONTAB expression",
        default="0 30 2 * * *",
    )
    drift_window = Setting(
        "DRIFT_WINDOW",
        "Inference data window that a scheduled drift job compares with the training data.",
        positive_duration,
        "an ISO-8601 duration such as P1D",
        default="P1D",
    )
    drift_compute = Setting(
        "DRIFT_COMPUTE",
        "Azure ML compute cluster for the drift pipeline.",
        azure_name,
        "a compute name",
        default="cpu-cluster",
    )
    drift_min_rows = Setting(
        "DRIFT_MIN_ROWS",
        "Fewer inference rows than this end a drift run with a message and no metrics.",
        positive_int,
        "a positive integer",
        default="100",
    )
    drift_stattest = Setting(
        "DRIFT_STATTEST",
        "Statistical test for every feature (Evidently name); empty: Evidently's default per column type.",
        stattest,
        "an Evidently stattest name such as psi or ks",
        optional=True,
    )
    drift_threshold = Setting(
        "DRIFT_THRESHOLD",
        "Per-feature drift threshold (p-value for tests, distance for PSI/Wasserstein); empty: the test's default.",
        probability,
        "a number in (0, 1)",
        optional=True,
    )
    drift_share = Setting(
        "DRIFT_SHARE",
        "Share of drifted features from which the dataset counts as drifted.",
        fraction,
        "a number in (0, 1]",
        default="0.5",
    )

    # Retraining
    training_data_asset = Setting(
        "TRAINING_DATA_ASSET",
        "Training data for retraining: an Azure ML data asset, `name@latest` or `name:version`.",
        data_asset_ref,
        "name@latest or name:version",
        default="credit-default-training@latest",
    )
    training_compute = Setting(
        "TRAINING_COMPUTE",
        "Azure ML compute cluster for the training pipeline.",
        azure_name,
        "a compute name",
        default="cpu-cluster",
    )
    retrain_cooldown = Setting(
        "RETRAIN_COOLDOWN",
        "Minimum time between two retrainings of the model; alerts inside it are suppressed.",
        non_negative_duration,
        "an ISO-8601 duration such as PT6H",
        default="PT6H",
    )
    retrain_alert_rules = Setting(
        "RETRAIN_ALERT_RULES",
        "Comma-separated alert rule names or ids that may trigger retraining; empty: any rule.",
        name_list,
        "a comma-separated list of alert rule names or ids",
        optional=True,
    )

    # Rollout
    rollout_reconcile_schedule = Setting(
        "ROLLOUT_RECONCILE_SCHEDULE",
        "NCRONTAB schedule of `reconcile_rollouts` (%ROLLOUT_RECONCILE_SCHEDULE%).",
        ncrontab,
        "a six-field NCRONTAB expression",
        default="0 */1 * * * *",
    )
    rollout_traffic_steps = Setting(
        "ROLLOUT_TRAFFIC_STEPS",
        "Traffic percentages the new deployment goes through, ending at 100.",
        traffic_steps,
        "increasing percentages ending with 100, such as 10,50,100",
        default="10,50,100",
    )
    rollout_step_dwell = Setting(
        "ROLLOUT_STEP_DWELL",
        "Time the rollout stays at each traffic step before the next.",
        non_negative_duration,
        "an ISO-8601 duration such as PT5M",
        default="PT5M",
    )
    rollout_provisioning_timeout = Setting(
        "ROLLOUT_PROVISIONING_TIMEOUT",
        "How long a new deployment may take to provision before the rollout is rolled back.",
        positive_duration,
        "an ISO-8601 duration such as PT30M",
        default="PT30M",
    )
    rollout_mirror_percent = Setting(
        "ROLLOUT_MIRROR_PERCENT",
        "Mirror this share of live traffic to the new deployment before shifting traffic (0: no mirroring).",
        mirror_percent,
        "an integer in 0..50",
        default="0",
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

    # Telemetry
    appinsights_connection_string = Setting(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "Application Insights connection string; when empty, no telemetry is exported.",
        text,
        "an Application Insights connection string",
        optional=True,
    )

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env: Mapping[str, str] = dict(os.environ if env is None else env)
        self._cache: dict[str, Any] = {}

    @classmethod
    def all(cls) -> Iterator[tuple[str, Setting[Any]]]:
        for attr, value in vars(cls).items():
            if isinstance(value, Setting):
                yield attr, value

    def validate(self, *attrs: str) -> None:
        """Read the given settings (all when none given); raise the first error."""
        for attr, _ in self.all():
            if not attrs or attr in attrs:
                getattr(self, attr)

    def errors(self) -> list[SettingsError]:
        out: list[SettingsError] = []
        for attr, _ in self.all():
            try:
                getattr(self, attr)
            except SettingsError as exc:
                out.append(exc)
        return out

    def storage_auth(self) -> tuple[str, str]:
        """``("connection_string", value)`` or ``("account_url", value)`` for the Blob client."""
        if self.storage_connection_string:
            return "connection_string", self.storage_connection_string
        if self.storage_account_url:
            return "account_url", self.storage_account_url
        raise SettingsError(
            "STORAGE_ACCOUNT_URL",
            "is missing (and STORAGE_CONNECTION_STRING is empty)",
            "https://<account>.blob.core.windows.net, or STORAGE_CONNECTION_STRING for Azurite",
        )


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings (read from ``os.environ`` on first use)."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def reset_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Replace the process-wide settings (tests, local mode)."""
    global _settings
    _settings = Settings(env)
    return _settings


def settings_table() -> str:
    """The README's settings table (``python -m shared.settings`` prints it; a test keeps them equal)."""
    rows = ["| setting | default | description |", "| --- | --- | --- |"]
    for _, setting in Settings.all():
        rows.append(
            f"| `{setting.name}` | {setting.default_text()} | {setting.description} Expected: {setting.expected}. |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
