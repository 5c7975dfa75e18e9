"""Spark NLP's own docstring examples, typed as its users type them, with only the imports changed.

One test per documented example (DocumentAssembler, SentenceDetector, Tokenizer,
BertEmbeddings, BertSentenceEmbeddings, SentenceEmbeddings, EmbeddingsFinisher, Finisher,
LightPipeline). Each checks the shape Spark NLP documents for it: the columns, annotator
types, offsets, metadata keys and how many rows or vectors come out. Where an example needs
what sparktext does not have (GloVe's ``WordEmbeddingsModel``, ``Normalizer``,
``StopWordsCleaner``, a pretrained NER pipeline), the nearest stage we have stands in, and the
comment there says so. Named models resolve offline from a cache folder holding random models
of the catalog's sizes: a download is the one thing this machine cannot do.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline
from pyspark.ml.linalg import DenseVector

# The star imports are the point: Spark NLP's examples import so (sparknlp -> sparktext), and
# every stage name below comes from them.
from sparktext.base import *  # noqa: F403
from sparktext.annotator import *  # noqa: F403
from sparktext.pretrained import find_model

from conftest import build_tiny_bert

ANNOTATION_FIELDS = ["annotatorType", "begin", "end", "result", "metadata", "embeddings"]


@pytest.fixture(scope="module", autouse=True)
def offline_models(tmp_path_factory):
    """A cache folder holding every model these examples name (and the no-argument defaults),
    each a random BERT of the catalog entry's hidden size and case."""
    cache = tmp_path_factory.mktemp("pretrained_cache")
    names = ["small_bert_L2_128", "sent_small_bert_L2_128",
             BertEmbeddings.defaultPretrainedName, BertSentenceEmbeddings.defaultPretrainedName]
    for name in names:
        entry = find_model(name, "en")
        build_tiny_bert(cache / entry.folder_name, hidden_size=entry.dimension, lowercase=not entry.case_sensitive)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARKTEXT_CACHE", str(cache))
        yield cache


def test_document_assembler_example(spark):
    data = spark.createDataFrame([["Spark NLP is an open-source text processing library."]]).toDF("text")
    documentAssembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
    result = documentAssembler.transform(data)
    result.select("document").show(truncate=False)

    (document,) = result.select("document").first().document
    assert (document.annotatorType, document.begin, document.end) == ("document", 0, 51)
    assert document.result == "Spark NLP is an open-source text processing library."
    assert document.metadata["sentence"] == "0" and document.embeddings == []
    element = result.schema["document"].dataType.elementType
    assert [field.name for field in element.fields] == ANNOTATION_FIELDS
    assert element["embeddings"].dataType.simpleString() == "array<float>"
    assert element["metadata"].dataType.simpleString() == "map<string,string>"


def test_sentence_detector_example(spark):
    documentAssembler = DocumentAssembler() \
        .setInputCol("text") \
        .setOutputCol("document")
    sentence = SentenceDetector() \
        .setInputCols(["document"]) \
        .setOutputCol("sentence") \
        .setCustomBounds(["\n\n"])
    pipeline = Pipeline().setStages([
        documentAssembler,
        sentence
    ])
    data = spark.createDataFrame([["This is my first sentence. This my second.\n\nHow about a third?"]]).toDF("text")
    result = pipeline.fit(data).transform(data)
    rows = result.selectExpr("explode(sentence) as sentences").collect()

    found = [(s.annotatorType, s.begin, s.end, s.result, s.metadata["sentence"]) for (s,) in rows]
    assert found == [
        ("document", 0, 25, "This is my first sentence.", "0"),
        ("document", 27, 41, "This my second.", "1"),
        # Spark NLP documents 43, 60 here, one character early: text[43] is the second "\n".
        ("document", 44, 61, "How about a third?", "2"),
    ]
    text = data.first().text
    assert all(text[begin:end + 1] == sentence for _, begin, end, sentence, _ in found)


def test_tokenizer_example(spark):
    data = spark.createDataFrame([["I'd like to say we didn't expect that. Jane's boyfriend."]]).toDF("text")
    documentAssembler = DocumentAssembler().setInputCol("text").setOutputCol("document")
    tokenizer = Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(data)
    pipeline = Pipeline().setStages([documentAssembler, tokenizer]).fit(data)
    result = pipeline.transform(data)
    result.selectExpr("token.result").show(truncate=False)

    assert result.selectExpr("token.result").first()[0] == [  # Spark NLP's documented output
        "I'd", "like", "to", "say", "we", "didn't", "expect", "that", ".", "Jane's", "boyfriend", "."]


