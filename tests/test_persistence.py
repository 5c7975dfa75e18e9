"""Every stage, a Pipeline and a PipelineModel save and load with pyspark.ml's writers; a
fresh process that loads them produces identical output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from pyspark.ml import Pipeline, PipelineModel

from sparktext import DocumentAssembler, SentenceDetector, Tokenizer, TokenizerModel

TEXTS = ["Dr. Smith came home. He was late!", "state-of-the-art; New York\n\nsecond para", None, "漢字 👩‍👩‍👧 ok."]


def configured_stages():
    return [
        DocumentAssembler(inputCol="text", cleanupMode="shrink"),
        SentenceDetector(customBounds=[";"], customBoundsStrategy="append", minLength=2),
        Tokenizer(inputCols=["sentence"], exceptions=["New York"], splitChars=["-"], maxLength=50),
    ]


def rows_as_json(df):
    return json.dumps([row.asDict(recursive=True) for row in df.select("sentence", "token").collect()], sort_keys=True)


@pytest.fixture(scope="module")
def data(spark):
    return spark.createDataFrame([(t,) for t in TEXTS], "text string")


@pytest.mark.parametrize("index", range(3))
def test_each_stage_round_trips_its_params(spark, tmp_path, index):
    stage = configured_stages()[index]
    path = str(tmp_path / "stage")
    stage.save(path)
    loaded = type(stage).load(path)
    assert loaded.uid == stage.uid
    assert {p.name: v for p, v in loaded.extractParamMap().items()} == {
        p.name: v for p, v in stage.extractParamMap().items()
    }


def test_tokenizer_model_round_trips(spark, data, tmp_path):
    docs = SentenceDetector().transform(DocumentAssembler(inputCol="text").transform(data))
    model = Tokenizer(inputCols=["sentence"], exceptions=["New York"]).fit(docs)
    model.save(str(tmp_path / "model"))
    loaded = TokenizerModel.load(str(tmp_path / "model"))
    assert loaded.getExceptions() == ["New York"]
    assert rows_as_json(loaded.transform(docs)) == rows_as_json(model.transform(docs))


def test_pipeline_and_model_load_in_a_fresh_process(spark, data, tmp_path):
    pipeline = Pipeline(stages=configured_stages())
    pipeline.save(str(tmp_path / "pipeline"))
    model = pipeline.fit(data)
    model.save(str(tmp_path / "model"))
    expected = rows_as_json(model.transform(data))
    assert rows_as_json(Pipeline.load(str(tmp_path / "pipeline")).fit(data).transform(data)) == expected

    script = textwrap.dedent(
        f"""
        import json, sys
        import sparktext
        from pyspark.ml import Pipeline, PipelineModel
        spark = sparktext.start(master="local[1]")
        data = spark.createDataFrame([(t,) for t in {TEXTS!r}], "text string")
        model = PipelineModel.load({str(tmp_path / "model")!r})
        refit = Pipeline.load({str(tmp_path / "pipeline")!r}).fit(data)
        out = [json.dumps([r.asDict(recursive=True) for r in m.transform(data).select("sentence", "token").collect()],
                          sort_keys=True) for m in (model, refit)]
        sys.stdout.write("RESULT" + json.dumps(out))
        """
    )
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    from_model, from_pipeline = json.loads(completed.stdout.split("RESULT", 1)[1])
    assert from_model == expected
    assert from_pipeline == expected
    assert isinstance(PipelineModel.load(str(tmp_path / "model")).stages[2], TokenizerModel)
