"""Batch embedding: a whole DataFrame read from a file, embedded, written to Parquet with the
vectors as plain float arrays next to the input columns.

Run: ``.venv/bin/python examples/embed_to_parquet.py [INPUT.jsonl] [OUTPUT_FOLDER]``
"""

from __future__ import annotations

import argparse
import pathlib

from pyspark.ml import Pipeline

import sparktext
from sparktext import BertEmbeddings, DocumentAssembler, EmbeddingsFinisher, Finisher, SentenceDetector, Tokenizer

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str] | None = None, spark=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=str(HERE / "data" / "sample.jsonl"))
    parser.add_argument("output", nargs="?", default="output/embedded_parquet")
    parser.add_argument("--model", default="all_minilm_l6_v2")
    args = parser.parse_args(argv)
    spark = spark or sparktext.start()

    df = spark.read.json(args.input)
    pipeline = Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(),
        Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.pretrained(args.model, "en").setInputCols("sentence", "token"),
        # token texts and their vectors as plain columns; the annotation columns are dropped
        Finisher(inputCols=["token"], outputCols=["tokens"], cleanAnnotations=False),
        EmbeddingsFinisher(inputCols=["embeddings"], outputCols=["vectors"], cleanAnnotations=True),
    ])
    pipeline.fit(df).transform(df).write.mode("overwrite").parquet(args.output)

    written = spark.read.parquet(args.output)
    written.printSchema()
    print(f"{written.count()} rows written to {args.output}")
    return written


if __name__ == "__main__":
    main()
