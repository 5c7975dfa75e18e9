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
    pages = ("document_assembler", "sentence_detector", "tokenizer", "bert_embeddings", "sentence_embeddings",
             "finishers", "light_pipeline")
    for name in pages:
        assert (ROOT / "docs" / f"{name}.md").exists()
    import sparktext

    documented = " ".join((ROOT / "docs" / f"{name}.md").read_text() for name in pages)
    stages = [n for n in sparktext.__all__ if n[0].isupper() and n not in ("Annotation", "AnnotatorType") and not n.endswith("Error")]
    assert [n for n in stages if f"`{n}" not in documented and f"# {n}" not in documented] == []


def test_relative_links_resolve():
    link = re.compile(r"\]\(([^)#:]+\.md)\)")
    for page in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md", ROOT / "docker" / "README.md"]:
        for target in link.findall(page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
