"""What the demo sets differently from the app's defaults, computed from what it actually passes, so the list
cannot go out of date: the app settings (against the declarations of :mod:`shared.settings`) and the inputs of its
first training job (against the defaults of the training pipeline's YAML).

A setting counts as different when its value parses to something else than its declared default (``PT60M`` is
the same as ``PT1H``); an empty value is the default; a set value for a setting without a default is a
difference. Secrets are named, never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.settings import Settings
from shared.settings_parsing import InvalidValue, Setting

SECRET_SETTINGS = frozenset({"STORAGE_CONNECTION_STRING", "APPLICATIONINSIGHTS_CONNECTION_STRING"})
REDACTED = "(redacted)"
NOT_DECLARED = "(not an app setting)"


@dataclass(frozen=True)
class Difference:
    """One setting or pipeline input the demo sets to ``value`` where the app's default is ``default``."""

    name: str
    value: str
    default: str
    where: str  # "setting" or the pipeline YAML the input belongs to

    def as_record(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value, "default": self.default, "where": self.where}


def shown_value(name: str, value: str) -> str:
    """``value`` as a record or the console may show it (the storage connection string holds the account key)."""
    return REDACTED if name in SECRET_SETTINGS and value else value


def _same_as_default(setting: Setting[Any], raw: str) -> bool:
    if not raw.strip():
        return True  # Setting.read reads an empty value as the default
    if setting.default is None:
        return False
    try:
        return bool(setting.parse(raw.strip()) == setting.parse(setting.default))
    except InvalidValue:
        return False  # a malformed value is not the default (the app will name it when it reads it)


def setting_differences(env: Mapping[str, str]) -> list[Difference]:
    """The settings in ``env`` that differ from their declared defaults, in declaration order; names in ``env``
    that the app does not declare come last."""
    declared = {setting.name: setting for _, setting in Settings.all()}
    found = [
        Difference(name, shown_value(name, env[name]), setting.default_text(), "setting")
        for name, setting in declared.items()
        if name in env and not _same_as_default(setting, env[name])
    ]
    found += [
        Difference(name, shown_value(name, value), NOT_DECLARED, "setting")
        for name, value in env.items()
        if name not in declared
    ]
    return found


def pipeline_input_differences(pipeline_yaml: Path, inputs: Mapping[str, str]) -> list[Difference]:
    """The ``inputs`` given to the pipeline ``pipeline_yaml`` that differ from the defaults its YAML declares
    (compared as text: the YAML's ``80`` and the demo's ``"80"`` are the same input)."""
    import yaml

    declared = (yaml.safe_load(pipeline_yaml.read_text(encoding="utf-8")) or {}).get("inputs") or {}
    found = []
    for name, value in inputs.items():
        default = declared.get(name)
        if isinstance(default, Mapping):  # a typed input (type, path, default): its default value, if any
            default = default.get("default", default.get("path"))
        if name not in declared:
            shown_default = "(not a pipeline input)"
        elif default is None:
            shown_default = "(no default)"
        elif str(default) == str(value):
            continue
        else:
            shown_default = str(default)
        found.append(Difference(name, str(value), shown_default, pipeline_yaml.name))
    return found


# The settings that decide what the loop does with what it measures: every one is shown, set or not.
THRESHOLD_SETTINGS = (
    "DRIFT_SHARE",
    "DRIFT_THRESHOLD",
    "DRIFT_STATTEST",
    "DRIFT_MIN_ROWS",
    "PERFORMANCE_MIN_COVERAGE",
    "PERFORMANCE_MIN_LABELLED",
    "PERFORMANCE_THRESHOLD",
    "PERFORMANCE_AUC_FLOOR",
    "PERFORMANCE_AUC_MARGIN",
    "RETRAIN_ALERT_RULES",
    "RETRAIN_COOLDOWN",
)


@dataclass(frozen=True)
class Threshold:
    """A threshold the run uses: its value (the demo's, else the default), the default, whether they differ."""

    name: str
    value: str
    default: str
    differs: bool

    def as_record(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "default": self.default, "differs": self.differs}


def thresholds(env: Mapping[str, str]) -> list[Threshold]:
    """Every setting of :data:`THRESHOLD_SETTINGS` as this run uses it."""
    declared = {setting.name: setting for _, setting in Settings.all()}
    out = []
    for name in THRESHOLD_SETTINGS:
        setting = declared[name]
        raw = env.get(name, "")
        differs = not _same_as_default(setting, raw)
        value = raw.strip() if differs else setting.default_text()
        out.append(Threshold(name, value, setting.default_text(), differs))
    return out


def threshold_lines(found: list[Threshold]) -> list[str]:
    """One aligned line per threshold; those the demo changed say so, with the default."""
    width = max(len(t.name) for t in found)
    value_width = min(max(len(t.value) for t in found), 40)
    return [
        f"{t.name:<{width}}  {t.value:<{value_width}}  "
        + (f"(the demo's; default {t.default})" if t.differs else "(default)")
        for t in found
    ]


def disclosure_lines(differences: list[Difference]) -> list[str]:
    """One aligned line per difference: name, the demo's value, the app's default."""
    if not differences:
        return ["the demo runs with the app's defaults"]
    width = max(len(d.name) for d in differences)
    value_width = min(max(len(d.value) for d in differences), 40)
    lines = []
    for d in differences:
        where = "" if d.where == "setting" else f" ({d.where} input)"
        lines.append(f"{d.name:<{width}}  {d.value:<{value_width}}  default {d.default}{where}")
    return lines
