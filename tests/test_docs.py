"""The how-to pages are runnable: every ```python block of a page runs, in order, in one
namespace (the pages use the offline tiny models, so nothing is downloaded)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parent.parent / "docs" / "howto"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text(encoding="utf-8"))


def _blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_howto_page_runs(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # anything a page writes lands here
    ns: dict = {"__name__": f"docs_{page.stem}"}
    for k, block in enumerate(_blocks(page)):
        try:
            exec(compile(block, f"{page.name}[block {k + 1}]", "exec"), ns)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page.name}, python block {k + 1} fails: {exc!r}") from exc
