"""Spark Connect: the full pipeline from a Connect client (a server started on loopback by
PySpark's own ``SparkSession.builder.remote("local[2]")``), the model shipped as session
artifacts -- its folder is deleted on the client before the job runs."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pyspark
import pytest
from pyspark.ml import PipelineModel

from sparktext import BertEmbeddings, DocumentAssembler, LightPipeline, SentenceDetector, TokenizerModel

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    tuple(int(p) for p in pyspark.__version__.split(".")[:2]) < (4, 0),
    reason="PySpark 3.5's package has no Spark Connect server (a separate jar that --packages fetches online)",
)
def test_full_pipeline_from_a_connect_client(tmp_path, tiny_bert_path):
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect] (the test extra installs it)")
    model = tmp_path / "model_copy"
    shutil.copytree(tiny_bert_path, model)
    output = tmp_path / "connect.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "cluster_job.py"), "connect:local[2]", str(model), str(output)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYSPARK_PYTHON": sys.executable},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    answer = json.loads(output.read_text())
    assert not model.exists()  # the job ran after the client's folder was gone
    assert answer["rows"] == 60
    light = LightPipeline(PipelineModel(stages=[
        DocumentAssembler(inputCol="text"), SentenceDetector(), TokenizerModel(inputCols=["sentence"]),
        BertEmbeddings.loadSavedModel(tiny_bert_path).setInputCols("sentence", "token").setPrecision("fp32"),
    ]), parse_embeddings=True)
    expected = [a.embeddings for annotated in light.fullAnnotate(answer["texts"]) for a in annotated["embeddings"]]
    assert len(answer["vectors"]) == len(expected) > 100
    np.testing.assert_allclose(np.array(answer["vectors"]), np.array(expected), atol=1e-5)
