"""The layering of docs/design.md, checked on the import statements of every module, lazy ones included.

triggers → services → ports ← azure / local; the platform rules and the clock beside the ports; the contracts
under ml_assets/src/contracts standard library only; what runs on Azure ML never imports the app; nothing in
the app imports the demo, and `shared/local/` never leads back to the triggers (`shared.context` builds it).
A violation names the module, the line and the import.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

RULES = [
    # The logic: plain Python on the ports, never an SDK or an implementation of a port.
    ("shared/services", ("azure", "shared.azure", "shared.local", "shared.triggers", "shared.context", "demo")),
    ("shared/payloads", ("azure", "shared.azure", "shared.local", "shared.services", "shared.triggers", "demo")),
    # Implementations of the ports know the ports and the platform rules, not the logic that uses them.
    ("shared/azure", ("shared.services", "shared.triggers", "shared.local", "shared.context", "demo")),
    ("shared/local", ("shared.services", "shared.triggers", "shared.context", "azure.functions", "demo")),
    # Handlers reach the implementations through the context only.
    ("shared/triggers", ("shared.azure", "shared.local", "demo")),
    # The function app itself is deployed without the demo (.funcignore).
    ("shared", ("demo",)),
    # What runs on Azure ML compute is uploaded alone: it cannot import the app.
    ("ml_assets", ("shared", "demo", "tests")),
]


def imported_modules(source: str, package: str = "") -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import in ``source`` (inside functions too). A ``from`` import yields the
    module and each ``module.name`` (``from shared import triggers`` imports ``shared.triggers``); relative
    imports are resolved against ``package``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts[:-1])


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = set()
    for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
        for line, name in imported_modules(path.read_text(encoding="utf-8"), _package_of(path)):
            if _matches(name, forbidden):
                found.add(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {name}")
    return sorted(found)


@pytest.mark.parametrize(("folder", "forbidden"), RULES, ids=[folder for folder, _ in RULES])
def test_each_layer_imports_only_what_the_design_allows(folder: str, forbidden: tuple[str, ...]) -> None:
    assert violations(folder, forbidden) == []


def optional_import_lines(source: str) -> set[int]:
    """Lines of imports inside ``try:`` blocks that fall back on ImportError (an optional accelerator)."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            lines |= {
                n.lineno for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom)
            }
    return lines


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def test_contracts_import_only_the_standard_library_and_each_other() -> None:
    """The scoring container, the components and the app all import them: an optional accelerator with a
    standard-library fallback is the one exception."""
    outside = []
    for path in sorted((PROJECT_ROOT / "ml_assets" / "src" / "contracts").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        optional = optional_import_lines(source)
        for line, name in imported_modules(source, _package_of(path)):
            standard = name.split(".")[0] in sys.stdlib_module_names
            if not standard and line not in optional and not _matches(name, ("ml_assets.src.contracts",)):
                outside.append(f"{path.relative_to(PROJECT_ROOT)}:{line} imports {name}")
    assert outside == []


def test_an_optional_import_is_one_with_a_fallback() -> None:
    source = "try:\n    import orjson\nexcept ImportError:\n    orjson = None\nimport numpy\n"
    assert optional_import_lines(source) == {2}


def test_the_check_finds_top_level_lazy_from_and_relative_imports() -> None:
    source = (
        "import azure.functions as func\n"
        "from shared import triggers\n"
        "def f():\n"
        "    from demo.scenario import run_demo\n"
        "    import shared.triggers.rollout\n"
        "    from ..azure import storage\n"
        "import demography, shared.local.jobs\n"
    )
    found = {name for _, name in imported_modules(source, "shared.services")}
    forbidden = ("shared.triggers", "azure.functions", "demo", "shared.azure")
    assert sorted(n for n in found if _matches(n, forbidden)) == [
        "azure.functions",
        "demo.scenario",
        "demo.scenario.run_demo",
        "shared.azure",
        "shared.azure.storage",
        "shared.triggers",
        "shared.triggers.rollout",
    ]
