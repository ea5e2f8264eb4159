"""Project docs cite only what a user of the repository has: files in it, never the team's notes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
NOT_IN_THE_REPO = re.compile(r"DESIGN\.md|\.\./shared|reference/[\w-]+\.md|segment-[\w-]+\.md")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_docs_never_cite_notes_outside_the_repository() -> None:
    cited = [
        f"{doc.relative_to(ROOT)}: {match.group(0)}"
        for doc in DOCS
        for match in NOT_IN_THE_REPO.finditer(doc.read_text())
    ]
    assert cited == []


def test_relative_links_point_at_files_of_the_repository() -> None:
    broken = [
        f"{doc.relative_to(ROOT)}: {target}"
        for doc in DOCS
        for target in LINK.findall(doc.read_text())
        if "://" not in target and not (doc.parent / target).exists()
    ]
    assert broken == []
