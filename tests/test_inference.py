"""The Spark-free BERT engine: alignment, windows, pooling, precision, OOM retry, and the
three engines (PyTorch, ONNX Runtime, OpenVINO) giving transformers' vectors."""

from __future__ import annotations

import contextlib
import functools
import logging

import numpy as np
import pytest
import torch

from sparktext.inference import engine as engine_module
from sparktext.inference.device import EngineOptions, cpu_multiplies_bf16
from sparktext.inference.engine import BertEngine, get_engine
from sparktext.inference.windows import plan_windows, token_piece_spans


@functools.lru_cache(maxsize=None)
def reference_tokenizer(model_path: str):
    """transformers' own tokenizer for the folder (the engine's is built apart from it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


def reference_vectors(engine: BertEngine, model, words: list[str], pooling: str = "first") -> np.ndarray:
    """transformers' own BertModel on one unpadded sentence, pieces pooled per word."""
    encoded = reference_tokenizer(engine.model_path)([words], is_split_into_words=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**{k: v for k, v in encoded.items() if k != "token_type_ids"}).last_hidden_state[0].float()
    word_ids = encoded.word_ids(0)
    vectors = []
    for index in range(len(words)):
        positions = [p for p, w in enumerate(word_ids) if w == index]
        chosen = {"first": positions[:1], "last": positions[-1:], "mean": positions}[pooling]
        vectors.append(hidden[chosen].mean(0).numpy())
    return np.stack(vectors)


ENGINES = ["torch", "onnx", "openvino"]


@pytest.fixture(scope="module", params=ENGINES)
def minilm(request, minilm_path):
    engine = get_engine(minilm_path, EngineOptions(device="cpu", precision="fp32", engine=request.param))
    assert engine.engine == request.param  # the engine under test, not a fallback
    return engine


