"""`Settings` composes one group class per area: ``Settings.all()`` (the table in docs/settings.md, the Bicep check,
the demo's disclosure) lists every group's declarations in the groups' order, no group hides another's, and a
redefinition (a test's patch, a subclass) is listed in the place of the declaration it replaces."""

from __future__ import annotations

import pytest

from shared.settings import Settings
from shared.settings_parsing import Setting, fraction


def group_declarations() -> list[tuple[type, str, Setting]]:
    return [
        (group, attr, value)
        for group in Settings.__bases__
        for attr, value in vars(group).items()
        if isinstance(value, Setting)
    ]


def test_all_lists_every_group_in_order() -> None:
    assert [(attr, setting) for _, attr, setting in group_declarations()] == list(Settings.all())
    assert not [attr for attr, value in vars(Settings).items() if isinstance(value, Setting)]  # all in groups


def test_no_two_declarations_share_an_attribute_or_a_variable() -> None:
    declared = group_declarations()
    attrs = [attr for _, attr, _ in declared]
    names = [setting.name for _, _, setting in declared]
    assert sorted({a for a in attrs if attrs.count(a) > 1}) == []
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_a_patched_setting_is_listed_in_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    order = [attr for attr, _ in Settings.all()]
    patched = Setting("DRIFT_SHARE", "patched", fraction, "", default="0.3")
    monkeypatch.setattr(Settings, "drift_share", patched)
    listed = list(Settings.all())
    assert [attr for attr, _ in listed] == order
    assert dict(listed)["drift_share"] is patched and Settings({}).drift_share == 0.3
    monkeypatch.undo()
    assert dict(Settings.all())["drift_share"].default == "0.5"


def test_a_subclass_redefinition_replaces_the_group_declaration() -> None:
    class Narrower(Settings):
        export_window = Setting("EXPORT_WINDOW", "narrower", fraction, "a fraction", default="0.1")

    listed = list(Narrower.all())
    assert [attr for attr, _ in listed] == [attr for attr, _ in Settings.all()]
    assert dict(listed)["export_window"].description == "narrower"
    assert Narrower({}).export_window == 0.1
