"""Which engine runs the model (auto's choice, clear errors), and the ONNX export behind ONNX
Runtime and OpenVINO: made once per machine, cached by content, never half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sparktext.inference import export, runtimes
from sparktext.inference.device import EngineOptions
from sparktext.inference.engine import BertEngine, get_engine
from sparktext.inference.runtimes import EngineNotAvailableError, choose_engine


@pytest.fixture
def installed(monkeypatch):
    """``installed({"torch", "onnx"})``: pretend only these engines' packages are installed."""

    def pretend(engines: set[str]) -> None:
        monkeypatch.setattr(runtimes, "is_installed", lambda engine: engine in engines)

    return pretend


def test_auto_takes_the_fastest_installed_engine_for_the_device_and_precision(installed):
    installed({"torch", "onnx", "openvino"})
    assert choose_engine("auto", "cpu", "fp32") == "openvino"
    assert choose_engine("auto", "cpu", "bf16") == "openvino"
    assert choose_engine("auto", "cpu", "fp16") == "torch"  # neither ONNX engine runs fp16 on a CPU
    assert choose_engine("auto", "cuda:0", "fp16") == "torch"
    installed({"torch", "onnx"})  # no OpenVINO: skipped
    assert choose_engine("auto", "cpu", "fp32") == "onnx"
    assert choose_engine("auto", "cpu", "bf16") == "torch"
    installed({"torch"})
    assert choose_engine("auto", "cpu", "fp32") == "torch"


def test_an_engine_asked_for_by_name_is_checked_with_a_clear_error(installed):
    installed({"torch", "onnx"})
    with pytest.raises(EngineNotAvailableError, match=r"engine 'openvino' is not installed here: pip install openvino"):
        choose_engine("openvino", "cpu", "fp32")
    with pytest.raises(EngineNotAvailableError, match=r"engine 'onnx' does not run bf16 on cpu \(it runs fp32 on cpu"):
        choose_engine("onnx", "cpu", "bf16")
    with pytest.raises(EngineNotAvailableError, match=r"'openvino' does not run fp16 on cuda"):
        choose_engine("openvino", "cuda:0", "fp16")
    with pytest.raises(ValueError, match=r"engine must be one of \['auto', 'torch', 'onnx', 'openvino'\], got 'tensorflow'"):
        choose_engine("tensorflow", "cpu", "fp32")


def test_a_stage_with_an_engine_that_cannot_run_fails_before_any_job(spark, tiny_bert_path, job_ids_during, installed):
    from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer

    df = spark.createDataFrame([("Hello world.",)], "text string")
    sentences = SentenceDetector().transform(DocumentAssembler(inputCol="text").transform(df))
    tokens = Tokenizer(inputCols=["sentence"]).fit(sentences).transform(sentences)
    stage = BertEmbeddings.loadSavedModel(tiny_bert_path).setEngine("onnx").setDevice("cpu").setPrecision("bf16")
    with pytest.raises(EngineNotAvailableError, match=r"BertEmbeddings \(uid .*\): engine 'onnx' does not run bf16"):
        job_ids_during(lambda: stage.transform(tokens))
    assert job_ids_during(lambda: None) == []
    installed({"torch"})
    with pytest.raises(EngineNotAvailableError, match=r"engine 'openvino' is not installed"):
        stage.setEngine("openvino").setPrecision("fp32").transform(tokens)
    with pytest.raises(ValueError, match="engine must be one of"):
        stage.setEngine("tensorflow")


def test_every_engine_gives_the_same_vectors_through_spark(spark, tiny_bert_path):
    from pyspark.ml import Pipeline

    from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer

    df = spark.createDataFrame([("Hello world. The dog and the cat!",), ("Jane said hello",), (None,)], "text string")

    def vectors(engine: str) -> np.ndarray:
        stage = BertEmbeddings.loadSavedModel(tiny_bert_path).setEngine(engine).setPoolingStrategy("mean")
        pipeline = Pipeline(stages=[
            DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]),
            stage.setInputCols("sentence", "token"),
        ])
        rows = pipeline.fit(df).transform(df).select("embeddings").collect()
        return np.array([a.embeddings for r in rows for a in r.embeddings])

    expected = vectors("torch")
    assert expected.shape == (12, 32)  # 9 + 3 tokens
    for engine in ("onnx", "openvino", "auto"):
        np.testing.assert_allclose(vectors(engine), expected, atol=1e-5)


def test_the_export_is_cached_by_content_not_by_path(tiny_bert_path, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    graph = export.onnx_graph(tiny_bert_path, cache)
    exports = []
    real_export = export._export
    monkeypatch.setattr(export, "_export", lambda *a: (exports.append(a), real_export(*a)))
    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert_path, copy)
    assert export.onnx_graph(str(copy), cache) == graph  # same content elsewhere: no new export
    assert exports == []
    from conftest import build_tiny_bert

    other = build_tiny_bert(tmp_path / "other", seed=1)  # other weights
    assert export.onnx_graph(other, cache) != graph
    assert len(exports) == 1
    assert sorted(n for n in os.listdir(os.path.join(cache, "onnx")) if not n.endswith(".lock")) == sorted(
        {os.path.basename(os.path.dirname(graph)), os.path.basename(os.path.dirname(export.onnx_graph(other, cache)))}
    )


def test_processes_sharing_a_machine_export_once(tiny_bert_path, tmp_path):
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
        from sparktext.inference.export import onnx_graph
        print("GRAPH", onnx_graph({tiny_bert_path!r}, {str(cache)!r}))
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(3)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-2000:] for _, err in outputs]
    graphs = {line for out, _ in outputs for line in out.splitlines() if line.startswith("GRAPH")}
    assert len(graphs) == 1
    assert sum(out.count("exported") for out, _ in outputs) == 1
    entries = [n for n in os.listdir(cache / "onnx") if not n.endswith(".lock")]
    assert len(entries) == 1 and not entries[0].startswith(".")  # no half-written export left


def test_a_failed_export_leaves_nothing_and_auto_falls_back_to_torch(tiny_bert_path, tmp_path, monkeypatch, caplog):
    def failing(model_path, destination):
        with open(destination, "w") as handle:  # half-written, then the exporter gives up
            handle.write("partial")
        raise export.ExportError(f"{model_path}: torch.onnx.export failed: unsupported operator")

    monkeypatch.setattr(export, "_export", failing)
    cache = tmp_path / "cache"
    with pytest.raises(export.ExportError, match="unsupported operator"):
        BertEngine(tiny_bert_path, EngineOptions("cpu", "fp32", engine="openvino", cache_root=str(cache)))
    assert [n for n in os.listdir(cache / "onnx") if not n.endswith(".lock")] == []
    fallback = BertEngine(tiny_bert_path, EngineOptions("cpu", "fp32", engine="auto", cache_root=str(cache)))
    assert fallback.engine == "torch"
    assert "running it with PyTorch instead" in caplog.text
    assert fallback.embed([["hello", "world"]]).vectors.shape == (2, 32)


def test_a_model_folder_replaced_at_the_same_path_gets_a_new_engine(tiny_bert_path, tmp_path):
    from conftest import build_tiny_bert

    folder = tmp_path / "model"
    shutil.copytree(tiny_bert_path, folder)
    before = get_engine(str(folder), EngineOptions("cpu", "fp32", "torch")).embed([["hello", "world"]]).vectors
    shutil.rmtree(folder)
    build_tiny_bert(folder, seed=7)  # same path, other weights
    after = get_engine(str(folder), EngineOptions("cpu", "fp32", "torch")).embed([["hello", "world"]]).vectors
    assert not np.allclose(before, after)
