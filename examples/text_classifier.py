"""A text classifier on sentence embeddings: BERT sentence vectors into Spark ML's
LogisticRegression, with EmbeddingsFinisher turning annotations into ML vectors.

Run: ``.venv/bin/python examples/text_classifier.py``
(data: examples/data/topics.csv, short texts about sports or cooking; every fourth is held out)
"""

from __future__ import annotations

import argparse
import pathlib

from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import SQLTransformer, StringIndexer
from pyspark.sql import functions as F

import sparktext
from sparktext import BertSentenceEmbeddings, DocumentAssembler, EmbeddingsFinisher

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str] | None = None, spark=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE / "data" / "topics.csv"))
    parser.add_argument("--model", default="sent_all_minilm_l6_v2", help="a sentence model from the catalog")
    args = parser.parse_args(argv)
    spark = spark or sparktext.start()

    df = spark.read.option("header", True).csv(args.data).withColumn("id", F.col("id").cast("int"))
    train, test = df.where(F.col("id") % 4 != 0), df.where(F.col("id") % 4 == 0)
    pipeline = Pipeline(stages=[
        DocumentAssembler(inputCol="text"),
        # one vector per text: the whole document goes through the model as one sequence
        BertSentenceEmbeddings.pretrained(args.model, "en").setInputCols("document").setOutputCol("sentence_embeddings"),
        EmbeddingsFinisher(inputCols=["sentence_embeddings"], outputCols=["vectors"], outputAsVector=True),
        # Spark ML's stages read one vector per row: the first (only) one
        SQLTransformer(statement="SELECT *, vectors[0] AS features FROM __THIS__"),
        StringIndexer(inputCol="label", outputCol="target"),
        LogisticRegression(featuresCol="features", labelCol="target", maxIter=50, regParam=0.01),
    ])
    model = pipeline.fit(train)
    predictions = model.transform(test)
    accuracy = MulticlassClassificationEvaluator(labelCol="target", metricName="accuracy").evaluate(predictions)
    print(f"trained on {train.count()} texts, held-out accuracy on {test.count()}: {accuracy:.2f}")
    return accuracy


if __name__ == "__main__":
    main()
