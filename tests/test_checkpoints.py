"""Checkpoint folders that would give silently wrong vectors, or carry files they should not,
are refused on the driver with an error naming what is wrong (issue 19, items 1, 2, 8, 9, 10)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from conftest import build_tiny_bert
from sparktext import BertEmbeddings, BertSentenceEmbeddings, DocumentAssembler, LightPipeline, SentenceDetector
from sparktext.errors import ModelFileError, ModelOutputError
from sparktext.inference.device import EngineOptions
from sparktext.inference.engine import BertEngine
from sparktext.inference.runtimes import is_installed


def copy_of(source: str, destination: pathlib.Path) -> pathlib.Path:
    shutil.copytree(source, destination)
    return destination


def rewrite_weights(folder: pathlib.Path, change) -> None:
    """Replace the folder's weights with ``change(dict of name -> array)``."""
    path = folder / "model.safetensors"
    save_file(change(load_file(str(path))), str(path), metadata={"format": "pt"})


def model_pipeline(embeddings: BertEmbeddings):
    """Document, sentences and tokens by the rule stages, then ``embeddings``: ready to run."""
    from pyspark.ml import PipelineModel

    from sparktext import TokenizerModel

    return PipelineModel(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(inputCols=["document"], outputCol="sentence"),
        TokenizerModel(inputCols=["sentence"], outputCol="token"),
        embeddings.setInputCols("sentence", "token"),
    ])


# -- 1. tokenizer files ----------------------------------------------------------------------

def test_a_checkpoint_without_tokenizer_files_is_refused(tmp_path, tiny_bert_path):
    folder = copy_of(tiny_bert_path, tmp_path / "no_tokenizer")
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(ModelFileError, match=r"no_tokenizer: no tokenizer files \(needs one of \['tokenizer.json', 'vocab.txt'\]\)"):
        BertEmbeddings.loadSavedModel(str(folder))


def test_another_models_tokenizer_is_refused(tmp_path, tiny_bert_path, minilm_path):
    folder = copy_of(tiny_bert_path, tmp_path / "wrong_tokenizer")
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(minilm_path, name), folder / name)
    vocab_size = json.loads((folder / "config.json").read_text())["vocab_size"]
    with pytest.raises(ModelFileError, match=rf"tokenizer \(tokenizer.json\) has 30522 entries but config.json's vocab_size is {vocab_size}"):
        BertEmbeddings.loadSavedModel(str(folder))


def test_a_vocab_txt_alone_is_enough(tmp_path, tiny_bert_path):
    folder = copy_of(tiny_bert_path, tmp_path / "vocab_only")
    (folder / "tokenizer.json").unlink()
    assert BertEmbeddings.loadSavedModel(str(folder)).getDimension() == 32


def test_added_tokens_travel_with_a_saved_stage(spark, tmp_path, tiny_bert_path):
    """``added_tokens.json`` (old checkpoints keep their added words there) changes how words
    are cut: a saved stage -- what another machine gets -- must carry it."""
    from transformers import BertModel

    folder = copy_of(tiny_bert_path, tmp_path / "added")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    added_id = len((folder / "vocab.txt").read_text().splitlines())
    (folder / "added_tokens.json").write_text(json.dumps({"zebrafish": added_id}))
    model = BertModel.from_pretrained(str(folder))
    model.resize_token_embeddings(added_id + 1, mean_resizing=False)
    model.save_pretrained(str(folder))
    BertEmbeddings.loadSavedModel(str(folder)).write().save(str(tmp_path / "saved"))
    shutil.rmtree(folder)

    pipeline = model_pipeline(BertEmbeddings.load(str(tmp_path / "saved")))
    annotations = LightPipeline(pipeline).fullAnnotate("zebrafish hello")[0]["embeddings"]
    assert [a.metadata["token"] for a in annotations] == ["zebrafish", "hello"]
    assert annotations[0].metadata["pieceId"] == str(added_id)


# -- 2. weights that do not fit the model --------------------------------------------------

