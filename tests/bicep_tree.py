"""A small reader over tree-sitter-bicep's parse trees: what the infra tests assert on.

It keeps what a Bicep file declares (parameters, variables, imports, resources with their nested children,
modules, outputs) and turns each literal (object, array, string, number, bool, null) into the Python value;
anything else stays an :class:`Expr` with its source text, so a test compares expressions as written. It does
not evaluate Bicep: a test that needs a value follows the expressions itself (a module parameter to the
expression main.bicep passes, an output to what it returns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parents[1] / "infra"


@dataclass(frozen=True)
class Expr:
    """A Bicep expression that is not a literal, as written (whitespace collapsed)."""

    text: str


@dataclass
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: dict[str, Any]
    comment: str  # the comment lines right above the declaration
    loop: str | None = None  # the `for` header, when the declaration is a loop
    condition: str | None = None  # the `if` condition, when it is conditional
    parent: Resource | None = None

    @property
    def path(self) -> str:
        """The symbol as other declarations reference it (``account::blobs::container`` when nested)."""
        return f"{self.parent.path}::{self.symbol}" if self.parent else self.symbol


@dataclass
class Module:
    symbol: str
    source: str
    body: dict[str, Any]
    condition: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return self.body.get("params", {})


@dataclass
class BicepFile:
    path: Path
    errors: list[str]
    params: dict[str, Any] = field(default_factory=dict)  # name -> default (None when it has none)
    variables: dict[str, Any] = field(default_factory=dict)
    variable_comments: dict[str, dict[str, str]] = field(default_factory=dict)  # var -> property -> comment above
    imports: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def resources_of(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type.lower() == type_.lower()]

    def resource(self, path: str) -> Resource:
        for r in self.resources:
            if r.path == path:
                return r
        raise KeyError(f"{self.path.name}: no resource {path}")

    def module(self, symbol: str) -> Module:
        for m in self.modules:
            if m.symbol == symbol:
                return m
        raise KeyError(f"{self.path.name}: no module {symbol}")


def parser() -> Any:
    import tree_sitter
    import tree_sitter_bicep

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def syntax_errors(source: bytes) -> list[str]:
    """Every ERROR or MISSING node of the parse, as ``line:column: text``."""
    tree = parser().parse(source)
    found: list[str] = []

    def walk(node: Any) -> None:
        if node.is_error or node.is_missing:
            line, column = node.start_point
            snippet = node.text.decode(errors="replace")[:60].replace("\n", " ")
            found.append(f"{line + 1}:{column + 1}: {'missing ' if node.is_missing else ''}{node.type} {snippet!r}")
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return found


def _text(node: Any) -> str:
    return " ".join(node.text.decode().split())


def _named(node: Any) -> list[Any]:
    return [c for c in node.named_children if c.type != "comment"]


def _string(node: Any) -> str | Expr:
    if any(c.type == "interpolation" for c in node.named_children):
        return Expr(_text(node))
    text = node.text.decode()
    if text.startswith("'''"):
        return text[3:-3]
    return "".join(c.text.decode() for c in node.named_children if c.type in {"string_content", "escape_sequence"})


def _key(node: Any) -> str:
    return _string(node) if node.type == "string" else node.text.decode()  # type: ignore[return-value]


def value(node: Any) -> Any:
    """A literal as its Python value; anything else as an :class:`Expr`."""
    kind = node.type
    if kind == "object":
        out: dict[str, Any] = {}
        for prop in _named(node):
            if prop.type != "object_property":
                continue
            parts = _named(prop)
            if parts and parts[0].type == "resource_declaration":
                continue  # a nested resource: collected by the reader, not a property
            out[_key(parts[0])] = value(parts[1])
        return out
    if kind == "array":
        return [value(c) for c in _named(node)]
    if kind == "string":
        return _string(node)
    if kind == "number":
        return int(node.text)
    if kind == "boolean":
        return node.text == b"true"
    if kind == "null":
        return None
    return Expr(_text(node))


def _comment_above(node: Any) -> str:
    lines: list[str] = []
    sibling = node.prev_sibling
    while sibling is not None and sibling.type in {"comment", "decorators"}:
        if sibling.type == "comment":
            lines.insert(0, sibling.text.decode().lstrip("/ ").rstrip())
        sibling = sibling.prev_sibling
    return " ".join(lines)


def _property_comments(node: Any) -> dict[str, str]:
    comments: dict[str, str] = {}
    for prop in _named(node):
        if prop.type == "object_property":
            comments[_key(_named(prop)[0])] = _comment_above(prop)
    return comments


def _resource(node: Any, parent: Resource | None, into: list[Resource]) -> None:
    children = _named(node)
    symbol = children[0].text.decode()
    declared = _string(children[1])
    assert isinstance(declared, str), f"resource {symbol}: the type is an expression"
    type_, _, version = declared.partition("@")
    if parent is not None and not version:  # a nested child declared by its short type: `'functions' existing`
        type_ = f"{parent.type}/{type_}"
        version = parent.api_version
    existing = any(c.type == "existing" for c in node.children)
    body_node = children[-1]
    loop = condition = None
    if body_node.type == "for_statement":
        loop = _text(body_node).split(":", 1)[0]
        body_node = body_node.child_by_field_name("body") or _named(body_node)[-1]
    elif body_node.type == "if_statement":
        condition = _text(_named(body_node)[0])
        body_node = _named(body_node)[-1]
    resource = Resource(
        symbol, type_, version, existing, value(body_node), _comment_above(node), loop, condition, parent
    )
    into.append(resource)
    for prop in _named(body_node):
        parts = _named(prop) if prop.type == "object_property" else []
        if parts and parts[0].type == "resource_declaration":
            _resource(parts[0], resource, into)


def read_source(source: bytes, path: Path) -> BicepFile:
    root = parser().parse(source).root_node
    bicep = BicepFile(path=path, errors=syntax_errors(source))
    for node in _named(root):
        children = _named(node)
        if node.type == "parameter_declaration":
            rest = [c for c in children[1:] if c.type != "type"]
            bicep.params[children[0].text.decode()] = value(rest[0]) if rest else None
        elif node.type == "variable_declaration":
            name = children[0].text.decode()
            bicep.variables[name] = value(children[-1])
            if children[-1].type == "object":
                bicep.variable_comments[name] = _property_comments(children[-1])
        elif node.type == "import_functionality":
            names = tuple(c.text.decode() for c in children if c.type == "identifier")
            bicep.imports.append((names, _key(children[-1])))
        elif node.type == "resource_declaration":
            _resource(node, None, bicep.resources)
        elif node.type == "module_declaration":
            source_text = _string(children[1])
            body = children[-1]
            condition = None
            if body.type == "if_statement":
                condition = _text(_named(body)[0])
                body = _named(body)[-1]
            bicep.modules.append(Module(children[0].text.decode(), str(source_text), value(body), condition))
        elif node.type == "output_declaration":
            bicep.outputs[children[0].text.decode()] = value(children[-1])
    return bicep


@cache
def read(relative: str) -> BicepFile:
    """``infra/<relative>`` read once per test session."""
    path = INFRA / relative
    return read_source(path.read_bytes(), path)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


_DECLARATIONS = {
    "parameter_declaration",
    "variable_declaration",
    "resource_declaration",
    "module_declaration",
    "output_declaration",
}


def _role(node: Any) -> str:
    """What an identifier is where it stands: ``declares``, ``names`` (a key or a called function) or ``uses``."""
    parent = node.parent
    if parent is None:
        return "uses"
    first = parent.named_children[0] if parent.named_children else None
    declares = (
        (parent.type in _DECLARATIONS and first == node)
        or parent.type in {"import_functionality", "lambda_expression"}
        or (parent.type == "for_statement" and parent.child_by_field_name("initializer") == node)
    )
    if declares:
        return "declares"
    names = (parent.type == "object_property" and first == node) or (
        parent.type == "call_expression" and parent.child_by_field_name("function") == node
    )
    return "names" if names else "uses"


def referenced_names(source: bytes) -> tuple[set[str], dict[str, int]]:
    """(names a file declares, names it uses → first line): every identifier that is not a declaration's name, an
    object key, a called function's name or a member's property (scopes are not told apart: a loop or lambda
    variable counts as declared in the whole file)."""
    declared: set[str] = set()
    used: dict[str, int] = {}

    def walk(node: Any) -> None:
        if node.type == "identifier":
            role = _role(node)
            if role == "declares":
                declared.add(node.text.decode())
            elif role == "uses":
                used.setdefault(node.text.decode(), node.start_point[0] + 1)
        for child in node.children:
            walk(child)

    walk(parser().parse(source).root_node)
    return declared, used
