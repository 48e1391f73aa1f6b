"""Every relative link in README.md and docs/*.md resolves to an existing file, and its anchor to a heading there.

Anchors are GitHub's heading slugs (lower case, punctuation dropped, spaces as hyphens, ``-1``, ``-2`` … for
repeated headings). Links inside code blocks and code spans are not links and are skipped, as are URLs.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import PROJECT_ROOT

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def doc_files(root: Path = PROJECT_ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(files: list[Path]) -> list[str]:
    """One line per link that does not resolve: ``file:line: target (why)``."""
    problems = []
    for source in files:
        for number, line in prose_lines(source.read_text(encoding="utf-8")):
            for target in LINK.findall(CODE_SPAN.sub("", line)):
                if URL_SCHEME.match(target):
                    continue
                where = f"{source.name}:{number}: {target}"
                path_part, _, anchor = target.partition("#")
                path = (source.parent / path_part).resolve() if path_part else source
                if not path.exists():
                    problems.append(f"{where} (no such file)")
                elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                    problems.append(f"{where} (no heading with this anchor in {path.name})")
    return problems


def test_every_relative_link_in_the_docs_resolves() -> None:
    assert broken_links(doc_files()) == []


def test_the_docs_are_the_readme_and_the_pages_it_links() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    linked = {(PROJECT_ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(readme)}
    unlinked = [p.name for p in doc_files()[1:] if p.resolve() not in linked]
    assert unlinked == [], f"pages under docs/ that README.md does not link: {unlinked}"


def test_a_missing_file_or_anchor_is_reported_and_code_is_not_a_link(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## What `status` shows\n\n## Twice\n\n## Twice\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/page.md#what-status-shows) [ok](docs/page.md#twice-1) [ok](#top) [url](https://example.com/x)\n"
        "[gone](docs/missing.md) [bad anchor](docs/page.md#nowhere) `[code](docs/missing.md)`\n"
        "```\n[fenced](docs/missing.md)\n```\n# Top\n"
    )
    assert broken_links(doc_files(tmp_path)) == [
        "README.md:2: docs/missing.md (no such file)",
        "README.md:2: docs/page.md#nowhere (no heading with this anchor in page.md)",
    ]
