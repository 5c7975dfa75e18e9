"""Read the UD English-EWT file into documents with gold sentence and token spans.

The raw text of each document is rebuilt the way the benchmarks and tests score against it:
paragraphs (``# newpar``) joined by a blank line, sentences inside a paragraph joined by one
space, tokens spaced as their ``SpaceAfter=No`` marks say (the ``# text`` line already is).
Offsets are Python ``str`` indices with ``end`` inclusive, like sparktext's annotations.
"""

from __future__ import annotations

import dataclasses
import gzip
import pathlib
from typing import Iterator

# Carried in the repository (see data/README.md for its licence), so a clone needs nothing beside it.
DEFAULT_PATH = pathlib.Path(__file__).resolve().parent / "data" / "en_ewt-ud-dev.conllu.gz"

Span = tuple[int, int]


@dataclasses.dataclass
class GoldDocument:
    doc_id: str
    text: str
    sentences: list[Span]
    tokens: list[Span]


@dataclasses.dataclass
class _Sentence:
    text: str
    forms: list[str]
    new_paragraph: bool


def _read_sentences(path: pathlib.Path) -> Iterator[tuple[str | None, _Sentence]]:
    """Yield (new document id or None, sentence) in file order."""
    doc_id: str | None = None
    new_par = False
    text: str | None = None
    forms: list[str] = []
    skip_until = 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("# newdoc"):
                doc_id = line.split("=", 1)[1].strip() if "=" in line else "doc"
                new_par = True
            elif line.startswith("# newpar"):
                new_par = True
            elif line.startswith("# text = "):
                text = line[len("# text = "):]
            elif line.startswith("#"):
                continue
            elif not line:
                if text is not None:
                    yield doc_id, _Sentence(text, forms, new_par)
                    doc_id, new_par, text, forms, skip_until = None, False, None, [], 0
            else:
                cols = line.split("\t")
                token_id = cols[0]
                if "." in token_id:  # empty node: no surface form
                    continue
                if "-" in token_id:  # multiword token: its surface form stands for its words
                    first, last = token_id.split("-")
                    skip_until = int(last)
                    forms.append(cols[1])
                    continue
                if int(token_id) <= skip_until:
                    continue
                forms.append(cols[1])
    if text is not None:
        yield doc_id, _Sentence(text, forms, new_par)


def load_documents(path: str | pathlib.Path = DEFAULT_PATH) -> list[GoldDocument]:
    """Rebuild every document of a CoNLL-U file with its gold sentence and token spans."""
    documents: list[GoldDocument] = []
    parts: list[str] = []
    current: GoldDocument | None = None

    def finish() -> None:
        if current is not None:
            current.text = "".join(parts)

    for doc_id, sentence in _read_sentences(pathlib.Path(path)):
        if doc_id is not None:
            finish()
            current = GoldDocument(doc_id, "", [], [])
            documents.append(current)
            parts = []
        assert current is not None, "the file must start with a # newdoc line"
        offset = sum(len(p) for p in parts)
        if offset:
            separator = "\n\n" if sentence.new_paragraph else " "
            parts.append(separator)
            offset += len(separator)
        parts.append(sentence.text)
        current.sentences.append((offset, offset + len(sentence.text) - 1))
        cursor = 0
        for form in sentence.forms:
            start = sentence.text.find(form, cursor)
            if start < 0:  # a form that differs from the raw text (rare typo fixes): skip it
                continue
            current.tokens.append((offset + start, offset + start + len(form) - 1))
            cursor = start + len(form)
    finish()
    return documents


def span_f1(predicted: list[Span], gold: list[Span]) -> tuple[float, float, float]:
    """Precision, recall and F1 of exact span matches."""
    predicted_set, gold_set = set(predicted), set(gold)
    hits = len(predicted_set & gold_set)
    precision = hits / len(predicted_set) if predicted_set else 0.0
    recall = hits / len(gold_set) if gold_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
