"""A :class:`shared.ports.DataAssetVersions` over a dict, like the workspace's data assets.

An asset that is not there raises NotFoundError (what the service answers for a name it does not know); it can
fail before answering (``failures``, raised in order) and counts the lookups.
"""

from __future__ import annotations

from shared.ports import NotFoundError


class FakeDataAssetVersions:
    def __init__(self, assets: dict[str, list[str]] | None = None) -> None:
        self.assets = dict(assets or {})
        self.failures: list[Exception] = []
        self.lookups: list[str] = []

    def versions(self, name: str) -> list[str]:
        self.lookups.append(name)
        if self.failures:
            raise self.failures.pop(0)
        if name not in self.assets:
            raise NotFoundError(f"list the versions of data asset {name}: not found")
        return list(self.assets[name])
