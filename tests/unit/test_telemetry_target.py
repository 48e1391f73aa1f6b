"""Where a monitoring job sends its metrics: the resource ID both the app's setting and the jobs' argument read
with the one contract, and what each does with a value that is not one."""

from __future__ import annotations

import pytest

from ml_assets.src.contracts.telemetry_target import TELEMETRY_RESOURCE_INPUT, parse_resource_id
from ml_assets.src.drift.arguments import parse_args as drift_args
from ml_assets.src.performance.component import parse_args as performance_args
from shared.settings import Settings, SettingsError

ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-app.1"
    "/providers/Microsoft.Insights/components/appi-x"
)
NOT_IDS = [
    "appi-x",
    "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Insights/components/a",  # not a subscription GUID
    ID.replace("Microsoft.Insights/components", "Microsoft.Web/sites"),
    ID + "/extra",
    ID.replace("appi-x", "appi x"),
    "https://management.azure.com" + ID,
]


def test_unset_values_and_a_resource_id() -> None:
    for unset in (None, "", "  ", "none", "None"):
        assert parse_resource_id(unset) is None
    assert parse_resource_id(f"  {ID} ") == ID
    assert parse_resource_id(ID.lower()) == ID.lower()  # resource IDs are case-insensitive


@pytest.mark.parametrize("text", NOT_IDS)
def test_anything_else_is_refused_naming_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="not an Application Insights resource ID"):
        parse_resource_id(text)


def test_the_app_setting_reads_it_with_the_contract() -> None:
    assert Settings({"JOB_TELEMETRY_RESOURCE_ID": ID}).job_telemetry_resource_id == ID
    assert Settings({}).job_telemetry_resource_id is None
    with pytest.raises(SettingsError, match="JOB_TELEMETRY_RESOURCE_ID"):
        _ = Settings({"JOB_TELEMETRY_RESOURCE_ID": NOT_IDS[2]}).job_telemetry_resource_id


DRIFT = ["--reference_data", "r", "--target_data", "t", "--model_name", "m", "--model_version", "1"]
DRIFT += ["--report", "o", "--metrics", "o"]
PERFORMANCE = ["--predictions", "p", "--labels", "l", "--model_name", "m", "--model_version", "1", "--metrics", "o"]


@pytest.mark.parametrize("parse, argv", [(drift_args, DRIFT), (performance_args, PERFORMANCE)])
def test_the_components_take_it_as_an_argument(parse, argv, capsys: pytest.CaptureFixture[str]) -> None:
    flag = f"--{TELEMETRY_RESOURCE_INPUT}"
    assert parse(argv).telemetry_resource is None
    assert parse([*argv, flag, "none"]).telemetry_resource is None
    assert parse([*argv, flag, ID]).telemetry_resource == ID
    with pytest.raises(SystemExit) as exit_:
        parse([*argv, flag, NOT_IDS[0]])
    assert exit_.value.code == 2
    assert "not an Application Insights resource ID" in capsys.readouterr().err