@pytest.fixture(scope="module")
def reference_model(minilm_path):
    """transformers' model, loaded apart from the engine's."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(minilm_path).eval()


@pytest.fixture(scope="module")
def real_sentences(ewt_documents):
    from sparktext.text.sentences import split_sentences
    from sparktext.text.tokenizer import tokenize

    sentences = []
    for doc in ewt_documents[:25]:
        for b, e in split_sentences(doc.text):
            words = [doc.text[tb + b : te + b + 1] for tb, te in tokenize(doc.text[b : e + 1])]
            if words:
                sentences.append(words)
    return sentences


@pytest.mark.parametrize("pooling", ["first", "mean", "last"])
def test_matches_transformers_on_real_text(minilm, reference_model, real_sentences, pooling):
    result = minilm.embed(real_sentences, batch_size=16, max_length=512, pooling=pooling)
    expected = np.concatenate([reference_vectors(minilm, reference_model, s, pooling) for s in real_sentences])
    assert result.vectors.shape == expected.shape == (sum(map(len, real_sentences)), 384)
    np.testing.assert_allclose(result.vectors, expected, atol=1e-4)


def test_batch_size_and_order_do_not_change_results(minilm, real_sentences):
    one = minilm.embed(real_sentences, batch_size=1).vectors
    many = minilm.embed(real_sentences, batch_size=64).vectors
    np.testing.assert_allclose(one, many, atol=1e-4)
    reversed_result = minilm.embed(real_sentences[::-1], batch_size=7).vectors
    lengths = [len(s) for s in real_sentences]
    pieces = np.split(reversed_result, np.cumsum([len(s) for s in real_sentences[::-1]])[:-1])
    np.testing.assert_allclose(np.concatenate(pieces[::-1]), one, atol=1e-4)
    assert sum(lengths) == len(one)


def test_sorting_by_length_keeps_padding_low(minilm, real_sentences):
    assert minilm.embed(real_sentences, batch_size=16).padding_ratio < 0.15


def test_batch_plan_covers_every_sequence_once_and_costs_no_more_than_fixed_batches():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sparktext.inference.batching import BatchPolicy, plan_batches

    def cost(lengths, plan, policy, recent):
        total = 0
        for a, b in plan:
            length = policy.padded_length(lengths[a], 512)
            total += (b - a) * length + policy.pass_cost
            if policy.new_shape_cost and (b - a, length) not in recent:
                total += policy.new_shape_cost
        return total

    def fixed_batches(lengths, policy):
        """Full batches in order, as many rows as the positions cap lets each hold."""
        plan, start = [], 0
        while start < len(lengths):
            rows = policy.max_sequences
            if policy.max_positions:
                rows = max(1, min(rows, policy.max_positions // policy.padded_length(lengths[start], 512)))
            plan.append((start, min(start + rows, len(lengths))))
            start = plan[-1][1]
        return plan

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.integers(1, 512), max_size=200), st.integers(1, 64), st.integers(0, 500),
           st.sampled_from([1, 8]), st.sampled_from([0, 400]), st.sampled_from([0, 64, 512, 2048]),
           st.sets(st.tuples(st.integers(1, 64), st.sampled_from(range(8, 520, 8))), max_size=30))
    def check(lengths, batch_size, overhead, multiple, shape_cost, max_positions, recent):
        lengths = sorted(lengths, reverse=True)
        policy = BatchPolicy(batch_size, overhead, multiple, shape_cost, max_positions)
        recent = frozenset(recent)
        plan = plan_batches(lengths, policy, recent, 512)
        assert [i for a, b in plan for i in range(a, b)] == list(range(len(lengths)))
        assert all(1 <= b - a <= batch_size for a, b in plan)
        if max_positions:  # a batch over the cap is one sequence longer than the cap
            assert all(b - a == 1 or (b - a) * policy.padded_length(lengths[a], 512) <= max_positions for a, b in plan)
        assert cost(lengths, plan, policy, recent) <= cost(lengths, fixed_batches(lengths, policy), policy, recent)

    check()


@contextlib.contextmanager
def recorded_batch_shapes(engine):
    """The (rows, padded length) of every batch ``engine`` runs inside the block."""
    shapes = []
    forward = engine.forward

    def recording(batch, read, length=None):
        shapes.append((len(batch), length))
        return forward(batch, read, length)

    engine.forward = recording
    try:
        yield shapes
    finally:
        del engine.forward


def test_cpu_batches_of_long_sentences_hold_fewer_rows_and_the_same_vectors(minilm):
    """An engine's buffers grow to the largest batch it ran: on a CPU, long sentences come in
    batches of fewer rows (batchSize x 32 positions at most), with the vectors they get alone."""
    long_sentence = ("the committee reviewed every proposal submitted before the deadline and " * 6).split()
    sentences = [long_sentence[: 40 + i] for i in range(20)] + [["a", "short", "one"]] * 30
    with recorded_batch_shapes(minilm) as shapes:
        batched = minilm.embed(sentences).vectors
    assert max(rows * length for rows, length in shapes) <= 16 * 32, shapes
    assert max(rows for rows, _ in shapes) == 16  # short sentences still fill whole batches
    alone = np.concatenate([minilm.embed([s]).vectors for s in sentences])
    np.testing.assert_allclose(batched, alone, atol=1e-4)


def test_openvino_bf16_batches_reuse_a_few_shapes_and_keep_every_vector(minilm_path, real_sentences):
    """OpenVINO builds kernels for each new batch shape (half a bf16 pass): the plan rounds
    lengths and prefers shapes run lately, so a stream of chunks meets few shapes; padding to
    the rounded length changes no vector beyond bf16's own noise."""
    engine = get_engine(minilm_path, EngineOptions(device="cpu", precision="bf16", engine="openvino"))
    if engine.precision != "bf16":
        pytest.skip("this CPU has no bf16 instructions: OpenVINO computes in fp32, batched as fp32")
    import random

    from sparktext.inference.batching import BatchPolicy, plan_batches

    shuffled = random.Random(0)
    chunks = [shuffled.sample(real_sentences, 60) for _ in range(8)]  # a stream of different chunks
    with recorded_batch_shapes(engine) as shapes:
        results = [engine.embed(chunk) for chunk in chunks]
    assert all(length % 8 == 0 for _, length in shapes)
    plain = set()  # the shapes the length-only plan (as in fp32) cuts from the same chunks
    for chunk in chunks:
        lengths = sorted((len(ids) + 2 for ids, _ in engine.wordpieces.encode_words(chunk)), reverse=True)
        plain.update((b - a, lengths[a]) for a, b in plan_batches(lengths, BatchPolicy(32, 48)))
    assert len(set(shapes)) * 2 <= len(plain), (sorted(set(shapes)), len(plain))
    exact = get_engine(minilm_path, EngineOptions(device="cpu", precision="fp32", engine="torch")).embed(chunks[-1]).vectors
    bf16 = results[-1].vectors
    cosine = (exact * bf16).sum(1) / (np.linalg.norm(exact, axis=1) * np.linalg.norm(bf16, axis=1))
    assert cosine.min() >= 0.99, cosine.min()


