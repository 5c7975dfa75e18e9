"""Tokenizer: Spark NLP's documented output, every param, and a fit() that returns a model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.ml import Pipeline

from sparktext import DocumentAssembler, PatternError, SchemaError, SentenceDetector, Tokenizer, TokenizerModel
from sparktext.text.tokenizer import DEFAULT_CONTEXT_CHARS, RuleTokenizer, TokenizerRules, tokenize


def words(text, **rules):
    return [text[b : e + 1] for b, e in tokenize(text, TokenizerRules(**rules))]


def test_spark_nlp_documented_example():
    text = "I'd like to say we didn't expect that. Jane's boyfriend."
    assert words(text) == ["I'd", "like", "to", "say", "we", "didn't", "expect", "that", ".", "Jane's", "boyfriend", "."]


def test_context_characters_are_split_off_both_ends():
    assert words('("Hello," she said.)') == ['("', "Hello", ',"', "she", "said", ".)"]
    assert words("... ?! (") == ["...", "?!", "("]  # only context characters: kept whole


def test_exceptions_keep_multiword_tokens():
    text = "I moved to New York in 2010, then to new york again."
    assert "New York" in words(text, exceptions=("New York",))
    assert "new york" not in words(text, exceptions=("New York",))
    assert "new york" in words(text, exceptions=("New York",), case_sensitive_exceptions=False)


def test_exceptions_keep_abbreviations_whole():
    assert words("See e.g. this", exceptions=(r"e\.g\.",)) == ["See", "e.g.", "this"]


def test_split_chars_and_split_pattern():
    assert words("state-of-the-art design", split_chars=("-",)) == ["state", "of", "the", "art", "design"]
    assert words("a_b|c d", split_pattern=r"[_|]") == ["a", "b", "c", "d"]


def test_infix_patterns_make_one_token_per_group():
    rules = dict(infix_patterns=(r"(\p{L}+)(n't\b)", r"([^\s]+)"))
    assert words("They don't know", **rules) == ["They", "do", "n't", "know"]


def test_prefix_and_suffix_patterns_must_be_anchored():
    with pytest.raises(ValueError, match=r"prefixPattern must begin with \\A"):
        TokenizerRules(prefix_pattern="([(]*)")
    with pytest.raises(ValueError, match=r"suffixPattern must end with \\z"):
        TokenizerRules(suffix_pattern="([)]*)")
    with pytest.raises(ValueError, match="infixPatterns must use regex groups"):
        TokenizerRules(infix_patterns=("abc",))
    custom = dict(prefix_pattern=r"\A([<]*)", suffix_pattern=r"([>]*)\z", infix_patterns=(r"([^<>]+)",))
    assert words("<<hello>>", **custom) == ["<<", "hello", ">>"]


def test_min_length_drops_tokens_and_max_length_cuts_them():
    assert words("a bb ccc dddd", min_length=2, max_length=3) == ["bb", "ccc", "ddd", "d"]
    with pytest.raises(ValueError, match=r"maxLength \(1\) must be >= minLength \(2\)"):
        TokenizerRules(min_length=2, max_length=1)


def test_a_bad_pattern_names_itself():
    with pytest.raises(PatternError, match=r"targetPattern '\[' is not a valid regular expression"):
        tokenize("x", TokenizerRules(target_pattern="["))


def test_long_tokens_do_not_backtrack_forever():
    url = "https://example.com/" + "a-b." * 1250 + ")."
    assert words(url + " end") == [url[:-3], ".).", "end"]
    regex_path = RuleTokenizer(TokenizerRules(infix_patterns=(r"([^.,;:!?*\-()\"'](?:.*[^.,;:!?*\-()\"'])*)",)))
    assert [url[b : e + 1] for b, e in regex_path.tokenize(url)] == [url[:-3], ".)."]


_context = "".join(DEFAULT_CONTEXT_CHARS)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(_context) + list("ab é\n\t漢")), max_size=40))
def test_default_fast_path_equals_the_regex_rules(text):
    """The str.strip fast path must give exactly what Spark NLP's default regex rule gives."""
    import re

    escaped = re.escape(_context)
    regex_rules = TokenizerRules(
        prefix_pattern=rf"\A([{escaped}]*)",
        suffix_pattern=rf"([{escaped}]*)\z",
        infix_patterns=(rf"([^{escaped}](?:.*[^{escaped}])*)",),
    )
    assert tokenize(text) == tokenize(text, regex_rules)


def test_token_f1_on_ewt_is_reported(ewt_documents, capsys):
    """Spark NLP's conventions differ from UD's (it keeps "don't" whole); F1 is information,
    guarded only against collapse."""
    import ewt

    gold, ours = [], []
    for i, doc in enumerate(ewt_documents):
        gold += [(i, b, e) for b, e in doc.tokens]
        ours += [(i, b, e) for b, e in tokenize(doc.text)]
    precision, recall, f1 = ewt.span_f1(ours, gold)
    with capsys.disabled():
        print(f"\ntoken span F1 on EWT dev: {f1:.4f} (P {precision:.4f}, R {recall:.4f})")
    assert f1 > 0.9


def test_fit_returns_a_model_with_the_rules(spark, tmp_path):
    df = DocumentAssembler(inputCol="text").transform(spark.createDataFrame([("x",)], "text string"))
    path = tmp_path / "exceptions.txt"
    path.write_text("New York\n\nSan Francisco\n")
    tokenizer = Tokenizer(exceptions=["e.g."]).setExceptionsPath(str(path)).setSplitChars(["-"])
    model = tokenizer.fit(df)
    assert isinstance(model, TokenizerModel)
    assert model.getExceptions() == ["e.g.", "New York", "San Francisco"]
    assert model.getSplitChars() == ["-"]
    assert model.getOutputCol() == "token" and model.getInputCols() == ["document"]


def test_fit_refuses_bad_patterns_before_any_model(spark):
    df = DocumentAssembler(inputCol="text").transform(spark.createDataFrame([("x",)], "text string"))
    with pytest.raises(PatternError, match="exception"):
        Tokenizer(exceptions=["(unclosed"]).fit(df)


def test_pipeline_tokens_index_the_document(spark):
    texts = ["Hello there. General Kenobi!", "  Spaces  around\r\nlines.  ", None, "🙂 emoji 👩‍👩‍👧 family."]
    df = spark.createDataFrame([(t,) for t in texts], "text string")
    pipeline = Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"])])
    out = pipeline.fit(df).transform(df)
    assert out.schema["token"].metadata == {"annotatorType": "token"}
    rows = out.collect()
    assert len(rows) == 4
    first = rows[0]
    assert [(t.result, t.metadata["sentence"]) for t in first.token] == [
        ("Hello", "0"), ("there", "0"), (".", "0"), ("General", "1"), ("Kenobi", "1"), ("!", "1")
    ]
    for row in rows:
        for token in row.token:
            assert row.text[token.begin : token.end + 1] == token.result
    assert rows[2].token == []


def test_token_column_refused_where_documents_are_expected(spark):
    df = spark.createDataFrame([("a b",)], "text string")
    docs = DocumentAssembler(inputCol="text").transform(df)
    tokens = Tokenizer().fit(docs).transform(docs)
    with pytest.raises(SchemaError, match=r"input column 'token' holds 'token', expected annotator type 'document'"):
        Tokenizer(inputCols=["token"], outputCol="t2").fit(tokens).transform(tokens)
