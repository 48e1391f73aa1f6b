"""How one setting is read: the :class:`Setting` descriptor, the error that names a bad setting, and the parsers
that turn the text of an environment variable into a typed, validated value.

A parser raises :class:`InvalidValue` with what is wrong; :meth:`Setting.read` turns it into a
:class:`SettingsError` naming the setting, the value and what is expected. The table of settings itself is
:mod:`shared.settings`.
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Generic, TypeVar, overload

if TYPE_CHECKING:
    from shared.settings import Settings

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed. The message names the setting and what is expected."""

    def __init__(self, name: str, problem: str, expected: str) -> None:
        self.name = name
        self.problem = problem
        self.expected = expected
        super().__init__(f"setting {name} {problem}; expected {expected}")


class InvalidValue(ValueError):
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
        except InvalidValue as exc:
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
        raise InvalidValue("not an ISO-8601 duration")
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
        raise InvalidValue("must be longer than zero")
    return value


def non_negative_duration(raw: str) -> timedelta:
    return parse_duration(raw)


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidValue("not an integer") from None
    if value <= 0:
        raise InvalidValue("must be greater than zero")
    return value


def fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidValue("not a number") from None
    if not 0.0 < value <= 1.0:
        raise InvalidValue("must be in (0, 1]")
    return value


def probability(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidValue("not a number") from None
    if not 0.0 < value < 1.0:
        raise InvalidValue("must be in (0, 1)")
    return value


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidValue("not a number") from None
    if not math.isfinite(value):
        raise InvalidValue("not a finite number")
    return value


def share(raw: str) -> float:
    """A share in [0, 1] (0.01 is 1 %)."""
    value = _number(raw)
    if not 0.0 <= value <= 1.0:
        raise InvalidValue("must be in [0, 1] (0.01 is 1 %)")
    return value


def ratio(raw: str) -> float:
    value = _number(raw)
    if value < 1.0:
        raise InvalidValue("must be at least 1")
    return value


def non_negative_number(raw: str) -> float:
    value = _number(raw)
    if value < 0.0:
        raise InvalidValue("must not be negative")
    return value


def positive_number(raw: str) -> float:
    value = _number(raw)
    if value <= 0.0:
        raise InvalidValue("must be greater than zero")
    return value


def low_traffic_action(raw: str) -> str:
    if raw not in ("hold", "proceed"):
        raise InvalidValue("not hold or proceed")
    return raw


def approval_steps(raw: str) -> tuple[str, ...]:
    """Traffic percentages (1..100) before which a rollout waits for approval, and ``retire``."""
    items = tuple(p.strip().lower() for p in raw.split(",") if p.strip())
    if not items:
        raise InvalidValue("empty list")
    for item in items:
        if item != "retire" and not (item.isdigit() and 0 < int(item) <= 100):
            raise InvalidValue(f"{item!r} is neither a percentage in 1..100 nor retire")
    return tuple(dict.fromkeys(str(int(i)) if i.isdigit() else i for i in items))


def guid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidValue("not a GUID") from None


def _name_pattern(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def parse(raw: str) -> str:
        if not compiled.fullmatch(raw):
            raise InvalidValue(f"not a valid {what}")
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
azure_region = _name_pattern(r"[a-z][a-z0-9]{1,39}", "Azure region name such as westeurope")
blob_prefix = _name_pattern(r"[A-Za-z0-9_.=-]+(?:/[A-Za-z0-9_.=-]+)*", "blob prefix (no leading or trailing /)")


def account_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+/?", raw):
        raise InvalidValue("not an account URL like https://<account>.blob.core.windows.net")
    return raw.rstrip("/")


def connection_string(raw: str) -> str:
    if raw == "UseDevelopmentStorage=true":
        return raw
    parts = dict(p.split("=", 1) for p in raw.split(";") if "=" in p)
    if not ({"AccountName", "BlobEndpoint"} & parts.keys()):
        raise InvalidValue("not a storage connection string (no AccountName or BlobEndpoint)")
    return raw


def mode(raw: str) -> str:
    if raw.lower() not in ("azure", "local"):
        raise InvalidValue("must be 'azure' or 'local'")
    return raw.lower()


def ncrontab(raw: str) -> str:
    """Azure Functions timer schedule: six-field NCRONTAB (``0 */15 * * * *``) or a TimeSpan."""
    if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", raw):
        return raw
    fields = raw.split()
    if len(fields) != 6 or not all(re.fullmatch(r"[\d*/,\-A-Za-z]+", f) for f in fields):
        raise InvalidValue("not a six-field NCRONTAB expression")
    return raw


def traffic_steps(raw: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(p) for p in raw.split(","))
    except ValueError:
        raise InvalidValue("not a comma-separated list of integers") from None
    if not steps or steps[-1] != 100 or any(not 0 < s <= 100 for s in steps):
        raise InvalidValue("each step must be in 1..100 and the last must be 100")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise InvalidValue("steps must increase")
    return steps


def mirror_percent(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise InvalidValue("not an integer") from None
    if not 0 <= value <= 50:
        raise InvalidValue("must be in 0..50 (Azure ML mirrors at most 50 %)")
    return value


def name_list(raw: str) -> tuple[str, ...]:
    items = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not items:
        raise InvalidValue("empty list")
    return items


def tag_condition(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise InvalidValue("not of the form key=value")
    return key.strip(), value.strip()


def data_asset_ref(raw: str) -> str:
    """``name@latest``, ``name:version`` or a full ``azureml:`` reference."""
    ref = raw.removeprefix("azureml:")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*(?:@latest|:[A-Za-z0-9_.-]+)", ref):
        raise InvalidValue("not a data asset reference like name@latest or name:3")
    return ref


def app_insights_resource_id(raw: str) -> str:
    """The resource ID of an Application Insights component (the jobs' telemetry target, one definition with them)."""
    from ml_assets.src.contracts.telemetry_target import parse_resource_id

    try:
        value = parse_resource_id(raw)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    if value is None:
        raise InvalidValue("not an Application Insights resource ID")
    return value


def text(raw: str) -> str:
    return raw


def flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise InvalidValue("not true or false")
    return lowered == "true"


def stattest(raw: str) -> str:
    allowed = {"ks", "chisquare", "psi", "wasserstein", "jensenshannon", "kl_div", "z", "anderson", "cramer_von_mises"}
    if raw not in allowed:
        raise InvalidValue(f"unknown test; one of {', '.join(sorted(allowed))}")
    return raw


# --- declarations of the common kinds ------------------------------------------------------------


def duration_setting(name: str, description: str, *, default: str, zero_allowed: bool = False) -> Setting[timedelta]:
    """An ISO-8601 duration with a default (``PT10M``); longer than zero unless ``zero_allowed``."""
    parse = non_negative_duration if zero_allowed else positive_duration
    return Setting(name, description, parse, f"an ISO-8601 duration such as {default}", default=default)


def schedule_setting(name: str, description: str, *, default: str) -> Setting[str]:
    """A timer's NCRONTAB schedule, which the host reads as ``%NAME%`` in the trigger."""
    return Setting(name, description, ncrontab, "a six-field NCRONTAB expression", default=default)
