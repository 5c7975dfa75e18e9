"""The engine's tokenizer, saved from transformers' AutoTokenizer and run by ``tokenizers``
alone: it must cut every word exactly as transformers does, for every kind of folder, and a
worker that finds it cached must not import PyTorch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import build_tiny_bert
from sparktext.inference import wordpieces as wordpieces_module
from sparktext.inference.wordpieces import TransformersWordpieces, Wordpieces, load_wordpieces

HARD_WORDS = [
    ["Straße", "CAFÉ", "naïve", "中文字", "😀👍", "\x00", "\u200b", "e\u0301", "[MASK]", "[cls]", "x" * 300],
    [],
    ["", " ", "a b", "##ing", "don't", "1,234.56", "https://example.com/a?b=c"],
]


def transformers_encoding(model_path: str, sentences, texts):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    words = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    return (
        [(words["input_ids"][n], words.word_ids(n)) for n in range(len(sentences))],
        tokenizer(texts, add_special_tokens=False)["input_ids"],
    )


def vocab_only(folder, **options) -> str:
    """A checkpoint folder with ``vocab.txt`` and no tokenizer.json or tokenizer_config.json,
    as old BERT checkpoints come: transformers builds the tokenizer from the class defaults."""
    build_tiny_bert(folder, **options)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    return str(folder)


@pytest.fixture(params=["minilm", "tiny_cased", "tiny_uncased", "vocab_only_cased", "vocab_only_uncased"])
def model_folder(request, tmp_path_factory, minilm_path):
    kind = request.param
    if kind == "minilm":
        return minilm_path
    folder = tmp_path_factory.mktemp(kind)
    lowercase = kind.endswith("uncased")
    return vocab_only(folder, lowercase=lowercase) if kind.startswith("vocab_only") else build_tiny_bert(folder, lowercase=lowercase)


def gold_sentences(documents) -> list[list[str]]:
    """EWT's gold tokens, sentence by sentence."""
    sentences = []
    for document in documents:
        for start, end in document.sentences:
            sentences.append([document.text[a:b + 1] for a, b in document.tokens if start <= a and b <= end])
    return sentences


def test_cut_as_transformers_cuts_built_and_cached(model_folder, ewt_documents, tmp_path):
    sentences = gold_sentences(ewt_documents[:40]) + HARD_WORDS
    texts = [" ".join(words) for words in sentences]
    expected = transformers_encoding(model_folder, sentences, texts)
    built = load_wordpieces(model_folder, str(tmp_path))  # cold: AutoTokenizer, then saved
    cached = load_wordpieces(model_folder, str(tmp_path))  # warm: tokenizers alone
    assert type(built) is Wordpieces and type(cached) is Wordpieces
    for wordpieces in (built, cached):
        assert (wordpieces.encode_words(sentences), wordpieces.encode_texts(texts)) == expected
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    assert (cached.special.cls, cached.special.sep, cached.special.unk) == (
        tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id
    )


def test_a_changed_tokenizer_is_not_served_from_the_cache(tmp_path):
    folder = build_tiny_bert(tmp_path / "model", lowercase=False)
    cache = str(tmp_path / "cache")
    assert load_wordpieces(folder, cache).encode_words([["Hello"]])[0][0] != load_wordpieces(folder, cache).encode_words([["hello"]])[0][0]
    config_path = os.path.join(folder, "tokenizer_config.json")
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["do_lower_case"] = True  # the same files otherwise: now "Hello" is "hello"
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    expected = transformers_encoding(folder, [["Hello", "World"]], ["Hello World"])
    assert expected[0][0][0] == transformers_encoding(folder, [["hello", "world"]], [""])[0][0][0]
    reloaded = load_wordpieces(folder, cache)
    assert (reloaded.encode_words([["Hello", "World"]]), reloaded.encode_texts(["Hello World"])) == expected
    assert len(os.listdir(os.path.join(cache, "tokenizer"))) == 2


def test_a_backend_that_encodes_differently_is_not_saved(tmp_path, monkeypatch, tiny_bert_path):
    # Should a future transformers do work of its own around the backend, the probe sees it:
    # transformers' tokenizer serves, and nothing is cached for later workers to trust.
    monkeypatch.setattr(wordpieces_module, "_encodes_alike", lambda candidate, reference: False)
    loaded = load_wordpieces(tiny_bert_path, str(tmp_path))
    assert isinstance(loaded, TransformersWordpieces)
    expected = transformers_encoding(tiny_bert_path, [["Jane", "didn't"]], ["Jane didn't"])
    assert (loaded.encode_words([["Jane", "didn't"]]), loaded.encode_texts(["Jane didn't"])) == expected
    assert not os.path.exists(os.path.join(tmp_path, "tokenizer"))


def test_a_worker_with_the_caches_warm_imports_no_torch(tmp_path, tiny_bert_path):
    """What a Spark worker does when it loads the model with OpenVINO on a machine that has the
    export and the tokenizer cached: no PyTorch (seconds and ~180 MB per worker) and no
    transformers."""
    folder = shutil.copytree(tiny_bert_path, tmp_path / "model")
    cache = str(tmp_path / "cache")
    script = (
        "import sys, json\n"
        "from sparktext.inference.engine import BertEngine\n"
        "from sparktext.inference.device import EngineOptions\n"
        f"engine = BertEngine({str(folder)!r}, EngineOptions('cpu', 'fp32', engine='openvino', cache_root={cache!r}))\n"
        "vectors = engine.embed([['hello', 'world', 'Jane']]).vectors\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules,"
        " 'vectors': vectors.tolist()}))\n"
    )
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
                       .stdout.strip().splitlines()[-1]) for _ in range(2)]
    assert runs[0]["torch"] and runs[0]["transformers"]  # cold: the export and AutoTokenizer need them
    assert not runs[1]["torch"] and not runs[1]["transformers"]
    assert runs[1]["vectors"] == runs[0]["vectors"]


@pytest.mark.parametrize("missing", [(), ("tokenizer_config.json", "special_tokens_map.json")])
def test_load_saved_model_reports_the_case_transformers_tokenizes_with(model_folder, missing, tmp_path):
    """caseSensitive says what the tokenizer does, for every way a folder can say it (or leave it to
    transformers' defaults): a folder whose files never mention lowercasing is still lowercased
    by transformers 5's BertTokenizer, and must not be reported as case sensitive."""
    from transformers import AutoTokenizer

    from sparktext import BertEmbeddings

    folder = shutil.copytree(model_folder, tmp_path / "model")
    for name in missing:
        if os.path.exists(folder / name):
            os.remove(folder / name)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    keeps_case = tokenizer.tokenize("Hello WORLD") != tokenizer.tokenize("hello world")
    assert BertEmbeddings.loadSavedModel(str(folder)).getCaseSensitive() is keeps_case
    assert load_wordpieces(str(folder), str(tmp_path / "cache")).lowercases is not keeps_case
