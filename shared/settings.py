"""Typed application settings, read from the environment (Function App app settings).

One object, :class:`Settings`, holds every setting the app reads. The settings are declared in groups, one module
per area (:mod:`shared.settings_platform`, :mod:`shared.settings_export`, :mod:`shared.settings_monitoring`,
:mod:`shared.settings_retraining`, :mod:`shared.settings_rollout`, :mod:`shared.settings_promotion`), which
:class:`Settings` composes in the order of ``docs/settings.md``. Each attribute is a
:class:`~shared.settings_parsing.Setting` descriptor that parses and validates its environment variable on first
access (the parsers are :mod:`shared.settings_parsing`), so a missing or malformed setting only breaks the functions
that use it (the host still indexes the others) and the error names the variable and says what is expected.

Nothing here is read at import time: call :func:`get_settings` inside a handler.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from shared.settings_export import ExportSettings
from shared.settings_monitoring import DriftSettings, PerformanceSettings
from shared.settings_parsing import Setting, SettingsError
from shared.settings_platform import PlatformSettings, StorageSettings, TelemetrySettings
from shared.settings_promotion import PromotionSettings
from shared.settings_retraining import RetrainingSettings
from shared.settings_rollout import RolloutSettings

__all__ = ["Settings", "SettingsError", "get_settings"]


class Settings(
    PlatformSettings,
    StorageSettings,
    ExportSettings,
    DriftSettings,
    PerformanceSettings,
    RetrainingSettings,
    RolloutSettings,
    PromotionSettings,
    TelemetrySettings,
):
    """Every app setting, parsed lazily from ``env`` (``os.environ`` by default)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env: Mapping[str, str] = dict(os.environ if env is None else env)
        self._cache: dict[str, Any] = {}

    @classmethod
    def all(cls) -> Iterator[tuple[str, Setting[Any]]]:
        """Every setting in declaration order: the groups in the order the class lists them, each in its own order.
        A redefinition (a subclass's, a test's patch) is the one yielded, as attribute lookup finds it, in the place
        of the declaration it replaces."""
        declared = [attr for klass in cls.__mro__ for attr, value in vars(klass).items() if isinstance(value, Setting)]
        place = {attr: i for i, attr in enumerate(declared)}  # the last one in the MRO: the original declaration
        for attr in sorted(place, key=place.__getitem__):
            setting = getattr(cls, attr)
            if isinstance(setting, Setting):
                yield attr, setting

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
