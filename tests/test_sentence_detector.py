"""SentenceDetector: rules, Spark NLP's params, quality on real web text."""

from __future__ import annotations

import pytest

from sparktext import DocumentAssembler, SchemaError, SentenceDetector
from sparktext.text.sentences import SentenceRules, sentence_spans, split_sentences


def sentences(text, **rules):
    return [text[b : e + 1] for b, e in sentence_spans(text, SentenceRules(**rules))]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Smith went to Washington. He arrived at 5 p.m. on Monday.",
         ["Mr. Smith went to Washington.", "He arrived at 5 p.m. on Monday."]),
        ("The price rose 3.5% in Jan. 2020. Analysts were surprised!",
         ["The price rose 3.5% in Jan. 2020.", "Analysts were surprised!"]),
        ("Bush nominated Jennifer M. Anderson for the post. She accepted.",
         ["Bush nominated Jennifer M. Anderson for the post.", "She accepted."]),
        ("Is it done? Yes! It is.", ["Is it done?", "Yes!", "It is."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("Visit www.example.com or mail a.b@c.org today. Thanks.",
         ["Visit www.example.com or mail a.b@c.org today.", "Thanks."]),
        ("It was in the U.S. The next day it left.", ["It was in the U.S.", "The next day it left."]),
        ("First paragraph with no period\n\nSecond one", ["First paragraph with no period", "Second one"]),
        ("Wait... What happened?", ["Wait...", "What happened?"]),
        ("See e.g. the appendix. Done.", ["See e.g. the appendix.", "Done."]),
    ],
)
def test_english_rules(text, expected):
    assert sentences(text) == expected


def test_lists_are_split_when_detect_lists():
    text = "Shopping:\n- milk\n- eggs\n1. call mom\n2. pay rent"
    assert sentences(text) == ["Shopping:", "- milk", "- eggs", "1. call mom", "2. pay rent"]
    assert sentences(text, detect_lists=False) == [text]


def test_abbreviations_can_be_ignored():
    assert sentences("Dr. Smith is here.", use_abbreviations=False) == ["Dr.", "Smith is here."]


@pytest.mark.parametrize(
    "strategy, expected",
    [("none", ["one", "two", "three"]), ("append", ["one;", "two;", "three"]), ("prepend", ["one", ";two", ";three"])],
)
def test_custom_bounds_strategies(strategy, expected):
    assert sentences("one;two;three", custom_bounds=(";",), custom_bounds_strategy=strategy) == expected


def test_custom_bounds_only_ignores_the_rules():
    text = "Dr. Who. Is here|and there"
    assert sentences(text, custom_bounds=(r"\|",), use_custom_bounds_only=True) == ["Dr. Who. Is here", "and there"]
    assert sentences(text, custom_bounds=(r"\|",)) == ["Dr. Who.", "Is here", "and there"]


