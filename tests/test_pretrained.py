"""Named models: the catalog, each step of pretrained() resolution and each way it can fail,
safe loading, self-contained persistence, and shipping the model to executor JVMs.

No network: model folders are built here; the hub is a mirror on loopback (HF_ENDPOINT),
huggingface_hub's own offline mode over a cache laid out as it writes one, or an endpoint that
refuses connections.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import pathlib
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel

from conftest import build_tiny_bert
from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer
from sparktext.errors import ModelFileError, ModelNotFoundError, SparktextError
from sparktext.pretrained import find_model, list_models, resolve_pretrained
from sparktext.stages._model_storage import cache_folder

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEXTS = ["Hello world. The dog was a friend!", "Jane didn't expect that, they say.", None, ""]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty sparktext cache folder, through the environment variable."""
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("SPARKTEXT_CACHE", str(folder))
    return folder


def fake_base_cased(folder, seed=0):
    """A random model with bert_base_cased's hidden size, to stand in for the real download."""
    return build_tiny_bert(folder, hidden_size=768, seed=seed)


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (nothing cached in memory) with ``env`` added."""
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=600
    )


# -- catalog ------------------------------------------------------------------------------------
def test_catalog_has_the_models_users_ask_for():
    models = {(m.name, m.lang): m for m in list_models()}
    expected = {
        ("bert_base_cased", "en"): ("google-bert/bert-base-cased", 768, True),
        ("bert_large_cased", "en"): ("google-bert/bert-large-cased", 1024, True),
        ("bert_multi_cased", "xx"): ("google-bert/bert-base-multilingual-cased", 768, True),
        ("bert_base_uncased", "en"): ("google-bert/bert-base-uncased", 768, False),
        ("all_minilm_l6_v2", "en"): ("sentence-transformers/all-MiniLM-L6-v2", 384, False),
        ("bert_large_uncased", "en"): ("google-bert/bert-large-uncased", 1024, False),
        ("small_bert_L2_128", "en"): ("google/bert_uncased_L-2_H-128_A-2", 128, False),
        ("sent_small_bert_L2_128", "en"): ("google/bert_uncased_L-2_H-128_A-2", 128, False),
    }
    for key, (repo, dimension, cased) in expected.items():
        entry = models[key]
        assert (entry.hub_repo, entry.dimension, entry.case_sensitive) == (repo, dimension, cased)
    # main of Google's small-BERT repositories holds only pickles: the pin is a full commit hash.
    assert re.fullmatch(r"[0-9a-f]{40}", models["small_bert_L2_128", "en"].revision)
    # Spark NLP's model-card spelling, and ours in lower case, name the same entry.
    assert find_model("small_bert_L2_128", "en") is find_model("SMALL_BERT_L2_128") is find_model("small_bert_l2_128")
    with pytest.raises(KeyError, match="small_bert_L2_128/en"):
        find_model("small_bert_L2_12", "en")


def test_unknown_name_raises_key_error_naming_close_matches():
    with pytest.raises(KeyError, match="bert_base_cased/en"):
        find_model("bert_base_cassed", "en")
    with pytest.raises(KeyError, match="has no language 'de'; it exists for: en"):
        BertEmbeddings.pretrained("bert_base_cased", "de")


@pytest.mark.parametrize("name, lang", [("../x", "en"), ("a/b", "en"), ("/etc", "en"), ("bert_base_cased", "../en")])
def test_names_that_look_like_paths_are_refused(name, lang):
    with pytest.raises(ValueError, match="looks like a path"):
        BertEmbeddings.pretrained(name, lang)


def test_names_are_found_whatever_their_case():
    """Spark NLP's names carry capitals (small_bert_L2_768): a name with capitals is a name, never "a path"."""
    from sparktext.pretrained.catalog import find_model

    assert find_model("BERT_BASE_CASED", "EN") == find_model("bert_base_cased", "en")
    assert find_model("En.Embed.Bert.Base_Cased") == find_model("bert_base_cased")
    with pytest.raises(KeyError, match=r"no model 'bert' for language 'en'; close matches"):
        BertEmbeddings.pretrained("Bert", "en")


