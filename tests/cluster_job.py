"""The full pipeline on a given master, for tests that need their own Spark (another master).

Usage: python tests/cluster_job.py MASTER MODEL_FOLDER OUTPUT_JSON

MASTER ``connect:<master>`` runs as a Spark Connect client of a server started on loopback
for ``<master>``; there the model folder is deleted after ``transform()`` and before the job,
so only the shipped copy can serve. Writes the row count, every token vector in row order,
and each Python worker's model loads (path, count) as JSON.
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa
from pyspark.ml import Pipeline
from pyspark.sql.types import StringType

import sparktext
from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer
from sparktext.stages._bert_model import model_worker_pool
from sparktext.stages._spark_udf import with_batch_column

TEXTS = [
    "Hello world. The dog was a friend!",
    "Jane didn't expect that, they say.",
    None,
    "",
    "A cat and a dog in the time of the world. " * 3,
    "👩‍👩‍👧 漢字 ok.",
]


def report_loads(ids: pa.Array) -> pa.Array:
    from sparktext.inference.engine import _LOADS

    return pa.array([json.dumps([[key[0], count] for key, count in _LOADS.items()])] * len(ids))


def main(master: str, model_folder: str, output: str) -> None:
    connect = master.startswith("connect:")
    if connect:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.remote(master[len("connect:"):]).getOrCreate()
    else:
        spark = sparktext.start(master=master)
        spark.sparkContext.setLogLevel("ERROR")
    rows = [(number, TEXTS[number % len(TEXTS)]) for number in range(60)]
    df = spark.createDataFrame(rows, "id int, text string").repartition(4)
    pipeline = Pipeline(stages=[
        DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.loadSavedModel(model_folder).setInputCols("sentence", "token").setPrecision("fp32"),
    ])
    transformed = pipeline.fit(df).transform(df)
    if connect:
        import shutil

        shutil.rmtree(model_folder)
    result = transformed.select("id", "embeddings").orderBy("id").collect()
    vectors = [a.embeddings for row in result for a in row.embeddings]
    with model_worker_pool(spark):  # the probe runs in the workers that ran BertEmbeddings
        probed = with_batch_column(spark.range(0, 64, 1, 16), "loads", report_loads, ["id"], StringType(), {})
    probes = probed.select("loads").collect()
    loads = {(path, count) for probe in probes for path, count in json.loads(probe.loads)}
    with open(output, "w", encoding="utf-8") as handle:
        json.dump({"rows": len(result), "texts": [TEXTS[n % len(TEXTS)] for n in range(60)], "vectors": vectors,
                   "loads": sorted(loads)}, handle)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