def test_split_length_and_length_filters():
    text = "aaaa bbbb cccc dddd. Hi."
    assert sentences(text, split_length=10) == ["aaaa bbbb", "cccc dddd.", "Hi."]
    assert sentences(text, min_length=4) == ["aaaa bbbb cccc dddd."]
    # Longer than maxLength: cut at spaces, never dropped (Spark NLP drops it).
    assert sentences(text, max_length=10) == ["aaaa bbbb", "cccc dddd.", "Hi."]
    assert sentences("x" * 25, split_length=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_bad_params_are_refused_with_the_value():
    with pytest.raises(ValueError, match="customBoundsStrategy must be one of .* got 'middle'"):
        SentenceDetector().setCustomBoundsStrategy("middle")
    with pytest.raises(ValueError, match="splitLength must be >= 1, got 0"):
        SentenceDetector().setSplitLength(0)
    with pytest.raises(ValueError, match=r"customBounds pattern '\(' is not a valid regular expression"):
        SentenceRules(custom_bounds=("(",))


def test_sentence_f1_on_ewt_beats_pysbd(ewt_documents):
    """The quality bar: exact sentence spans against UD English-EWT dev gold."""
    import ewt
    import pysbd

    gold, ours, theirs = [], [], []
    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    for i, doc in enumerate(ewt_documents):
        gold += [(i, b, e) for b, e in doc.sentences]
        ours += [(i, b, e) for b, e in split_sentences(doc.text)]
        for span in segmenter.segment(doc.text):
            piece = doc.text[span.start : span.end]
            lead = len(piece) - len(piece.lstrip())
            theirs.append((i, span.start + lead, span.start + lead + len(piece.strip()) - 1))
    f1 = ewt.span_f1(ours, gold)[2]
    pysbd_f1 = ewt.span_f1(theirs, gold)[2]
    assert f1 >= 0.86, f"sentence F1 {f1:.3f} < 0.86"
    assert f1 > pysbd_f1 + 0.03, (f1, pysbd_f1)


def test_stage_output_matches_core_and_carries_metadata(spark, ewt_documents):
    docs = ewt_documents[:40]
    df = spark.createDataFrame([(d.doc_id, d.text) for d in docs], "id string, text string").repartition(3)
    assembled = DocumentAssembler(inputCol="text", idCol="id").transform(df)
    out = SentenceDetector().transform(assembled)
    assert out.schema["sentence"].metadata == {"annotatorType": "document"}
    rows = {row.id: row for row in out.collect()}
    for doc in docs:
        row = rows[doc.doc_id]
        expected = split_sentences(doc.text)
        assert [(s.begin, s.end) for s in row.sentence] == expected
        for index, s in enumerate(row.sentence):
            assert doc.text[s.begin : s.end + 1] == s.result
            assert s.metadata == {"id": doc.doc_id, "sentence": str(index)}


def test_sentence_numbering_runs_across_documents_of_a_row(spark):
    df = spark.createDataFrame([(["One. Two.", "Three."],)], "texts array<string>")
    out = SentenceDetector().transform(DocumentAssembler(inputCol="texts").transform(df)).first()
    assert [(s.result, s.metadata["sentence"]) for s in out.sentence] == [("One.", "0"), ("Two.", "1"), ("Three.", "2")]
    assert [s.begin for s in out.sentence] == [0, 5, 0]  # offsets index each sentence's own document


def test_explode_sentences_drops_rows_without_sentences_as_spark_nlp_or_keeps_them(spark):
    df = spark.createDataFrame([(1, "A b. C d."), (2, None), (3, "   ")], "n int, text string")
    documents = DocumentAssembler(inputCol="text").transform(df)
    out = SentenceDetector(explodeSentences=True).transform(documents)
    rows = sorted((r.n, [s.result for s in r.sentence]) for r in out.collect())
    assert rows == [(1, ["A b."]), (1, ["C d."])]  # Spark NLP's explode: no sentence, no row
    assert out.schema["sentence"].metadata == {"annotatorType": "document"}
    kept = SentenceDetector(explodeSentences=True).setKeepRowsWithoutSentences(True).transform(documents)
    rows = sorted((r.n, [s.result for s in r.sentence]) for r in kept.collect())
    assert rows == [(1, ["A b."]), (1, ["C d."]), (2, []), (3, [])]
    assert kept.schema["sentence"].metadata == {"annotatorType": "document"}


def test_wrong_input_column_type_fails_before_any_job(spark):
    df = spark.createDataFrame([("x",)], "text string")
    docs = DocumentAssembler(inputCol="text").transform(df)
    with pytest.raises(SchemaError, match=r"input column 'text' has type string, expected an annotator column of type 'document'"):
        SentenceDetector().setInputCols("text").transform(docs)
    with pytest.raises(SchemaError, match=r"input column 'sentence' is missing"):
        SentenceDetector().setInputCols("sentence").transform(docs)
    with pytest.raises(SchemaError, match=r"inputCols has 2 column\(s\)"):
        SentenceDetector().setInputCols("document", "document").transform(docs)
