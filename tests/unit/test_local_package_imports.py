"""`shared/local/` holds the local implementations of the ports only: none of its modules imports the Function
triggers, `azure.functions` or the demo, even lazily inside a function (so `shared.context` → `shared.local` never
leads back to the triggers, and the Function App package does not need `demo/`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

FORBIDDEN = ("shared.triggers", "azure.functions", "demo")
LOCAL = PROJECT_ROOT / "shared" / "local"


def forbidden_imports(source: str) -> list[str]:
    """The modules ``source`` imports anywhere (top level or inside functions) that are, or are under, FORBIDDEN."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]
    return sorted(set(found))


@pytest.mark.parametrize("path", sorted(LOCAL.rglob("*.py")), ids=lambda p: str(p.relative_to(LOCAL)))
def test_no_local_module_imports_the_triggers_azure_functions_or_the_demo(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_top_level_lazy_and_from_imports() -> None:
    source = (
        "import azure.functions as func\n"
        "from shared import triggers\n"
        "def f():\n"
        "    from demo.scenario import run_demo\n"
        "    import shared.triggers.rollout\n"
        "import demography, shared.local.jobs\n"
    )
    assert forbidden_imports(source) == [
        "azure.functions",
        "demo.scenario",
        "demo.scenario.run_demo",
        "shared.triggers",
        "shared.triggers.rollout",
    ]
