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


PREPROVISION = INFRA / "hooks" / "preprovision.sh"


def test_azure_yaml_runs_the_preprovision_hook_that_feeds_the_endpoint_guard() -> None:
    project = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text(encoding="utf-8"))
    hook = project["hooks"]["preprovision"]["posix"]
    assert hook["shell"] == "sh" and hook["continueOnError"] is False
    assert (PROJECT_ROOT / hook["run"]) == PREPROVISION and PREPROVISION.exists()
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["endpointExists"]["value"] == "${ENDPOINT_EXISTS=false}"
    assert read("main.bicep").params["endpointExists"] is False


def _run_preprovision(tmp_path, az_script: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, str]:
    """The hook with stand-ins for `az` (``az_script``) and `azd` (records its arguments) on an otherwise empty PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorded = tmp_path / "azd-args"
    for name, body in (("az", az_script), ("azd", f'printf "%s\\n" "$*" >> "{recorded}"\n')):
        stub = bin_dir / name
        stub.write_text("#!/bin/sh\n" + body, encoding="utf-8")
        stub.chmod(0o755)
    done = subprocess.run(
        ["/bin/sh", str(PREPROVISION)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done, recorded.read_text(encoding="utf-8") if recorded.exists() else ""


ENV = {"AZURE_ENV_NAME": "dev", "AZURE_RESOURCE_GROUP": "rg-dev"}


def test_the_preprovision_hook_finds_the_environment_s_endpoint(tmp_path) -> None:
    # The stand-in answers 1 only to the query the hook must make: this environment's endpoints in its group.
    query = "resource list --resource-group rg-dev --resource-type "
    query += "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
    az = f"""case "$*" in
  "{query}"*"tags.\\"azd-env-name\\"=='dev'"*) echo 1 ;;
  *) echo 0 ;;
esac
"""
    done, azd = _run_preprovision(tmp_path, az, ENV)
    assert done.returncode == 0, done.stderr
    assert azd == "env set ENDPOINT_EXISTS true\n"
    assert "ENDPOINT_EXISTS=true" in done.stdout


def test_the_preprovision_hook_counts_what_it_cannot_tell_as_a_first_provision(tmp_path) -> None:
    cases = [
        ("echo 0\n", ENV),  # no endpoint of this environment
        ('echo "ERROR: resource group not found" >&2; exit 3\n', ENV),  # not there yet, or not signed in
        ("echo '[]'\n", ENV),  # an answer that is not a count
        ("exit 99\n", {"AZURE_ENV_NAME": "dev"}),  # no resource group chosen yet: az is not asked
    ]
    for number, (az, env) in enumerate(cases):
        folder = tmp_path / str(number)
        folder.mkdir()
        done, azd = _run_preprovision(folder, az, env)
        assert done.returncode == 0, (number, done.stderr)
        assert azd == "env set ENDPOINT_EXISTS false\n", number
