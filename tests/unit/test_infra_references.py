"""What a Bicep compiler would refuse first, checked on the parse trees: a module that does not exist, a module
parameter that is not declared or not passed, a module output or a symbol that is not declared, an import of a
variable the imported file does not export."""

from __future__ import annotations

import re

import pytest

from tests.bicep_tree import INFRA, bicep_files, read, read_source, referenced_names

TOP_LEVEL = ["main.bicep", "postdeploy.bicep"]
ALL = [p.relative_to(INFRA).as_posix() for p in bicep_files()]


def test_every_module_is_deployed_by_main() -> None:
    deployed = {m.source for m in read("main.bicep").modules}
    modules = {name for name in ALL if name.startswith("modules/") and name != "modules/roles.bicep"}
    assert deployed == modules


@pytest.mark.parametrize("call", read("main.bicep").modules, ids=lambda m: m.symbol)
def test_module_parameters_are_declared_and_the_required_ones_passed(call) -> None:
    module = read(call.source)
    passed = set(call.params)
    declared = set(module.params)
    assert passed <= declared, f"{call.symbol}: not parameters of {call.source}: {passed - declared}"
    required = {name for name, default in module.params.items() if default is None}
    assert required <= passed, f"{call.symbol}: required parameters not passed: {required - passed}"


@pytest.mark.parametrize("relative", ALL)
def test_module_outputs_used_are_declared(relative: str) -> None:
    bicep = read(relative)
    text = (INFRA / relative).read_text(encoding="utf-8")
    modules = {m.symbol: m for m in bicep.modules}
    for symbol, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", text):
        assert symbol in modules, f"{relative}: {symbol} is not a module"
        assert output in read(modules[symbol].source).outputs, f"{relative}: {symbol} has no output {output}"


@pytest.mark.parametrize("relative", ALL)
def test_imports_name_exported_variables(relative: str) -> None:
    for names, source in read(relative).imports:
        imported_path = (INFRA / relative).parent / source
        imported = read(imported_path.relative_to(INFRA).as_posix())
        text = imported_path.read_text(encoding="utf-8")
        for name in names:
            assert name in imported.variables, f"{relative}: {source} declares no {name}"
            assert re.search(rf"@export\(\)\s*\nvar {name}\b", text), f"{relative}: {source} does not export {name}"


@pytest.mark.parametrize("relative", ALL)
def test_symbols_referenced_as_resources_are_declared(relative: str) -> None:
    bicep = read(relative)
    declared = {r.path for r in bicep.resources} | {m.symbol for m in bicep.modules}
    text = (INFRA / relative).read_text(encoding="utf-8")
    for symbol in re.findall(r"\b(\w+(?:::\w+)+)\b", text):
        assert symbol in declared, f"{relative}: {symbol} is not declared"
    for resource in bicep.resources:
        scope = resource.body.get("scope")
        if scope is not None:
            assert scope.text in declared, f"{relative}: {resource.symbol}'s scope {scope.text} is not declared"
        parent = resource.body.get("parent")
        if parent is not None:
            assert parent.text in declared, f"{relative}: {resource.symbol}'s parent {parent.text} is not declared"


@pytest.mark.parametrize("relative", ALL)
def test_every_name_used_is_declared(relative: str) -> None:
    declared, referenced = referenced_names((INFRA / relative).read_bytes())
    undeclared = {name: line for name, line in referenced.items() if name not in declared}
    assert not undeclared, f"{relative}: undeclared names (line): {undeclared}"


def test_an_undeclared_name_is_found(tmp_path) -> None:
    source = (
        b"param location string\nvar tags = {}\n"
        b"resource x 'A.B/c@2024-01-01' = {\n  name: nmae\n  location: location\n  tags: tags\n}\n"
    )
    assert read_source(source, tmp_path / "x.bicep").errors == []
    declared, referenced = referenced_names(source)
    assert {name for name in referenced if name not in declared} == {"nmae"}