def test_weights_under_another_prefix_are_refused(tmp_path, tiny_bert_path):
    """A converted Lightning checkpoint names its weights ``model.bert.*``: transformers would
    load none of them and run random weights."""
    folder = copy_of(tiny_bert_path, tmp_path / "lightning")
    rewrite_weights(folder, lambda weights: {f"model.bert.{k}": v for k, v in weights.items()})
    with pytest.raises(ModelFileError, match=r"weights missing .*random numbers.*prefix 'model.bert.'"):
        BertEmbeddings.loadSavedModel(str(folder))


def test_a_later_process_checks_the_same_model_without_torch(tmp_path, tiny_bert_path):
    """The encoder's layout (built on torch's meta device) is cached: a second process -- a
    second run of the command line -- refuses the same broken weights, and accepts good
    ones, without importing torch or transformers (seconds and hundreds of MB each)."""
    import subprocess
    import sys

    good = copy_of(tiny_bert_path, tmp_path / "good")
    broken = copy_of(tiny_bert_path, tmp_path / "broken")
    rewrite_weights(broken, lambda weights: {f"model.bert.{k}": v for k, v in weights.items()})
    script = (
        "import json, sys\n"
        "from sparktext.errors import ModelFileError\n"
        "from sparktext.pretrained.checkpoint import read_checkpoint_config\n"
        f"hidden = read_checkpoint_config({str(good)!r})['hidden_size']\n"
        "try:\n"
        f"    read_checkpoint_config({str(broken)!r}); error = None\n"
        "except ModelFileError as caught:\n"
        "    error = str(caught)\n"
        "print(json.dumps({'hidden': hidden, 'error': error, 'imported': "
        "sorted(m for m in ('torch', 'transformers') if m in sys.modules)}))\n"
    )
    env = {**os.environ, "SPARKTEXT_CACHE": str(tmp_path / "cache")}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1]) for _ in range(2)]
    assert runs[0]["imported"] == ["torch", "transformers"] and runs[1]["imported"] == []
    assert runs[1]["hidden"] == runs[0]["hidden"] == 32
    assert runs[1]["error"] == runs[0]["error"] and "prefix 'model.bert.'" in runs[1]["error"]


def test_a_cache_write_that_fails_midway_leaves_no_partial_file(tmp_path, monkeypatch, caplog):
    """A full disk while a derived cache entry (tokenizer, encoder layout) is written: the
    entry is not cached, the half-written file is removed, and the next read builds again."""
    import errno

    from sparktext.pretrained import checkpoint

    def disk_full(value, handle):
        handle.write('{"half": ')
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.json, "dump", disk_full)
    path = tmp_path / "cache" / "entry.json"
    with caplog.at_level("WARNING", logger="sparktext.pretrained.checkpoint"):
        checkpoint.write_derived(str(path), {"key": "value"})
    assert "No space left" in caplog.text
    assert os.listdir(path.parent) == []
    assert checkpoint.read_derived(str(path)) is None


def test_a_missing_layer_is_refused(tmp_path, tiny_bert_path):
    folder = copy_of(tiny_bert_path, tmp_path / "missing_layer")
    rewrite_weights(folder, lambda weights: {k: v for k, v in weights.items() if not k.startswith("encoder.layer.1.")})
    with pytest.raises(ModelFileError, match=r"missing_layer: .*\d+ weights missing \(e.g. encoder.layer.1"):
        BertEmbeddings.loadSavedModel(str(folder))


def test_unexpected_and_misshapen_weights_are_refused(tmp_path, tiny_bert_path):
    extra = copy_of(tiny_bert_path, tmp_path / "extra_layer")
    rewrite_weights(extra, lambda weights: {**weights, "encoder.layer.2.output.dense.weight": np.zeros((32, 64), np.float32)})
    with pytest.raises(ModelFileError, match=r"1 unexpected \(e.g. encoder.layer.2.output.dense.weight\)"):
        BertEmbeddings.loadSavedModel(str(extra))
    misshapen = copy_of(tiny_bert_path, tmp_path / "misshapen")
    rewrite_weights(misshapen, lambda weights: {**weights, "embeddings.word_embeddings.weight": np.zeros((7, 32), np.float32)})
    with pytest.raises(ModelFileError, match=r"of another shape \(embeddings.word_embeddings.weight \[7, 32\]"):
        BertEmbeddings.loadSavedModel(str(misshapen))