@pytest.mark.parametrize("engine", ["torch", "openvino"])
def test_bf16_on_cpu_stays_close_to_fp32(minilm_path, real_sentences, engine):
    fp32 = get_engine(minilm_path, EngineOptions(device="cpu", precision="fp32", engine="torch")).embed(real_sentences).vectors
    bf16_engine = get_engine(minilm_path, EngineOptions(device="cpu", precision="bf16", engine=engine))
    bf16 = bf16_engine.embed(real_sentences).vectors
    if bf16_engine.precision == "fp32":  # OpenVINO on a CPU without bf16 instructions: says so, exact
        assert engine == "openvino" and cpu_multiplies_bf16() is not True
        np.testing.assert_allclose(bf16, fp32, atol=1e-4)
        return
    cosine = (fp32 * bf16).sum(1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1))
    assert cosine.min() >= 0.99, cosine.min()
    assert np.abs(fp32 - bf16).max() > 1e-3  # bf16 really ran: the engine did not fall back to fp32


def test_openvino_without_bf16_instructions_runs_and_says_fp32(minilm_path, real_sentences, monkeypatch, caplog):
    """Where OpenVINO computes a bf16 request in f32 (a CPU without bf16 instructions), the
    engine says fp32 -- in its log and its precision -- plans fp32's batches, and the vectors
    are fp32's."""
    from sparktext.inference import runtimes

    compile_as_asked = runtimes.OpenVinoRuntime.__init__

    def cpu_without_bf16(runtime, graph, precision, threads, streams=1):
        compile_as_asked(runtime, graph, "fp32", threads, streams)  # what OpenVINO does there

    monkeypatch.setattr(runtimes.OpenVinoRuntime, "__init__", cpu_without_bf16)
    with caplog.at_level(logging.WARNING, logger="sparktext"):
        engine = BertEngine(minilm_path, EngineOptions(device="cpu", precision="bf16", engine="openvino"))
    assert engine.precision == "fp32"
    assert "precision 'bf16': this CPU has no bf16 instructions" in caplog.text and "computes in fp32" in caplog.text
    with recorded_batch_shapes(engine) as shapes:
        vectors = engine.embed(real_sentences).vectors
    assert max(rows for rows, _ in shapes) == 16  # fp32's batches, not bf16's 32
    exact = get_engine(minilm_path, EngineOptions(device="cpu", precision="fp32", engine="openvino")).embed(real_sentences).vectors
    np.testing.assert_allclose(vectors, exact, atol=1e-5)


