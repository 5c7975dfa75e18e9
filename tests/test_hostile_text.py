"""Hostile text: nothing is lost by length, and the text cores stay linear on it.

Issue 19 items 6 and 7. The speed is measured in ``benchmarks/bench_text_stages.py``
(hostile-text table); here the property tests check that the linear rewrites give the very
spans the earlier (quadratic) code gave, on random text made of the pieces that matter.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparktext.columnar import AnnotationBuilder, read_annotations
from sparktext.annotation import AnnotatorType
from sparktext.inference import windows
from sparktext.stages.sentence_detector import detect_sentences
from sparktext.stages.tokenizer import tokenize_annotations
from sparktext.text import sentences
from sparktext.text.sentences import SentenceRules, sentence_spans, split_sentences
from sparktext.text.tokenizer import TokenizerRules, get_tokenizer, tokenize

PIECES = [".", ". ", "!", "?", "…", "...", " ", "  ", "\n", "\n\n", '"', ")", "(", ",", ":)", "a", "Dr", "e.g",
          "Hi", "The", "x", "New York", "-", "'", "9"]
hostile_text = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def _quadratic_candidates_pattern() -> re.Pattern:
    """The sentence splitter's scan as it was before the lookbehinds (backtracking in runs)."""
    fragment = re.search(r"\(\?P<punct>.*?\)\(\?=\\s\)", sentences._CANDIDATES.pattern).group()
    closers = re.escape(sentences._CLOSERS)
    old = r"(?P<punct>(?:\.(?: \.)+|[.!?]+|…+)[" + closers + r"]*)(?=\s)"
    return re.compile(sentences._CANDIDATES.pattern.replace(fragment, old))


@settings(max_examples=400, deadline=None)
@given(hostile_text, st.booleans(), st.booleans())
def test_sentence_spans_are_those_of_the_backtracking_scan(text, abbreviations, lists):
    linear = split_sentences(text, use_abbreviations=abbreviations, detect_lists=lists)
    original = sentences._CANDIDATES
    sentences._CANDIDATES = _quadratic_candidates_pattern()
    try:
        backtracking = split_sentences(text, use_abbreviations=abbreviations, detect_lists=lists)
    finally:
        sentences._CANDIDATES = original
    assert linear == backtracking


def _quadratic_candidates(tokenizer, text: str) -> list[tuple[int, int, bool]]:
    """Exception merging as it was: every protected span scanned for every candidate."""
    found = [(m.start(), m.end()) for m in tokenizer._target.finditer(text) if m.end() > m.start()]
    protected = sorted(
        (m.start(), m.end()) for p in tokenizer._exceptions for m in p.finditer(text) if m.end() > m.start()
    )
    if not protected:
        return [(a, b, False) for a, b in found]
    merged: list[tuple[int, int, bool]] = []
    for cand_start, cand_stop in found:
        touched = False
        for p_start, p_stop in protected:
            if p_start < cand_stop and cand_start < p_stop:
                cand_start, cand_stop = min(cand_start, p_start), max(cand_stop, p_stop)
                touched = True
        if touched:
            if merged and merged[-1][2] and merged[-1][1] >= cand_start:
                prev_start, prev_stop, _ = merged.pop()
                cand_start, cand_stop = min(prev_start, cand_start), max(prev_stop, cand_stop)
            merged.append((cand_start, cand_stop, True))
        elif merged and merged[-1][2] and merged[-1][1] >= cand_stop:
            continue
        else:
            merged.append((cand_start, cand_stop, False))
    return merged


@settings(max_examples=400, deadline=None)
@given(hostile_text, st.lists(st.sampled_from(["New York", "e\\.g", "a a", "x\\.", "Dr\\. ?H"]), max_size=3))
def test_exception_merging_matches_the_quadratic_scan(text, exceptions):
    tokenizer = get_tokenizer(TokenizerRules(exceptions=tuple(exceptions)))
    assert tokenizer._candidates(text, 0, len(text)) == _quadratic_candidates(tokenizer, text)


def _quadratic_assignment(starts, stops, spans):
    best_window = np.full(len(starts), -1)
    best_context = np.full(len(starts), -1)
    for number, (w_begin, w_end) in enumerate(spans):
        inside = (starts >= w_begin) & (stops <= w_end)
        context = np.minimum(starts - w_begin, w_end - stops)
        better = inside & (context > best_context)
        best_window[better] = number
        best_context[better] = context[better]
    return best_window


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=120), st.integers(6, 24))
def test_window_assignment_matches_the_quadratic_one(piece_counts, window):
    stops = np.cumsum(piece_counts)
    starts = stops - np.array(piece_counts)
    ids = np.arange(int(stops[-1]))
    planned = windows.plan_windows(ids, starts, stops, 0, window)
    # Every token is embedded exactly once, from a window holding all of its pieces.
    embedded = np.concatenate([s.token_index for s in planned])
    assert sorted(embedded.tolist()) == list(range(len(piece_counts)))
    if len(planned) == 1:
        return
    # Recover the windows' spans and check each token went where the quadratic rule sends it.
    spans, chosen = [], np.full(len(starts), -1)
    for sequence in planned:
        first = int(np.searchsorted(ids, sequence.piece_ids[0]))
        spans.append((first, first + len(sequence.piece_ids)))
        chosen[sequence.token_index] = len(spans) - 1
    expected = _quadratic_assignment(starts, stops, spans)
    assert (chosen == expected).all()