def test_task_models_and_tensorflow_era_names_load(tmp_path, tiny_bert_path):
    """What transformers reads correctly is accepted: a masked-LM checkpoint (encoder under
    ``bert.``, a head beside it, no pooler) and LayerNorm ``gamma``/``beta`` names."""
    from transformers import BertForMaskedLM

    masked_lm = copy_of(tiny_bert_path, tmp_path / "masked_lm")
    (masked_lm / "model.safetensors").unlink()
    BertForMaskedLM.from_pretrained(tiny_bert_path).save_pretrained(str(masked_lm), safe_serialization=True)
    keys = load_file(str(masked_lm / "model.safetensors")).keys()
    assert any(k.startswith("cls.") for k in keys) and not any("pooler" in k for k in keys)
    assert BertEmbeddings.loadSavedModel(str(masked_lm)).getDimension() == 32

    old_names = copy_of(tiny_bert_path, tmp_path / "gamma_beta")
    rewrite_weights(old_names, lambda weights: {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in weights.items()
    })
    assert BertEmbeddings.loadSavedModel(str(old_names)).getDimension() == 32


# -- 8. links leaving the folder -------------------------------------------------------------

def test_a_link_leaving_the_folder_is_refused_and_never_saved(spark, tmp_path, tiny_bert_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    folder = copy_of(tiny_bert_path, tmp_path / "linked")
    (folder / "vocab.txt").rename(tmp_path / "vocab_outside.txt")
    (folder / "vocab.txt").symlink_to(tmp_path / "vocab_outside.txt")
    with pytest.raises(ModelFileError, match=r"linked/vocab.txt is a link to .*vocab_outside.txt, outside the model folder"):
        BertEmbeddings.loadSavedModel(str(folder))
    stage = BertEmbeddings(modelPath=str(folder))  # built by hand: refused when it is used or saved
    with pytest.raises(ModelFileError, match="outside the model folder"):
        stage.write().save(str(tmp_path / "saved"))
    assert not any(p.read_bytes() == b"password" for p in (tmp_path / "saved").rglob("*") if p.is_file())


def test_links_inside_the_folder_and_the_hub_cache_layout_are_followed(tmp_path, tiny_bert_path):
    inside = copy_of(tiny_bert_path, tmp_path / "inside")
    (inside / "vocab.txt").rename(inside / "vocab.original")
    (inside / "vocab.txt").symlink_to(inside / "vocab.original")
    assert BertEmbeddings.loadSavedModel(str(inside)).getDimension() == 32
    # huggingface_hub's cache: snapshots/<revision>/<file> -> ../../blobs/<hash>
    repo = tmp_path / "models--org--tiny"
    snapshot, blobs = repo / "snapshots" / "abc123", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for number, name in enumerate(sorted(os.listdir(tiny_bert_path))):
        shutil.copyfile(os.path.join(tiny_bert_path, name), blobs / f"blob{number}")
        (snapshot / name).symlink_to(os.path.join("..", "..", "blobs", f"blob{number}"))
    assert BertEmbeddings.loadSavedModel(str(snapshot)).getDimension() == 32


# -- 9. non-finite numbers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def nan_bert_path(tmp_path_factory, tiny_bert_path):
    folder = copy_of(tiny_bert_path, tmp_path_factory.mktemp("nan") / "nan_bert")

    def poison(weights):
        weights["encoder.layer.1.output.dense.bias"][0] = np.nan  # through the last LayerNorm: every vector
        return weights

    rewrite_weights(folder, poison)
    return str(folder)


@pytest.mark.parametrize("engine", ["torch", "onnx", "openvino"])
def test_non_finite_vectors_fail_naming_the_model(nan_bert_path, engine, tmp_path):
    """PyTorch fails at the first batch; ONNX Runtime and OpenVINO when the export is checked
    (torch computes the reference there)."""
    if not is_installed(engine):
        pytest.skip(f"{engine} is not installed")
    with pytest.raises(ModelOutputError, match=r"nan_bert computed NaN or infinite vectors \((torch|onnx|openvino), fp32"):
        BertEngine(nan_bert_path, EngineOptions("cpu", "fp32", engine, cache_root=str(tmp_path))).embed([["hello", "world"]])
    if engine == "torch":
        with pytest.raises(ModelOutputError, match="NaN or infinite"):
            BertEngine(nan_bert_path, EngineOptions("cpu", "fp32", engine)).embed_sentences(["hello world"], pooling="mean")


def test_non_finite_vectors_fail_in_a_pipeline(spark, nan_bert_path):
    model = model_pipeline(BertEmbeddings.loadSavedModel(nan_bert_path))
    with pytest.raises(ModelOutputError, match="nan_bert computed NaN"):
        LightPipeline(model).annotate("Hello world.")
    df = spark.createDataFrame([("Hello world.",)], "text string")
    with pytest.raises(Exception, match="nan_bert computed NaN or infinite vectors"):
        model.transform(df).collect()


# -- 10. late or wrong errors ---------------------------------------------------------------

def test_pooler_vectors_without_a_pooler_are_refused_before_any_job(spark, tmp_path, tiny_bert_path, job_ids_during, caplog):
    from transformers import BertModel

    folder = copy_of(tiny_bert_path, tmp_path / "no_pooler")
    (folder / "model.safetensors").unlink()
    BertModel.from_pretrained(tiny_bert_path, add_pooling_layer=False).save_pretrained(str(folder), safe_serialization=True)
    with caplog.at_level("WARNING", logger="sparktext"):
        stage = BertSentenceEmbeddings.loadSavedModel(str(folder)).setInputCols("sentence")
    assert "no pooler weights" in caplog.text
    df = SentenceDetector(inputCols=["document"], outputCol="sentence").transform(
        DocumentAssembler(inputCol="text").transform(spark.createDataFrame([("Hello world.",)], "text string"))
    )
    with pytest.raises(ModelFileError, match=r"no_pooler has no pooler weights .*setPoolingStrategy\('mean'\)"):
        assert job_ids_during(lambda: stage.transform(df)) == []
    vectors = stage.setPoolingStrategy("mean").transform(df).first().sentence_embeddings
    assert len(vectors[0].embeddings) == 32


def test_a_sentence_model_for_token_vectors_is_named_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKTEXT_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"'sent_bert_base_cased' is a sentence model; load it with BertSentenceEmbeddings"):
        BertEmbeddings.pretrained("sent_bert_base_cased")
    with pytest.raises(ValueError, match=r"'bert_base_cased' is a token model; load it with BertEmbeddings"):
        BertSentenceEmbeddings.pretrained("bert_base_cased")


def test_an_upper_case_name_is_not_called_a_path():
    # Found as the catalog's bert_base_cased (a token model), before anything is downloaded.
    with pytest.raises(ValueError, match=r"'bert_base_cased' is a token model; load it with BertEmbeddings"):
        BertSentenceEmbeddings.pretrained("BERT_BASE_CASED")


def test_a_fresh_checkpoint_is_checked_again_after_its_files_change(tmp_path, tiny_bert_path):
    """The check is remembered per process by the files' fingerprint: replacing the weights
    with broken ones at the same path is checked anew."""
    folder = copy_of(tiny_bert_path, tmp_path / "changes")
    BertEmbeddings.loadSavedModel(str(folder))
    rewrite_weights(folder, lambda weights: {f"model.{k}": v for k, v in weights.items()})
    with pytest.raises(ModelFileError, match="prefix 'model.'"):
        BertEmbeddings.loadSavedModel(str(folder))


def test_the_tiny_test_model_passes(tmp_path):
    """The checks accept what transformers' own save_pretrained writes (every test model)."""
    folder = build_tiny_bert(tmp_path / "fresh", lowercase=True)
    assert BertEmbeddings.loadSavedModel(folder).getCaseSensitive() is False