# -- resolution, step by step -------------------------------------------------------------------
def test_cache_folder_comes_from_the_environment_then_spark_conf(spark, tmp_path, monkeypatch):
    monkeypatch.delenv("SPARKTEXT_CACHE", raising=False)
    assert cache_folder(spark) == os.path.join(os.path.expanduser("~"), ".cache", "sparktext")
    spark.conf.set("spark.sparktext.cache_folder", str(tmp_path / "from_conf"))
    try:
        assert cache_folder(spark) == str(tmp_path / "from_conf")
        monkeypatch.setenv("SPARKTEXT_CACHE", str(tmp_path / "from_env"))
        assert cache_folder(spark) == str(tmp_path / "from_env")
    finally:
        spark.conf.unset("spark.sparktext.cache_folder")


def test_cache_folder_holds_the_model(cache):
    fake_base_cased(cache / "bert_base_cased_en")
    stage = BertEmbeddings.pretrained("bert_base_cased", "en")
    assert stage.getModelPath() == str(cache / "bert_base_cased_en")
    assert (stage.getDimension(), stage.getCaseSensitive(), stage.getStorageRef()) == (768, True, "bert_base_cased")


def test_remote_loc_comes_before_the_cache(cache, tmp_path):
    fake_base_cased(cache / "bert_base_cased_en", seed=1)
    remote = tmp_path / "remote"
    fake_base_cased(remote / "bert_base_cased_en", seed=2)
    resolved = resolve_pretrained("bert_base_cased", "en", remote_loc=str(remote))
    assert (resolved.source, resolved.folder) == ("remote_loc", str(remote / "bert_base_cased_en"))
    # remote_loc without the model: the cache serves.
    assert resolve_pretrained("bert_base_cased", "en", remote_loc=str(tmp_path / "empty")).source == "cache"


def test_remote_loc_on_a_hadoop_filesystem_is_copied_once_into_the_cache(spark, cache, tmp_path):
    remote = tmp_path / "bucket"
    fake_base_cased(remote / "bert_base_cased_en")
    uri = f"file://{remote}"
    first = BertEmbeddings.pretrained("bert_base_cased", "en", remote_loc=uri).getModelPath()
    assert first.startswith(str(cache / "remote"))
    assert sorted(os.listdir(first)) == sorted(os.listdir(remote / "bert_base_cased_en"))
    shutil.rmtree(remote / "bert_base_cased_en")
    # Gone from the remote location: the error says so rather than serving a stale copy.
    with pytest.raises(ModelNotFoundError, match="remote_loc: file://.*does not exist"):
        BertEmbeddings.pretrained("bert_base_cased", "en", remote_loc=uri)
    # Resolution itself uses no Spark: without a reader of URIs it says what is needed.
    with pytest.raises(SparktextError, match="needs a classic SparkSession"):
        resolve_pretrained("bert_base_cased", "en", remote_loc=uri)


def test_installed_package_serves_after_remote_loc_and_cache(cache, minilm_path):
    resolved = resolve_pretrained("all_minilm_l6_v2", "en")
    assert (resolved.source, os.path.realpath(resolved.folder)) == ("package", os.path.realpath(minilm_path))
    # A copy in the cache folder comes first.
    shutil.copytree(minilm_path, cache / "all_minilm_l6_v2_en")
    assert resolve_pretrained("all_minilm_l6_v2", "en").source == "cache"


def populate_hub_cache(hub_cache: pathlib.Path, repo: str) -> pathlib.Path:
    """A huggingface_hub cache holding ``repo`` at main, laid out as huggingface_hub writes it,
    with files the model does not need beside those it does."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_folder = hub_cache / ("models--" + repo.replace("/", "--"))
    snapshot = repo_folder / "snapshots" / commit
    fake_base_cased(snapshot)
    (snapshot / "README.md").write_text("model card")
    (snapshot / "flax_model.msgpack").write_bytes(b"\0" * 16)
    (repo_folder / "refs").mkdir(parents=True)
    (repo_folder / "refs" / "main").write_text(commit)
    return snapshot


RESOLVE_IN_FRESH_PROCESS = """
    import json
    from sparktext import BertEmbeddings
    from sparktext.pretrained import resolve_pretrained
    resolved = resolve_pretrained("bert_base_cased", "en")
    print(json.dumps({"source": resolved.source, "folder": resolved.folder}))
