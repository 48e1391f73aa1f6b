"""One definition of the alert rules: infra/generated/alert-rules.json is what the generator writes from the
contracts' rule registry, and the query the Bicep builds from it is the contract's KQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra import alert_rules_json
from ml_assets.src.contracts.alert_rules import ALERT_RULES, DEFAULT_RULE, DeclaredAlertRule, DriftAlertRule
from tests.bicep_tree import Expr, read


def test_the_committed_file_is_what_the_generator_writes() -> None:
    committed = alert_rules_json.OUTPUT.read_text(encoding="utf-8")
    assert committed == alert_rules_json.render(), "run python -m infra.alert_rules_json"
    assert alert_rules_json.main(["--check"]) == 0


def test_check_fails_when_a_rule_changes_and_writing_brings_it_in_step(tmp_path, monkeypatch) -> None:
    changed = (DeclaredAlertRule(DriftAlertRule(threshold=0.3), retrains=True),)
    assert alert_rules_json.main(["--check"], rules=changed) == 1
    monkeypatch.setattr(alert_rules_json, "OUTPUT", tmp_path / "alert-rules.json")
    assert alert_rules_json.main([], rules=changed) == 0
    assert alert_rules_json.main(["--check"], rules=changed) == 0
    assert ">= 0.3" in (tmp_path / "alert-rules.json").read_text(encoding="utf-8")


def test_every_declared_rule_is_generated_with_its_kql() -> None:
    import json

    document = json.loads(alert_rules_json.render())
    assert [rule["name"] for rule in document["rules"]] == [declared.rule.name for declared in ALERT_RULES]
    placeholder = document["modelNamePlaceholder"]
    for declared, generated in zip(ALERT_RULES, document["rules"], strict=True):
        # What the Bicep does: replace(rule.query, alertRules.modelNamePlaceholder, modelName).
        assert generated["query"].replace(placeholder, "credit-default") == declared.rule.kql("credit-default")
        assert generated["severity"] == declared.rule.severity
        assert generated["retrains"] is declared.retrains


def test_the_drift_rule_is_registered_and_retrains() -> None:
    assert DeclaredAlertRule(DEFAULT_RULE, retrains=True) in ALERT_RULES


def test_the_bicep_builds_each_rule_from_the_generated_file() -> None:
    post = read("postdeploy.bicep")
    assert post.variables["alertRules"] == Expr("loadJsonContent('generated/alert-rules.json')")
    (rules,) = post.resources_of("Microsoft.Insights/scheduledQueryRules")
    assert rules.loop == "[ for rule in alertRules.rules"
    properties = rules.body["properties"]
    (criterion,) = properties["criteria"]["allOf"]
    assert criterion["query"] == Expr("replace(rule.query, alertRules.modelNamePlaceholder, modelName)")
    assert properties["scopes"] == [Expr("appInsights.id")]
    assert properties["windowSize"] == Expr("rule.windowSize")
    assert properties["evaluationFrequency"] == Expr("rule.evaluationFrequency")
    # a rule that retrains calls the retraining webhook; every rule also tells the team when an address is given
    assert properties["actions"]["actionGroups"] == Expr(
        "concat( rule.retrains ? [retrainActionGroup.id] : [], empty(alertEmail) ? [] : [notifyActionGroup.id] )"
    )
    # The rules that retrain are the ones the app accepts (RETRAIN_ALERT_RULES), from the same file.
    main = read("main.bicep")
    assert main.variables["alertRules"] == Expr("loadJsonContent('generated/alert-rules.json')")
    assert main.variables["retrainingRuleNames"] == Expr(
        "map(filter(alertRules.rules, rule => rule.retrains), rule => rule.name)"
    )


def test_every_alert_can_reach_the_team_by_email() -> None:
    post = read("postdeploy.bicep")
    assert post.params["alertEmail"] == ""  # optional: without an address no group is created
    notify = post.resource("notifyActionGroup")
    assert notify.condition == "(!empty(alertEmail))"
    assert len(notify.body["properties"]["groupShortName"]) <= 12  # the service's limit
    (receiver,) = notify.body["properties"]["emailReceivers"]
    assert receiver["emailAddress"] == Expr("alertEmail")
    assert receiver["useCommonAlertSchema"] is True
    assert "webhookReceivers" not in notify.body["properties"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=1), "PT1H"),
        (timedelta(days=1), "P1D"),
        (timedelta(minutes=5), "PT5M"),
        (timedelta(days=1, hours=2, minutes=30), "P1DT2H30M"),
    ],
)
def test_iso_durations(value: timedelta, text: str) -> None:
    assert alert_rules_json.iso_duration(value) == text


@pytest.mark.parametrize("value", [timedelta(0), timedelta(seconds=90), timedelta(minutes=-5)])
def test_durations_azure_monitor_cannot_take_are_refused(value: timedelta) -> None:
    with pytest.raises(ValueError, match="whole minutes"):
        alert_rules_json.iso_duration(value)
