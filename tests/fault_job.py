"""Run the full pipeline twice on ``sparktext.start()``'s default master (``local[*,4]``: tasks
retried up to 4 times) with the fault daemon: the first run loses a worker mid-task, the second runs clean. Writes both results.

Usage: python tests/fault_job.py MODEL_FOLDER OUTPUT_JSON   (SPARKTEXT_FAULT_MARKER set)
"""

from __future__ import annotations

import json
import sys

from pyspark.ml import Pipeline

import sparktext
from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer

TEXTS = ["The dog was a friend. Hello world!", "Jane didn't expect that, they say.", None, "", "A cat. " * 20]


def main(model_folder: str, output: str) -> None:
    # The default master, not one chosen for the test: what a user's job gets must survive this.
    spark = sparktext.start(conf={"spark.python.daemon.module": "fault_daemon"})
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.createDataFrame([(n, TEXTS[n % len(TEXTS)]) for n in range(80)], "id int, text string").repartition(2)
    model = Pipeline(stages=[
        DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.loadSavedModel(model_folder).setInputCols("sentence", "token").setBatchSize(2).setPrecision("fp32"),
    ]).fit(df)
    runs = []
    for _ in range(2):
        rows = model.transform(df).select("id", "token.result", "embeddings.embeddings").orderBy("id").collect()
        runs.append([[row.id, row.result, row.embeddings] for row in rows])
    with open(output, "w", encoding="utf-8") as handle:
        json.dump({"master": spark.sparkContext.master, "runs": runs}, handle)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:3])