"""


def test_hub_download_goes_through_huggingface_hub_then_stays_in_the_cache(tmp_path):
    hub_cache = tmp_path / "hub"
    populate_hub_cache(hub_cache, "google-bert/bert-base-cased")
    env = {"SPARKTEXT_CACHE": str(tmp_path / "cache"), "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    first = run_python(RESOLVE_IN_FRESH_PROCESS, env)
    assert first.returncode == 0, first.stderr
    answer = json.loads(first.stdout.splitlines()[-1])
    assert answer == {"source": "hub", "folder": str(tmp_path / "cache" / "bert_base_cased_en")}
    kept = sorted(os.listdir(answer["folder"]))
    assert "model.safetensors" in kept and "config.json" in kept and "vocab.txt" in kept
    assert "README.md" not in kept and "flax_model.msgpack" not in kept
    # The next start needs no hub at all: huggingface_hub's cache gone, the model still resolves.
    shutil.rmtree(hub_cache)
    second = run_python(RESOLVE_IN_FRESH_PROCESS, env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.splitlines()[-1])["source"] == "cache"


class MockHub:
    """A Hugging Face hub mirror on loopback serving one repository from a local folder, with
    the routes huggingface_hub's snapshot_download calls; it records every request."""

    commit = "89abcdef0123456789abcdef0123456789abcdef"

    def __init__(self, repo: str, folder: pathlib.Path) -> None:
        self.files = {path.name: path.read_bytes() for path in folder.iterdir()}
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                hub.answer(self, repo, head=False)

            def do_HEAD(self) -> None:
                hub.answer(self, repo, head=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, handler, repo: str, head: bool) -> None:
        path = handler.path.split("?")[0]
        self.requests.append((handler.command, path))
        headers = {"Content-Type": "application/json"}
        if path.startswith(f"/api/models/{repo}/revision/"):
            body = json.dumps({"id": repo, "sha": self.commit, "siblings": [{"rfilename": f} for f in self.files]})
        elif path.startswith(f"/api/models/{repo}/tree/"):
            body = json.dumps([
                {"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                for f, b in self.files.items()
            ])
        elif (match := re.match(rf"^/{re.escape(repo)}/resolve/[^/]+/(.+)$", path)) and match.group(1) in self.files:
            body = self.files[match.group(1)]
            headers = {"X-Repo-Commit": self.commit, "ETag": f'"{hashlib.sha1(body).hexdigest()}"'}
        else:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = body.encode() if isinstance(body, str) else body
        handler.send_response(200)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(key, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def downloaded(self) -> set[str]:
        return {path.rsplit("/", 1)[-1] for method, path in self.requests if method == "GET" and "/resolve/" in path}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SEED_PIPELINE = """
    import sparktext
    from pyspark.ml import Pipeline, PipelineModel
    from sparktext.annotator import BertEmbeddings, SentenceDetector, Tokenizer
    from sparktext.base import DocumentAssembler
    spark = sparktext.start(master="local[1]")
    df = spark.createDataFrame([("I love NLP. Jane didn't expect that.",)], ["text"])
    embeddings = BertEmbeddings.pretrained("bert_base_cased", "en") \\
        .setInputCols("sentence", "token") \\
        .setOutputCol("embeddings")
    pipeline = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),
        Tokenizer().setInputCols(["sentence"]).setOutputCol("token"),
        embeddings,
    ])
    row = pipeline.fit(df).transform(df).first()
    assert len(row.embeddings) == len(row.token) == 9, (len(row.embeddings), len(row.token))
    assert all(len(a.embeddings) == 768 for a in row.embeddings)
    print("SEED OK", embeddings.getModelPath())
"""


def test_seed_code_works_online_through_a_hub_mirror_then_offline_from_the_cache(tmp_path):
    """The README's pretrained("bert_base_cased", "en") pipeline, first with a hub (a mirror
    on loopback, through HF_ENDPOINT), then with no hub at all."""
    model = pathlib.Path(fake_base_cased(tmp_path / "repo"))
    (model / "README.md").write_text("model card")
    (model / "pytorch_model.bin").write_bytes(b"not needed" * 10)
    hub = MockHub("google-bert/bert-base-cased", model)
    env = {"SPARKTEXT_CACHE": str(tmp_path / "cache"), "HF_HUB_CACHE": str(tmp_path / "hub"),
           "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.endpoint, "PYSPARK_PYTHON": sys.executable}
    try:
        online = run_python(SEED_PIPELINE, env)
    finally:
        hub.stop()
    assert "SEED OK" in online.stdout, online.stderr[-3000:]
    assert online.stdout.strip().endswith(str(tmp_path / "cache" / "bert_base_cased_en"))
    assert "Fetching" in online.stderr  # huggingface_hub's progress bar
    assert hub.downloaded() == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"}
    shutil.rmtree(tmp_path / "hub")
    offline = run_python(SEED_PIPELINE, {**env, "HF_HUB_OFFLINE": "1"})
    assert "SEED OK" in offline.stdout, offline.stderr[-3000:]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("hub_env", ["offline", "unreachable mirror"])
def test_a_model_found_nowhere_names_every_place_looked(tmp_path, hub_env):
    env = {"SPARKTEXT_CACHE": str(tmp_path / "cache"), "HF_HUB_CACHE": str(tmp_path / "hub")}
    if hub_env == "offline":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env.update(HF_HUB_OFFLINE="0", HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", HF_HUB_ETAG_TIMEOUT="2")
    code = f"""
        from sparktext import BertEmbeddings
        BertEmbeddings.pretrained("bert_base_cased", "en", remote_loc={str(tmp_path / "remote")!r})
    """
    result = run_python(code, env)
    assert result.returncode != 0
    message = result.stderr
    assert "ModelNotFoundError: model 'bert_base_cased' (en) was not found" in message
    assert f"remote_loc: {tmp_path / 'remote' / 'bert_base_cased_en'}" in message
    assert f"cache folder: {tmp_path / 'cache' / 'bert_base_cased_en'}" in message
    assert "Hugging Face hub: google-bert/bert-base-cased@main" in message
    assert "hf download google-bert/bert-base-cased --revision " in message  # huggingface_hub's CLI (huggingface-cli is gone)
    assert "--include 'config.json' --include '*.safetensors'" in message


# -- safe loading -------------------------------------------------------------------------------
def test_truncated_or_corrupt_weights_are_named(cache):
    folder = pathlib.Path(fake_base_cased(cache / "bert_base_cased_en"))
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=f"{weights} is truncated or corrupt"):
        BertEmbeddings.pretrained("bert_base_cased", "en")
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + data[100:200])
    with pytest.raises(ModelFileError, match=f"{weights} is corrupt: its safetensors header is not JSON"):
        BertEmbeddings.loadSavedModel(str(folder))


def test_a_folder_holding_another_model_is_refused(cache):
    build_tiny_bert(cache / "bert_large_cased_en", hidden_size=32)
    with pytest.raises(ModelFileError, match="hidden size 32, but bert_large_cased .en. has dimension 1024"):
        BertEmbeddings.pretrained("bert_large_cased", "en")


def test_pickle_checkpoint_refused_unless_opted_in_then_same_vectors(spark, tiny_bert_path, tmp_path, cache):
    import torch
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_path, pickled)
    torch.save(load_file(str(pickled / "model.safetensors")), str(pickled / "pytorch_model.bin"))
    (pickled / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="allow_pickle=True"):
        BertEmbeddings.loadSavedModel(str(pickled))
    converted = BertEmbeddings.loadSavedModel(str(pickled), allow_pickle=True)
    assert converted.getModelPath().startswith(str(cache / "converted"))
    original = BertEmbeddings.loadSavedModel(tiny_bert_path)
    vectors = [embed(stage.setPrecision("fp32"), spark) for stage in (original, converted)]
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


# -- persistence --------------------------------------------------------------------------------
def pipeline_with(stage: BertEmbeddings) -> Pipeline:
    return Pipeline(stages=[
        DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]),
        stage.setInputCols("sentence", "token").setOutputCol("embeddings"),
    ])


