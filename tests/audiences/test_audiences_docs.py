"""The definitions shown in docs/audiences.md compile, as audiences or as computed traits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gleap_actions.audiences import compile_definition

DOC = Path(__file__).resolve().parents[2] / "docs" / "audiences.md"


def examples() -> list[tuple[str, str]]:
    block = re.search(r"## Examples\n\n```text\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    found: list[tuple[str, str]] = []
    kind = "audience"
    for line in block.group(1).splitlines():
        text = re.sub(r"\s+#.*$", "", line).strip()
        if not text:
            kind = "computed_trait"  # the blank line separates audiences from computed traits
        elif text.startswith(".") and found:
            found[-1] = (found[-1][0], found[-1][1] + text)
        else:
            found.append((kind, text))
    return found


@pytest.mark.parametrize(("kind", "text"), examples())
def test_documented_examples_compile(kind: str, text: str) -> None:
    assert compile_definition(text, kind=kind).kind == kind  # type: ignore[arg-type]