#: Words that take every path of the engine's preprocessing: none or only removed characters
#: (no pieces), unknown ones ([UNK]), emoji, one longer than any window, and plain words.
WORDS = ["", "\u200b", "\x07", "the", "The", "runs", "zqxv", "\U0001F600", "caf\u00e9", "x" * 90, "9", ".", "New York"]
sentence_lists = st.lists(st.lists(st.sampled_from(WORDS), max_size=40), max_size=12)


@pytest.fixture(scope="module")
def tiny_engine(tiny_bert_path):
    from sparktext.inference.device import EngineOptions
    from sparktext.inference.engine import get_engine

    return get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32", engine="torch"))


@settings(max_examples=150, deadline=None)
@given(sentence_lists, st.integers(3, 40), st.booleans())
def test_preprocessing_a_chunk_at_once_equals_it_sentence_by_sentence(tiny_engine, chunk, max_length, lowercase):
    """The engine cuts most sentences out of one array of the chunk's pieces; any sentence,
    empty or with piece-less, unknown or over-long tokens or more pieces than a window, gets
    the sequences, first pieces and OOV flags it gets alone."""
    sequences, first_ids, oov = tiny_engine.preprocess(chunk, max_length, lowercase)
    window = min(max_length, tiny_engine.max_positions) - 2
    expected_sequences, expected_first, expected_oov, first_token = [], [], [], 0
    for sentence in chunk:
        words = [w.lower() for w in sentence] if lowercase else sentence
        if not words:
            continue
        (encoding,) = tiny_engine.wordpieces.encode_words([words])
        planned, first, flags = tiny_engine._preprocess_sentence(encoding, len(words), first_token, window)
        expected_sequences += planned
        expected_first.append(first)
        expected_oov.append(flags)
        first_token += len(words)
    assert len(first_ids) == len(oov) == first_token
    if first_token:
        assert first_ids.tolist() == np.concatenate(expected_first).tolist()
        assert oov.tolist() == np.concatenate(expected_oov).tolist()
    assert len(sequences) == len(expected_sequences)
    for got, want in zip(sequences, expected_sequences):
        for field in ("piece_ids", "token_index", "piece_start", "piece_stop"):
            assert getattr(got, field).tolist() == getattr(want, field).tolist(), field


def test_a_sentence_longer_than_max_length_is_cut_not_lost():
    text = "word " * 200_000  # one "sentence" of a million characters, no full stop
    spans = sentence_spans(text)
    assert spans and all(e - b + 1 <= 99_999 for b, e in spans)
    assert " ".join(text[b : e + 1] for b, e in spans).split() == text.split()
    chinese = "我们今天去公园散步然后吃饭" * 8_700  # 113k characters, no sentence end
    pieces = [chinese[b : e + 1] for b, e in sentence_spans(chinese)]
    assert "".join(pieces) == chinese and max(map(len, pieces)) == 99_999


def test_a_token_longer_than_max_length_is_cut_not_lost():
    text = "x" * 100_000 + " y"
    tokens = [text[b : e + 1] for b, e in tokenize(text)]
    assert tokens == ["x" * 99_999, "x", "y"]
    with_exceptions = [text[b : e + 1] for b, e in tokenize(text, TokenizerRules(exceptions=("zz",)))]
    assert with_exceptions == tokens


def test_max_length_below_one_is_refused():
    with pytest.raises(ValueError, match="maxLength must be >= 1"):
        SentenceRules(max_length=0)
    with pytest.raises(ValueError, match="maxLength must be >= 1"):
        TokenizerRules(max_length=0)


def _documents(texts: list[str]) -> pa.Array:
    builder = AnnotationBuilder(AnnotatorType.DOCUMENT)
    for text in texts:
        builder.add(0, len(text) - 1, text, {})
        builder.end_row()
    return builder.finish()


def test_what_min_length_drops_is_counted_and_logged_once(caplog):
    documents = _documents(["Hi. A longer sentence here.", "Ok. Another long sentence."])
    rules = SentenceRules(min_length=5)
    with caplog.at_level(logging.DEBUG, logger="sparktext.stages._base"):
        kept = read_annotations(detect_sentences(documents, rules))
        detect_sentences(documents, rules)
    assert kept.results == ["A longer sentence here.", "Another long sentence."]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the second batch of the same process logs at DEBUG only
    assert "SentenceDetector dropped 2 sentences shorter than minLength=5" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparktext.stages._base"):
        tokens = read_annotations(tokenize_annotations(documents, TokenizerRules(min_length=3)))
    assert "Hi." not in tokens.results and "longer" in tokens.results
    assert any("Tokenizer dropped" in r.getMessage() and "minLength=3" in r.getMessage() for r in caplog.records)
