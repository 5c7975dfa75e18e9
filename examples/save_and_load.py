"""Save a fitted pipeline (the model's weights travel inside it) and load it back: the loaded
pipeline needs nothing outside its folder and gives the same vectors.

Run: ``.venv/bin/python examples/save_and_load.py [FOLDER]``
"""

from __future__ import annotations

import argparse

from pyspark.ml import Pipeline, PipelineModel

import sparktext
from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer


def main(argv: list[str] | None = None, spark=None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="output/saved_pipeline")
    parser.add_argument("--model", default="all_minilm_l6_v2")
    args = parser.parse_args(argv)
    spark = spark or sparktext.start()

    df = spark.createDataFrame([("Save me. Then load me again!",)], ["text"])
    fitted = Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        SentenceDetector(),
        Tokenizer(inputCols=["sentence"]),
        BertEmbeddings.pretrained(args.model, "en").setInputCols("sentence", "token"),
    ]).fit(df)
    fitted.write().overwrite().save(args.folder)  # writes <folder>/stages/..._BertEmbeddings_.../model/

    loaded = PipelineModel.load(args.folder)
    before = [a.embeddings for a in fitted.transform(df).first().embeddings]
    after = [a.embeddings for a in loaded.transform(df).first().embeddings]
    same = before == after
    print(f"saved to {args.folder}; loaded back: {len(after)} token vectors, identical: {same}")
    return same


if __name__ == "__main__":
    main()
