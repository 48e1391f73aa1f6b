"""azd's side of the deployment: azure.yaml, the parameters file and the postdeploy hook."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from tests.bicep_tree import INFRA, read
from tests.conftest import PROJECT_ROOT

HOOK = INFRA / "hooks" / "postdeploy.sh"


def test_azure_yaml_deploys_the_function_app_and_runs_the_postdeploy_hook() -> None:
    project = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert project["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert project["services"]["app"] == {"project": ".", "language": "python", "host": "function"}
    hook = project["hooks"]["postdeploy"]["posix"]
    assert hook["shell"] == "sh"
    assert (PROJECT_ROOT / hook["run"]) == HOOK and HOOK.exists()
    # azd finds the site by its tag, which names the service.
    (site,) = read("modules/function-app.bicep").resources_of("Microsoft.Web/sites")
    assert "'azd-service-name': 'app'" in site.body["tags"].text


def test_the_parameters_file_names_main_bicep_parameters_and_every_required_one() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = read("main.bicep").params
    assert set(parameters) <= set(declared)
    assert {name for name, default in declared.items() if default is None} <= set(parameters)
    for name, entry in parameters.items():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", entry["value"]), f"{name}: from the azd environment"


def test_the_package_leaves_out_what_is_not_the_app() -> None:
    ignored = set((PROJECT_ROOT / ".funcignore").read_text(encoding="utf-8").split())
    assert {"infra", ".github", "azure.yaml", "tests", "demo", "docs"} <= ignored


def test_the_hook_stops_with_a_clear_error_before_calling_azure_without_the_environment(tmp_path) -> None:
    # An empty PATH for the hook itself: reaching `az` would fail differently, so a pass proves it stopped first.
    done = subprocess.run(
        ["/bin/sh", str(HOOK)],
        env={"PATH": str(tmp_path), "AZURE_ENV_NAME": "dev"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "postdeploy: AZURE_RESOURCE_GROUP is not set (run azd provision first)" in done.stderr