def embed(stage: BertEmbeddings, spark) -> np.ndarray:
    df = spark.createDataFrame([(t,) for t in TEXTS], "text string")
    rows = pipeline_with(stage).fit(df).transform(df).select("embeddings").collect()
    return np.array([a.embeddings for r in rows for a in r.embeddings], dtype=np.float32)


def test_saved_pipeline_carries_its_model_and_loads_with_the_original_gone(spark, tiny_bert_path, tmp_path):
    original = tmp_path / "original"
    shutil.copytree(tiny_bert_path, original)
    df = spark.createDataFrame([(t,) for t in TEXTS], "text string")
    model = pipeline_with(BertEmbeddings.loadSavedModel(str(original)).setPrecision("fp32")).fit(df)
    expected = np.array(
        [a.embeddings for r in model.transform(df).select("embeddings").collect() for a in r.embeddings]
    )
    model.save(str(tmp_path / "saved_pipeline"))
    model.stages[-1].save(str(tmp_path / "saved_stage"))
    shutil.rmtree(original)
    np.save(tmp_path / "expected.npy", expected)
    code = f"""
        import numpy as np, sparktext
        from pyspark.ml import PipelineModel
        from sparktext import BertEmbeddings
        spark = sparktext.start(master="local[1]")
        df = spark.createDataFrame([(t,) for t in {TEXTS!r}], "text string")
        expected = np.load({str(tmp_path / "expected.npy")!r})
        model = PipelineModel.load({str(tmp_path / "saved_pipeline")!r})
        rows = model.transform(df).select("embeddings").collect()
        got = np.array([a.embeddings for r in rows for a in r.embeddings])
        assert got.shape == expected.shape, (got.shape, expected.shape)
        assert np.array_equal(got, expected), np.abs(got - expected).max()
        stage = BertEmbeddings.load({str(tmp_path / "saved_stage")!r})
        # The stage reads hard links to the saved files in the cache, not the saved folder.
        assert stage.getModelPath().startswith({str(tmp_path / "empty_cache" / "saved")!r}), stage.getModelPath()
        import os
        weights = os.path.join(stage.getModelPath(), "model.safetensors")
        assert os.path.samefile(weights, {str(tmp_path / "saved_stage" / "model" / "model.safetensors")!r})
        print("IDENTICAL")
    """
    env = {"SPARKTEXT_CACHE": str(tmp_path / "empty_cache"), "HF_HUB_OFFLINE": "1", "PYSPARK_PYTHON": sys.executable}
    result = run_python(code, env)
    assert "IDENTICAL" in result.stdout, result.stderr[-3000:]
    saved_files = sorted(os.listdir(tmp_path / "saved_stage" / "model"))
    assert "model.safetensors" in saved_files and "config.json" in saved_files