def test_pytorch_bf16_on_a_cpu_without_bf16_instructions_warns(tiny_bert_path, monkeypatch, caplog):
    monkeypatch.setattr(engine_module, "cpu_multiplies_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="sparktext"):
        engine = BertEngine(tiny_bert_path, EngineOptions(device="cpu", precision="bf16", engine="torch"))
    assert engine.precision == "bf16"  # asked for by name: it runs, slowly, and the log says why
    assert "PyTorch emulates them, several times slower than fp32: use precision 'fp32'" in caplog.text


def test_tokens_without_pieces_get_a_vector_and_are_oov(tiny_bert_path):
    engine = get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32"))
    result = engine.embed([["hello", "\x07", "\u200b", "world"], []])
    assert result.vectors.shape == (4, 32)
    assert np.isfinite(result.vectors).all()
    assert result.is_oov.tolist() == [False, True, True, False]


def test_long_sentences_are_windowed_and_lose_no_token(tiny_bert_path):
    engine = get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32"))
    words = ["hello", "world", "supercalifragilistic", "dog"] * 150  # well over 600 wordpieces
    result = engine.embed([words], max_length=32, pooling="mean")
    assert result.vectors.shape == (600, 32)
    assert np.isfinite(result.vectors).all()
    # The first window (30 pieces at most, cut at a token boundary) holds exactly the first six
    # words (1 + 1 + 19 + 1 + 1 + 1 pieces): its tokens get what that stretch alone gives.
    short = engine.embed([words[:6]], max_length=32, pooling="mean").vectors
    np.testing.assert_allclose(result.vectors[:2], short[:2], atol=1e-5)


def test_no_false_indexing_errors_warning_on_long_sentences(minilm_path, capfd):
    # Long sentences are windowed here; transformers' warning that they "will result in indexing
    # errors" (MiniLM's tokenizer says 512 at most) is false, and it landed in the CLI's progress bar.
    engine = get_engine(minilm_path, EngineOptions(device="cpu", precision="fp32", engine="torch"))
    capfd.readouterr()
    engine.embed([["hello", "world"] * 400], max_length=32, pooling="first")
    engine.embed_sentences([" ".join(["hello"] * 800)], max_length=32, pooling="mean")
    captured = capfd.readouterr()
    assert "indexing errors" not in captured.err + captured.out


def test_a_token_longer_than_the_window_keeps_its_first_pieces(tiny_bert_path):
    engine = get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32"))
    url = "https://example.com/" + "ab-cd." * 800
    result = engine.embed([["see", url, "now"]], max_length=16)
    assert result.vectors.shape == (3, 32)


def test_window_plan_assigns_each_token_once_with_most_context():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 5, size=200)
    stops = np.cumsum(lengths)
    starts = stops - lengths
    ids = np.arange(stops[-1])
    windows = plan_windows(ids, starts, stops, first_token=10, window=24)
    seen = np.concatenate([w.token_index for w in windows])
    assert sorted(seen.tolist()) == list(range(10, 210))
    for w in windows:
        assert len(w.piece_ids) <= 24
        assert (w.piece_start >= 0).all() and (w.piece_stop <= len(w.piece_ids)).all()
        assert (w.piece_stop - w.piece_start == lengths[w.token_index - 10]).all()


def test_token_piece_spans_handle_missing_words():
    starts, stops = token_piece_spans([0, 0, 2, 2, 2], 4)
    assert starts.tolist() == [0, 2, 2, 5] and stops.tolist() == [2, 2, 5, 5]


