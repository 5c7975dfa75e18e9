"""Every example runs and does what it says (on the shared session; quickstart also as a script)."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys


EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {"quickstart", "embed_to_parquet", "text_classifier", "similarity_search", "save_and_load"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart_runs_as_a_script():
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Jane's" in done.stdout and "384 floats" in done.stdout


def test_quickstart_gives_a_vector_per_token(spark, minilm_path):
    rows = load_example("quickstart").main([], spark=spark)
    tokens = [a.result for a in rows[0].embeddings]
    assert tokens[:6] == ["I'd", "like", "to", "say", "we", "didn't"]
    assert all(len(a.embeddings) == 384 for row in rows for a in row.embeddings)


def test_embed_to_parquet_writes_plain_vectors(spark, minilm_path, tmp_path):
    written = load_example("embed_to_parquet").main(["--model", "all_minilm_l6_v2", str(EXAMPLES / "data" / "sample.jsonl"),
                                                     str(tmp_path / "out")], spark=spark)
    assert written.columns == ["id", "text", "tokens", "vectors"]
    assert written.schema["vectors"].dataType.simpleString() == "array<array<float>>"
    for row in written.collect():
        assert len(row.vectors) == len(row.tokens)


def test_text_classifier_learns_the_topics(spark, minilm_path):
    accuracy = load_example("text_classifier").main([], spark=spark)
    assert accuracy >= 0.9


def test_similarity_search_finds_the_paraphrase(spark, minilm_path):
    top = load_example("similarity_search").main(["how long do I cook noodles?"], spark=spark)
    assert top[0] == "Boil the pasta for about ten minutes in plenty of salted water."


def test_save_and_load_gives_identical_vectors(spark, minilm_path, tmp_path):
    assert load_example("save_and_load").main([str(tmp_path / "saved")], spark=spark) is True