def test_bert_embeddings_example(spark):
    embeddings = BertEmbeddings.pretrained() \
        .setInputCols(["token", "document"]) \
        .setOutputCol("bert_embeddings")
    assert embeddings.getDimension() == find_model(BertEmbeddings.defaultPretrainedName, "en").dimension

    documentAssembler = DocumentAssembler() \
        .setInputCol("text") \
        .setOutputCol("document")
    tokenizer = Tokenizer() \
        .setInputCols(["document"]) \
        .setOutputCol("token")
    embeddings = BertEmbeddings.pretrained("small_bert_L2_128", "en") \
        .setInputCols(["token", "document"]) \
        .setOutputCol("bert_embeddings")
    embeddingsFinisher = EmbeddingsFinisher() \
        .setInputCols(["bert_embeddings"]) \
        .setOutputCols("finished_embeddings") \
        .setOutputAsVector(True)
    pipeline = Pipeline().setStages([
        documentAssembler,
        tokenizer,
        embeddings,
        embeddingsFinisher
    ])
    data = spark.createDataFrame([["This is a sentence."]]).toDF("text")
    result = pipeline.fit(data).transform(data)
    result.selectExpr("explode(finished_embeddings) as result").show(5, 80)

    vectors = [row.result for row in result.selectExpr("explode(finished_embeddings) as result").collect()]
    assert len(vectors) == 5  # This, is, a, sentence, .
    assert all(isinstance(vector, DenseVector) and vector.size == 128 for vector in vectors)


def test_bert_sentence_embeddings_example(spark):
    embeddings = BertSentenceEmbeddings.pretrained() \
        .setInputCols(["sentence"]) \
        .setOutputCol("sentence_bert_embeddings")
    assert embeddings.getDimension() == find_model(BertSentenceEmbeddings.defaultPretrainedName, "en").dimension

    documentAssembler = DocumentAssembler() \
        .setInputCol("text") \
        .setOutputCol("document")
    sentence = SentenceDetector() \
        .setInputCols(["document"]) \
        .setOutputCol("sentence")
    embeddings = BertSentenceEmbeddings.pretrained("sent_small_bert_L2_128") \
        .setInputCols(["sentence"]) \
        .setOutputCol("sentence_bert_embeddings")
    embeddingsFinisher = EmbeddingsFinisher() \
        .setInputCols(["sentence_bert_embeddings"]) \
        .setOutputCols("finished_embeddings") \
        .setOutputAsVector(True)
    pipeline = Pipeline().setStages([
        documentAssembler,
        sentence,
        embeddings,
        embeddingsFinisher
    ])
    data = spark.createDataFrame([["John loves apples. Mary loves oranges. John loves Mary."]]).toDF("text")
    result = pipeline.fit(data).transform(data)

    vectors = [row.result for row in result.selectExpr("explode(finished_embeddings) as result").collect()]
    assert len(vectors) == 3 and all(vector.size == 128 for vector in vectors)  # one per sentence


