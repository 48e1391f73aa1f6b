"""Every Bicep file parses without an error node (tree-sitter-bicep: no Bicep compiler can run here), and the
check fails on a real syntax error."""

from __future__ import annotations

import pytest

from tests.bicep_tree import INFRA, bicep_files, read_source, syntax_errors

FILES = bicep_files()


def test_the_infra_folder_has_the_templates() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in FILES}
    assert {"main.bicep", "postdeploy.bicep", "modules/function-app.bicep", "modules/roles.bicep"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(INFRA).as_posix() for p in FILES])
def test_bicep_file_parses_without_errors(path) -> None:
    assert syntax_errors(path.read_bytes()) == []


BROKEN = {
    "unclosed object": b"resource sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {\n  name: 'x'\n",
    "missing value": b"param location string =\nvar x = 1\n",
    "stray operator": b"var x = 1 +\noutput o int = x\n",
    "unterminated string": b"var x = 'abc\nvar y = 2\n",
    "keyword typo": b"resourc sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {\n  name: 'x'\n}\n",
}


@pytest.mark.parametrize("snippet", BROKEN.values(), ids=BROKEN.keys())
def test_a_syntax_error_is_reported_with_its_position(snippet: bytes) -> None:
    errors = syntax_errors(snippet)
    assert errors, "the parser accepted broken Bicep"
    assert all(":" in e for e in errors)


def test_the_reader_keeps_literals_and_expressions_apart(tmp_path) -> None:
    source = b"""
param name string = 'x'
@description('d')
param count int = 3
var flags = {
  // why the flag is set
  allowSharedKeyAccess: false
  list: [1, 'a', null]
  ref: other.id
  text: 'a-${name}'
}
resource sa 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  resource blobs 'blobServices' existing = {
    name: 'default'
  }
}
"""
    bicep = read_source(source, tmp_path / "x.bicep")
    assert bicep.errors == []
    assert bicep.params == {"name": "x", "count": 3}
    flags = bicep.variables["flags"]
    assert flags["allowSharedKeyAccess"] is False
    assert flags["list"] == [1, "a", None]
    assert flags["ref"].text == "other.id"
    assert flags["text"].text == "'a-${name}'"
    assert bicep.variable_comments["flags"]["allowSharedKeyAccess"] == "why the flag is set"
    nested = bicep.resource("sa::blobs")
    assert (nested.type, nested.api_version, nested.existing) == (
        "Microsoft.Storage/storageAccounts/blobServices",
        "2024-01-01",
        True,
    )
