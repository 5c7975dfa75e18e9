"""The docs' Python examples run as written: docs that do not match the code fail here."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
PAGES = sorted(p for p in (ROOT / "docs").glob("*.md") if BLOCK.search(p.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_blocks_run(spark, page):
    for block in BLOCK.findall(page.read_text()):
        exec(compile(block, str(page), "exec"), {})


def test_every_stage_has_a_page():
    for name in ("document_assembler", "sentence_detector", "tokenizer", "bert_embeddings"):
        assert (ROOT / "docs" / f"{name}.md").exists()