def test_cuda_out_of_memory_halves_the_batch(tiny_bert_path, monkeypatch, caplog):
    engine = get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32"))
    sentences = [["hello", "world"] * (i + 1) for i in range(20)]
    expected = engine.embed(sentences, batch_size=16).vectors
    real_forward = BertEngine.forward
    sizes = []

    def forward_with_small_memory(self, batch, read=None, length=None):
        sizes.append(len(batch))
        if len(batch) > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, batch, read, length)

    monkeypatch.setattr(BertEngine, "forward", forward_with_small_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    result = engine.embed(sentences, batch_size=16)
    np.testing.assert_allclose(result.vectors, expected, atol=1e-5)
    first = sizes[0]
    assert first > 4
    for position, failed in enumerate(sizes):
        if failed > 4:  # after a failure, no batch is larger than half the failed one
            assert max(sizes[position + 1 :]) <= failed // 2, sizes
    assert f"retrying with {first // 2}" in caplog.text


def test_other_errors_are_not_retried(tiny_bert_path, monkeypatch):
    engine = get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32"))

    def broken(self, batch, read=None, length=None):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(BertEngine, "forward", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        engine.embed([["hello"]])


def test_engine_is_loaded_once_per_process(tiny_bert_path):
    before = engine_module.load_count()
    first = get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32"))
    assert get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32")) is first
    assert engine_module.load_count() == before


def test_unknown_pooling_is_refused(tiny_bert_path):
    with pytest.raises(ValueError, match=r"poolingStrategy must be one of \['first', 'mean', 'last'\], got 'max'"):
        get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32")).embed([["a"]], pooling="max")


@pytest.fixture(scope="module")
def real_texts(real_sentences):
    return [" ".join(words) for words in real_sentences]


@pytest.mark.parametrize("pooling", ["pooler", "mean"])
def test_sentence_vectors_match_transformers(minilm, reference_model, real_texts, pooling):
    result = minilm.embed_sentences(real_texts, batch_size=8, max_length=512, pooling=pooling)
    expected = []
    for text in real_texts:
        encoded = reference_tokenizer(minilm.model_path)([text], return_tensors="pt")
        with torch.inference_mode():
            output = reference_model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
        pooled = output.pooler_output[0] if pooling == "pooler" else output.last_hidden_state[0].mean(0)
        expected.append(pooled.float().numpy())
    assert result.vectors.shape == (len(real_texts), 384)
    np.testing.assert_allclose(result.vectors, np.stack(expected), atol=1e-4)
    assert not result.truncated.any()


def test_long_texts_are_cut_at_the_window_and_flagged(tiny_bert_path):
    engine = get_engine(tiny_bert_path, EngineOptions(device="cpu", precision="fp32"))
    long_text = " ".join(["hello world"] * 100)
    result = engine.embed_sentences([long_text, "the dog", ""], max_length=16, pooling="mean")
    assert result.truncated.tolist() == [True, False, False]
    cut = engine.embed_sentences([" ".join(["hello world"] * 7)], max_length=16, pooling="mean")
    np.testing.assert_allclose(result.vectors[0], cut.vectors[0], atol=1e-5)  # the first 14 pieces
    assert np.isfinite(result.vectors).all()


def test_pooler_is_refused_when_the_checkpoint_has_none(tmp_path, tiny_bert_path):
    from safetensors.torch import load_file, save_file
    import shutil

    folder = tmp_path / "no_pooler"
    shutil.copytree(tiny_bert_path, folder)
    weights = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if not k.startswith("pooler.")}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    engine = BertEngine(str(folder), EngineOptions(device="cpu", precision="fp32"))
    with pytest.raises(ValueError, match="no pooler weights.*'mean'"):
        engine.embed_sentences(["the dog"], pooling="pooler")
    assert engine.embed_sentences(["the dog"], pooling="mean").vectors.shape == (1, 32)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("family", ["roberta", "electra", "distilbert"])
def test_bert_family_checkpoints_match_transformers_on_every_engine(tmp_path, tmp_path_factory, tiny_bert_path, family, engine):
    """RoBERTa (its own position ids), ELECTRA-small (embeddings narrower than the hidden
    size, projected up) and DistilBERT (another layer layout, no pooler) run on each engine."""
    import json
    import shutil

    from transformers import (
        DistilBertConfig, DistilBertModel, ElectraConfig, ElectraModel, RobertaConfig, RobertaModel,
    )

    folder = tmp_path / family
    shutil.copytree(tiny_bert_path, folder)
    vocab_size = json.loads((folder / "config.json").read_text())["vocab_size"]
    shape = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    if family == "roberta":
        model = RobertaModel(RobertaConfig(pad_token_id=0, max_position_embeddings=130, **shape))
    elif family == "electra":
        model = ElectraModel(ElectraConfig(embedding_size=16, pad_token_id=0, **shape))
    else:
        model = DistilBertModel(DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64))
    model.eval().save_pretrained(str(folder), safe_serialization=True)  # replaces the config and weights
    cache = tmp_path_factory.getbasetemp() / "family-cache"  # one export per family serves both ONNX engines
    loaded = BertEngine(str(folder), EngineOptions(device="cpu", precision="fp32", engine=engine, cache_root=str(cache)))
    assert loaded.engine == engine
    sentences = [["hello", "world", "the", "dog"], ["say", "hello"]]
    for pooling in ("first", "mean"):
        result = loaded.embed(sentences, pooling=pooling).vectors
        expected = np.concatenate([reference_vectors(loaded, model, s, pooling) for s in sentences])
        np.testing.assert_allclose(result, expected, atol=1e-5)
