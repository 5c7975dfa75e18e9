"""Semantic similarity search: embed a corpus of sentences once, then rank them against a
query by cosine similarity, computed by Spark SQL next to the data.

Run: ``.venv/bin/python examples/similarity_search.py ["how long do I cook noodles?"]``
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
from pyspark.ml import Pipeline
from pyspark.sql import functions as F

import sparktext
from sparktext import BertSentenceEmbeddings, DocumentAssembler, SentenceDetector

HERE = pathlib.Path(__file__).resolve().parent


def cosine_to(query: np.ndarray):
    """A Spark SQL expression: cosine similarity of column ``vector`` to ``query``."""
    unit = F.array(*[F.lit(float(x)) for x in query / np.linalg.norm(query)])
    dot = F.aggregate(F.zip_with("vector", unit, lambda a, b: a * b), F.lit(0.0), lambda acc, x: acc + x)
    norm = F.sqrt(F.aggregate(F.transform("vector", lambda a: a * a), F.lit(0.0), lambda acc, x: acc + x))
    return dot / norm


def main(argv: list[str] | None = None, spark=None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("query", nargs="?", default="how long do I cook noodles?")
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--model", default="sent_all_minilm_l6_v2", help="a sentence model from the catalog")
    args = parser.parse_args(argv)
    spark = spark or sparktext.start()

    corpus = spark.read.option("header", True).csv(str(HERE / "data" / "topics.csv"))
    embedder = Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(),
        BertSentenceEmbeddings.pretrained(args.model, "en").setInputCols("sentence"),
    ]).fit(corpus)
    # one row per sentence: its text and vector (cached: the index is built once)
    index = (
        embedder.transform(corpus)
        .select(F.explode("sentence_embeddings").alias("s"))
        .select(F.col("s.result").alias("sentence"), F.col("s.embeddings").alias("vector"))
        .cache()
    )
    # the query goes through the same stages, on the driver, with no Spark job
    query = sparktext.LightPipeline(embedder, parse_embeddings=True).fullAnnotate(args.query)[0]["sentence_embeddings"][0].embeddings
    ranked = index.withColumn("score", cosine_to(np.asarray(query))).orderBy(F.desc("score")).limit(args.top).collect()
    print(f"query: {args.query}")
    for row in ranked:
        print(f"  {row.score:.3f}  {row.sentence}")
    return [row.sentence for row in ranked]


if __name__ == "__main__":
    main()