def test_saving_over_the_folder_a_pipeline_was_loaded_from_keeps_its_weights(spark, tiny_bert_path, tmp_path, cache):
    df = spark.createDataFrame([(t,) for t in TEXTS], "text string")
    folder = str(tmp_path / "pipeline")
    pipeline_with(BertEmbeddings.loadSavedModel(tiny_bert_path).setPrecision("fp32")).fit(df).save(folder)
    loaded = PipelineModel.load(folder)
    expected = np.array([a.embeddings for r in loaded.transform(df).select("embeddings").collect() for a in r.embeddings])
    loaded.write().overwrite().save(folder)  # deletes the folder before any stage writes
    reloaded = PipelineModel.load(folder)
    got = np.array([a.embeddings for r in reloaded.transform(df).select("embeddings").collect() for a in r.embeddings])
    assert np.array_equal(got, expected)
    shutil.rmtree(folder)  # a loaded pipeline outlives its saved folder too
    again = np.array([a.embeddings for r in reloaded.transform(df).select("embeddings").collect() for a in r.embeddings])
    assert np.array_equal(again, expected)


def test_stage_saved_to_a_hadoop_uri_loads_back(spark, tiny_bert_path, tmp_path, cache):
    stage = BertEmbeddings.loadSavedModel(tiny_bert_path).setBatchSize(3)
    uri = f"file://{tmp_path}/saved"
    stage.write().overwrite().save(uri)
    loaded = BertEmbeddings.load(uri)
    assert loaded.getBatchSize() == 3
    assert loaded.getModelPath().startswith(str(cache / "saved"))
    np.testing.assert_array_equal(embed(loaded, spark), embed(stage, spark))


