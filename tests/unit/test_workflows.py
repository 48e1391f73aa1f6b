"""The CI/CD workflows' shape (actionlint and zizmor, run by `make lint`, check their syntax and security): every
action pinned to a commit, OIDC with the least permissions, dev → staging → production, the ml-assets workflow on
what exists in ml_assets/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import PROJECT_ROOT

GITHUB = PROJECT_ROOT / ".github"


def load(relative: str) -> dict[Any, Any]:
    return yaml.safe_load((GITHUB / relative).read_text(encoding="utf-8"))


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def all_uses() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(GITHUB.rglob("*.yml")):
        for match in re.finditer(r"^\s*(?:-\s+)?uses:\s*(\S+)", path.read_text(encoding="utf-8"), re.MULTILINE):
            found.append((path, match.group(1)))
    return found


def test_every_action_is_pinned_to_a_commit_or_local() -> None:
    uses = all_uses()
    assert uses
    for path, ref in uses:
        assert ref.startswith("./") or re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref}"


def test_workflows_grant_nothing_by_default() -> None:
    for path in sorted((GITHUB / "workflows").glob("*.yml")):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["permissions"] == {}, path.name


def test_ci_runs_make_test_on_pull_requests_and_pushes() -> None:
    ci = load("workflows/ci.yml")
    assert {"pull_request", "push"} <= set(triggers(ci))
    steps = ci["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)
    assert (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8").rstrip().endswith("make test")


def test_deploy_goes_dev_then_staging_then_production_with_oidc() -> None:
    deploy = load("workflows/deploy.yml")
    assert triggers(deploy)["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert [jobs[name]["with"]["environment"] for name in ("dev", "staging", "production")] == [
        "dev",
        "staging",
        "production",
    ]
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["production"]["needs"] == "staging"
    reusable = load("workflows/azd-environment.yml")
    job = reusable["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    runs = [step.get("run", "") for step in job["steps"]]
    assert "azd provision --no-prompt" in runs
    assert "azd deploy --no-prompt" in runs
    assert "secrets." not in (GITHUB / "workflows" / "azd-environment.yml").read_text(encoding="utf-8")


def test_the_login_action_uses_oidc_without_a_secret() -> None:
    action = load("actions/azure-login/action.yml")
    login = action["runs"]["steps"][0]
    assert login["uses"].startswith("azure/login@")
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert "creds" not in login["with"] and "client-secret" not in str(action)


def test_ml_assets_registers_and_trains_in_staging_when_ml_assets_change() -> None:
    workflow = load("workflows/ml-assets.yml")
    assert "ml_assets/**" in triggers(workflow)["push"]["paths"]
    job = workflow["jobs"]["register-and-train"]
    assert job["environment"] == "staging"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    for command in ("az ml environment create", "az ml component create", "az ml data create", "az ml job create"):
        assert command in script
    for pattern in ("ml_assets/environments/*.yml", "ml_assets/components/*.yml"):
        assert pattern in script and list(PROJECT_ROOT.glob(pattern))
    assert "ml_assets/pipelines/train_model.yml" in script
    # What the loops register is what the files are: environments (not their conda specs) and components.
    assert "*.conda.yml) continue" in script
    for path in PROJECT_ROOT.glob("ml_assets/environments/*.yml"):
        schema = yaml.safe_load(path.read_text(encoding="utf-8")).get("$schema", "")
        assert path.name.endswith(".conda.yml") or schema.endswith("/environment.schema.json"), path.name
    for path in PROJECT_ROOT.glob("ml_assets/components/*.yml"):
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))["$schema"]
        assert schema.endswith("/commandComponent.schema.json"), path.name
    assert (PROJECT_ROOT / "ml_assets" / "pipelines" / "train_model.yml").exists()


def test_code_scanning_runs_on_a_schedule() -> None:
    codeql = load("workflows/codeql.yml")
    assert triggers(codeql)["schedule"]
    assert codeql["jobs"]["analyze"]["permissions"]["security-events"] == "write"


def test_a_deployment_from_github_gets_every_value_the_parameter_file_and_the_hook_read() -> None:
    """A runner has no .azure folder: a value not in the job's environment silently falls back to its default."""
    parameters = (PROJECT_ROOT / "infra" / "main.parameters.json").read_text(encoding="utf-8")
    read = set(re.findall(r"\$\{(\w+)", parameters))
    hook = (PROJECT_ROOT / "infra" / "hooks" / "postdeploy.sh").read_text(encoding="utf-8")
    read |= set(re.findall(r"\$\{(\w+):-\}", hook))  # optional values the hook takes from the environment
    hooks = "".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "infra" / "hooks").glob("*.sh"))
    read -= set(re.findall(r"azd env set (\w+)", hooks))  # what a hook works out itself
    assert "ALERT_EMAIL" in read
    (job,) = load("workflows/azd-environment.yml")["jobs"].values()
    env = job["env"]
    assert read <= set(env), f"not passed to azd: {sorted(read - set(env))}"
    for name in read:
        assert env[name] == f"${{{{ vars.{name} }}}}", name
