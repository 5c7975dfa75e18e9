"""Exact offsets everywhere: every sentence and token slices its document to its result.

Property-based over arbitrary Unicode (no lone surrogates: Spark strings are UTF-8), with the
pieces that break naive code mixed in: emoji with joiners, CJK without spaces, combining
accents, right-to-left text, control and NUL characters, every newline convention.
"""

from __future__ import annotations

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.ml import Pipeline

from sparktext import DocumentAssembler, SentenceDetector, Tokenizer
from sparktext.text.sentences import SentenceRules, sentence_spans
from sparktext.text.tokenizer import tokenize

TRICKY_PIECES = [
    "👩‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "漢字かな交じり文。", "e\u0301", "שלום עולם.", "مرحبا بالعالم؟", "\u200f",
    "\x00", "\x07", "\r\n", "\r", "\n\n", "\u2028", "\t", " ", ".", "Dr.", "e.g.", "...", "!?", "(", ")", '"',
    "U.S.", "A.", "-", "• ", "1. ", "\u00a0", "\ufeff",
]
texts = st.lists(
    st.one_of(
        st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
        st.sampled_from(TRICKY_PIECES),
        st.text(alphabet="aZ .!?\n", max_size=12),
    ),
    max_size=30,
).map("".join)


# The tokenizer's targetPattern \S+ follows the regex engine's Unicode whitespace, which
# differs from str.isspace on a few control characters (U+001C..U+001F are "space" to Python).
REGEX_SPACE = regex.compile(r"\s+")


def assert_exact(text, spans):
    """In range, in order, never overlapping, never empty."""
    previous_end = -1
    for begin, end in spans:
        assert 0 <= begin <= end < len(text), (begin, end, len(text))
        assert begin > previous_end, "spans overlap or go backwards"
        previous_end = end


@settings(max_examples=400, deadline=None)
@given(texts)
def test_sentence_spans_are_exact_and_lose_no_text(text):
    spans = sentence_spans(text)
    assert_exact(text, spans)
    assert all(text[b] == text[b : e + 1].strip()[:1] for b, e in spans), "sentence starts with a space"
    covered = "".join(text[b : e + 1] for b, e in spans)
    # Every non-space character lands in exactly one sentence, in order.
    assert "".join(covered.split()) == "".join(text.split())


@settings(max_examples=400, deadline=None)
@given(texts)
def test_token_spans_are_exact_and_lose_no_text(text):
    spans = tokenize(text)
    assert_exact(text, spans)
    assert "".join(text[b : e + 1] for b, e in spans) == REGEX_SPACE.sub("", text)


@settings(max_examples=150, deadline=None)
@given(texts, st.integers(1, 30))
def test_split_length_never_loses_text(text, split_length):
    spans = sentence_spans(text, SentenceRules(split_length=split_length))
    assert all(e - b + 1 <= split_length for b, e in spans)
    assert "".join("".join(text[b : e + 1] for b, e in spans).split()) == "".join(text.split())


@pytest.fixture(scope="module")
def rule_pipeline():
    return Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"])])


def check_rows(rows):
    for row in rows:
        text = row.text or ""
        for annotation in list(row.sentence) + list(row.token):
            assert text[annotation.begin : annotation.end + 1] == annotation.result


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(texts, min_size=1, max_size=20))
def test_spark_pipeline_offsets_are_exact(spark, rule_pipeline, batch):
    df = spark.createDataFrame([(t,) for t in batch], "text string")
    rows = rule_pipeline.fit(df).transform(df).collect()
    assert len(rows) == len(batch)
    check_rows(rows)


@pytest.mark.slow
def test_ten_megabyte_document(spark, rule_pipeline, ewt_documents):
    from sparktext.columnar import read_annotations

    corpus = "\n\n".join(d.text for d in ewt_documents)
    big = (corpus + " 👩‍👩‍👧 漢字 \r\n") * (10_000_000 // len(corpus) + 1)
    df = spark.createDataFrame([(big,), ("small one. two.",)], "text string")
    # Arrow, not Row objects: two million token structs would take minutes to collect as Rows.
    table = rule_pipeline.fit(df).transform(df).select("text", "sentence", "token").toArrow()
    assert table.num_rows == 2
    texts = table.column("text").to_pylist()
    assert len(texts[0]) >= 10_000_000
    for name, minimum in [("sentence", 10_000), ("token", 1_000_000)]:
        batch = read_annotations(table.column(name))
        assert (batch.rows == 0).sum() > minimum
        for row, begin, end, result in zip(batch.rows, batch.begins, batch.ends, batch.results):
            assert texts[row][begin : end + 1] == result