def test_sentence_embeddings_example(spark):
    documentAssembler = DocumentAssembler() \
        .setInputCol("text") \
        .setOutputCol("document")
    tokenizer = Tokenizer() \
        .setInputCols(["document"]) \
        .setOutputCol("token")
    # Spark NLP's example takes GloVe (WordEmbeddingsModel.pretrained()); sparktext has BERT only.
    embeddings = BertEmbeddings.pretrained("small_bert_L2_128", "en") \
        .setInputCols(["document", "token"]) \
        .setOutputCol("embeddings")
    embeddingsSentence = SentenceEmbeddings() \
        .setInputCols(["document", "embeddings"]) \
        .setOutputCol("sentence_embeddings") \
        .setPoolingStrategy("AVERAGE")
    embeddingsFinisher = EmbeddingsFinisher() \
        .setInputCols(["sentence_embeddings"]) \
        .setOutputCols("finished_embeddings") \
        .setOutputAsVector(True) \
        .setCleanAnnotations(False)
    pipeline = Pipeline() \
        .setStages([
          documentAssembler,
          tokenizer,
          embeddings,
          embeddingsSentence,
          embeddingsFinisher
        ])
    data = spark.createDataFrame([["This is a sentence."]]).toDF("text")
    result = pipeline.fit(data).transform(data)

    row = result.first()
    (vector,) = row.finished_embeddings
    token_vectors = np.array([annotation.embeddings for annotation in row.embeddings])  # kept: cleanAnnotations(False)
    np.testing.assert_allclose(vector.toArray(), token_vectors.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_embeddings_finisher_example(spark):
    documentAssembler = DocumentAssembler() \
       .setInputCol("text") \
       .setOutputCol("document")
    tokenizer = Tokenizer() \
       .setInputCols("document") \
       .setOutputCol("token")
    # Spark NLP's example runs Normalizer and StopWordsCleaner here and GloVe below: sparktext has
    # neither cleaner, and BERT in GloVe's place; the finisher's part is as typed.
    gloveEmbeddings = BertEmbeddings.pretrained("small_bert_L2_128", "en") \
       .setInputCols("document", "token") \
       .setOutputCol("embeddings") \
       .setCaseSensitive(False)
    embeddingsFinisher = EmbeddingsFinisher() \
       .setInputCols("embeddings") \
       .setOutputCols("finished_sentence_embeddings") \
       .setOutputAsVector(True) \
       .setCleanAnnotations(False)
    data = spark.createDataFrame([["Spark NLP is an open-source text processing library."]]) \
       .toDF("text")
    pipeline = Pipeline().setStages([
       documentAssembler,
       tokenizer,
       gloveEmbeddings,
       embeddingsFinisher
    ]).fit(data)
    result = pipeline.transform(data)
    resultWithSize = result.selectExpr("explode(finished_sentence_embeddings) as embeddings")
    resultWithSize.show(5, 80)

    row = result.first()
    assert {"document", "token", "embeddings"} <= set(result.columns)  # cleanAnnotations(False) keeps them
    assert [vector.size for vector in row.finished_sentence_embeddings] == [128] * len(row.token)
    assert resultWithSize.count() == len(row.token)


def test_finisher_example(spark):
    data = spark.createDataFrame([[1, "New York and New Jersey aren't that far apart actually."]]).toDF("id", "text")
    # Spark NLP's example finishes the entities of a pretrained NER pipeline; sparktext has no
    # NER, so the Finisher, as typed, finishes the tokens of the pipeline we have.
    explain = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("entities"),
    ]).fit(data)
    finisher = Finisher().setInputCols("entities").setOutputCols("output")
    explainResult = explain.transform(data)
    result = finisher.transform(explainResult)
    result.select("output").show(truncate=False)

    assert result.columns == ["id", "text", "output"]  # cleanAnnotations: the annotation columns go
    assert result.schema["output"].dataType.simpleString() == "array<string>"
    assert result.first().output[:4] == ["New", "York", "and", "New"]


def test_light_pipeline_example(spark):
    data = spark.createDataFrame([["We are very happy about Spark NLP"]]).toDF("text")
    pipeline = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),
        Tokenizer().setInputCols(["sentence"]).setOutputCol("token"),
    ])
    light = LightPipeline(pipeline.fit(data))
    annotated = light.annotate("We are very happy about Spark NLP")

    assert annotated == {
        "document": ["We are very happy about Spark NLP"],
        "sentence": ["We are very happy about Spark NLP"],
        "token": ["We", "are", "very", "happy", "about", "Spark", "NLP"],
    }
    result = light.fullAnnotate("We are very happy about Spark NLP")
    assert set(result[0].keys()) == {"document", "sentence", "token"}
    assert [(a.annotatorType, a.begin, a.end, a.result) for a in result[0]["token"][:2]] == [
        ("token", 0, 1, "We"), ("token", 3, 5, "are")]


def test_a_finisher_decides_light_pipeline_keys(spark):
    """Spark NLP's LightPipeline keeps, from a Finisher on, only the columns it finishes (under
    their own names, as annotations); an EmbeddingsFinisher changes nothing there."""
    data = spark.createDataFrame([["Hello there. Bye!"]]).toDF("text")
    stages = [
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),
        Tokenizer().setInputCols(["sentence"]).setOutputCol("token"),
    ]
    finished = LightPipeline(Pipeline(stages=[*stages, Finisher().setInputCols("token", "sentence")]).fit(data))
    assert finished.annotate("Hello there. Bye!") == {
        "sentence": ["Hello there.", "Bye!"], "token": ["Hello", "there", ".", "Bye", "!"]}
    assert [a.result for a in finished.fullAnnotate("Hello there.")[0]["token"]] == ["Hello", "there", "."]
    unfinished = LightPipeline(Pipeline(stages=[*stages, EmbeddingsFinisher().setInputCols("token")]).fit(data))
    assert set(unfinished.annotate("Hello there.")) == {"document", "sentence", "token"}
