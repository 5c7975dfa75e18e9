"""Quickstart: document -> sentence -> token -> BERT embeddings, one vector per token.

Run: ``.venv/bin/python examples/quickstart.py [--model all_minilm_l6_v2]``
(``--model bert_base_cased`` downloads BERT base from the Hugging Face hub once.)
"""

from __future__ import annotations

import argparse

from pyspark.ml import Pipeline

import sparktext
from sparktext.annotator import BertEmbeddings, SentenceDetector, Tokenizer
from sparktext.base import DocumentAssembler


def main(argv: list[str] | None = None, spark=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all_minilm_l6_v2", help="a catalog name (python -m sparktext.pretrained)")
    args = parser.parse_args(argv)
    spark = spark or sparktext.start()

    df = spark.createDataFrame(
        [("I'd like to say we didn't expect that. Jane's boyfriend is a doctor.",), ("sparktext runs BERT on Spark.",)],
        ["text"],
    )
    pipeline = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),
        Tokenizer().setInputCols(["sentence"]).setOutputCol("token"),
        BertEmbeddings.pretrained(args.model, "en").setInputCols("sentence", "token").setOutputCol("embeddings"),
    ])
    result = pipeline.fit(df).transform(df)
    rows = result.select("text", "embeddings").collect()
    for row in rows:
        print(row.text)
        for annotation in row.embeddings:
            vector = annotation.embeddings
            print(f"  {annotation.result:<12} [{annotation.begin:>2}, {annotation.end:>2}]  "
                  f"{len(vector)} floats: {vector[0]:+.3f} {vector[1]:+.3f} ...")
    return rows


if __name__ == "__main__":
    main()