# -- clusters -----------------------------------------------------------------------------------
def test_model_reaches_executor_jvms_without_a_shared_folder(tiny_bert_path, tmp_path):
    """local-cluster[2,1,1024]: two executor JVMs. The model is shipped by Spark, loaded from
    each executor's own work directory, and the embeddings equal local[1]'s."""
    answers = {}
    for master in ("local[1]", "local-cluster[2,1,1024]"):
        output = tmp_path / f"{master[:7]}.json"
        result = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "cluster_job.py"), master, tiny_bert_path, str(output)],
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYSPARK_PYTHON": sys.executable},
            capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        answers[master] = json.loads(output.read_text())
    local, cluster = answers["local[1]"], answers["local-cluster[2,1,1024]"]
    assert cluster["rows"] == local["rows"] == 60
    np.testing.assert_allclose(np.array(cluster["vectors"]), np.array(local["vectors"]), atol=1e-5)
    cluster_paths = {path for path, _ in cluster["loads"]}
    assert cluster_paths and all(tiny_bert_path not in path for path in cluster_paths), cluster_paths
    assert all(count == 1 for _, count in cluster["loads"])
    assert {path for path, _ in local["loads"]} == {os.path.abspath(tiny_bert_path)}


def test_cache_entries_are_published_once_by_concurrent_writers_and_never_replaced(tiny_bert_path, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from sparktext.pretrained.checkpoint import copy_checkpoint

    destination = str(tmp_path / "cache" / "entry")
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: copy_checkpoint(tiny_bert_path, destination, link=i % 2 == 0), range(15)))
    assert results == [destination] * 15
    assert sorted(os.listdir(tmp_path / "cache")) == ["entry"]  # no staging folder left behind
    first = os.stat(os.path.join(destination, "model.safetensors")).st_ino
    copy_checkpoint(tiny_bert_path, destination)  # a live entry is kept, not replaced
    assert os.stat(os.path.join(destination, "model.safetensors")).st_ino == first
    with pytest.raises(FileNotFoundError):  # a failed copy leaves nothing behind either
        copy_checkpoint(str(tmp_path / "missing"), str(tmp_path / "cache" / "other"))
    assert sorted(os.listdir(tmp_path / "cache")) == ["entry"]


def test_the_catalog_listing_shows_every_alias_the_docs_use():
    from sparktext.pretrained.catalog import CATALOG

    listing = subprocess.run([sys.executable, "-m", "sparktext.pretrained"], capture_output=True, text=True,
                             check=True).stdout
    command = subprocess.run([sys.executable, "-m", "sparktext.cli", "models"], capture_output=True, text=True,
                             check=True).stdout
    assert command == listing and "cache folder: " in listing
    for entry in CATALOG:
        for alias in entry.aliases:
            line = next(line for line in listing.splitlines() if line.startswith(entry.name + " "))
            assert alias in line, (alias, line)
    documented = set(re.findall(r"`(en\.embed[\w.]*)`", (ROOT / "docs" / "light_pipeline.md").read_text()))
    assert documented and all(alias in listing for alias in documented), documented


def test_two_processes_resolving_one_uncached_model_at_once_make_one_copy(tmp_path):
    """Two jobs in two processes ask at the same moment for a model only a remote location
    holds: both get it, from one published copy in the shared cache, with nothing half-written
    left beside it."""
    remote = tmp_path / "bucket"
    fake_base_cased(remote / "bert_base_cased_en")
    cache, start = tmp_path / "cache", tmp_path / "go"
    code = f"""
        import os, sys, time
        import sparktext
        from sparktext import BertEmbeddings
        spark = sparktext.start(master="local[1]")
        open(os.path.join({str(tmp_path)!r}, "ready-" + str(os.getpid())), "w").close()
        while not os.path.exists({str(start)!r}):  # both sessions up: then resolve at once
            time.sleep(0.01)
        stage = BertEmbeddings.pretrained("bert_base_cased", "en", remote_loc={f"file://{remote}"!r})
        print("FOLDER", stage.getModelPath())
    """
    env = {"SPARKTEXT_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYSPARK_PYTHON": sys.executable}
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=environment, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    deadline = time.monotonic() + 300
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    start.touch()
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    folders = {line.split(" ", 1)[1] for out, _ in outputs for line in out.splitlines() if line.startswith("FOLDER ")}
    assert len(folders) == 1  # one copy, which both use
    (folder,) = folders
    assert sorted(os.listdir(folder)) == sorted(os.listdir(remote / "bert_base_cased_en"))
    copies = [path for path in (cache / "remote").rglob("*") if path.is_dir() and path.name.startswith(".")]
    assert copies == []  # no staging folder left behind
