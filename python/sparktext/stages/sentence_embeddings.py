"""SentenceEmbeddings: the token vectors of each sentence pooled into one vector."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from sparktext.annotation import AnnotatorType, annotation_spark_type, column_metadata, spark_nlp_sentence_keys
from sparktext.columnar import AnnotationBuilder, read_annotations, vectors_array
from sparktext.errors import SchemaError
from sparktext.shared_params import HasDimension, HasStorageRef, HasVectorPoolingStrategy
from sparktext.stages._base import AnnotatorTransformer, describe_stage
from sparktext.stages._spark_udf import with_batch_column


class SentenceEmbeddings(AnnotatorTransformer, HasVectorPoolingStrategy, HasDimension, HasStorageRef):
    """Pool the word embeddings of each sentence into one ``sentence_embeddings`` annotation.

    A token belongs to the sentence whose ``sentence`` metadata it carries (BertEmbeddings
    copies it from the Tokenizer). Each input sentence gets exactly one annotation, with the
    sentence's offsets and text, metadata ``sentence`` and ``tokens`` (how many vectors were
    pooled); a sentence with no token gets a zero vector and ``tokens=0``.

    Parameters
    ----------
    inputCols : list of str, default ["sentence", "embeddings"]
        A ``document``-type column and a ``word_embeddings`` column.
    outputCol : str, default "sentence_embeddings"
    poolingStrategy : str, default "AVERAGE"
        ``AVERAGE`` or ``SUM`` (case-insensitive); anything else is refused.
    dimension : int, optional
        Size of the vectors; taken from the input column's metadata at ``transform()``.
    storageRef : str, optional
        Written as the output column's ``ref``; default: the input column's.
    """

    inputAnnotatorTypes = (AnnotatorType.DOCUMENT, AnnotatorType.WORD_EMBEDDINGS)
    outputAnnotatorType = AnnotatorType.SENTENCE_EMBEDDINGS
    stageDefaults = {"inputCols": ["sentence", "embeddings"], "outputCol": "sentence_embeddings"}

    def getDimension(self) -> int | None:
        """``dimension`` when set, else None: the input column's metadata gives it at ``transform()``."""
        return self.getOrDefault(self.dimension) if self.isDefined(self.dimension) else None

    def getStorageRef(self) -> str | None:
        """``storageRef`` when set, else None: the input column's ``ref`` is written."""
        return self.getOrDefault(self.storageRef) if self.isDefined(self.storageRef) else None

    def _transform(self, dataset: DataFrame) -> DataFrame:
        sentences_col, embeddings_col = self.checkInputColumns(dataset.schema)
        # dimension and ref follow the word embeddings column unless set here
        upstream = dataset.schema[embeddings_col].metadata or {}
        dimension = self.getDimension() or upstream.get("dimension")
        ref = self.getStorageRef() or upstream.get("ref")
        extra = {key: value for key, value in (("dimension", dimension), ("ref", ref)) if value is not None}
        return with_batch_column(
            dataset, self.getOutputCol(), self.batch_function(dimension), [sentences_col, embeddings_col],
            annotation_spark_type(), column_metadata(self.outputAnnotatorType, **extra),
        )

    def batch_function(self, dimension: int | None = None) -> Callable[[pa.Array, pa.Array], pa.Array]:
        """The pooling of one Arrow batch; ``dimension`` (when this stage's is unset) is the
        word embeddings column's, which every vector must have."""
        strategy, stage = self.getPoolingStrategy(), describe_stage(self)
        dimension = self.getDimension() or dimension

        def pool(sentences: pa.Array, embeddings: pa.Array) -> pa.Array:
            return pool_sentence_vectors(sentences, embeddings, strategy, dimension, stage)

        return pool


def pool_sentence_vectors(
    sentences: pa.Array, embeddings: pa.Array, strategy: str, dimension: int | None, stage: str = "SentenceEmbeddings"
) -> pa.Array:
    """Sentence-embedding annotations: each sentence's token vectors averaged or summed."""
    if isinstance(embeddings, pa.ChunkedArray):
        embeddings = embeddings.combine_chunks()
    sentence_batch = read_annotations(sentences)
    flat = embeddings.flatten()
    token_rows = pc.list_parent_indices(embeddings).to_numpy(zero_copy_only=False)
    vector_lists = pc.struct_field(flat, "embeddings")
    lengths = pc.fill_null(pc.list_value_length(vector_lists), 0).to_numpy(zero_copy_only=False)
    found = set(np.unique(lengths).tolist())
    if len(found) > 1:
        raise SchemaError(f"{stage}: the word embeddings have vectors of different sizes {sorted(found)}")
    if dimension is None:
        dimension = found.pop() if found else 0
    elif found and found != {dimension}:
        raise SchemaError(f"{stage}: dimension is {dimension} but the word embeddings have {found.pop()} values")
    values = pc.list_flatten(vector_lists).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    values = values.reshape(len(lengths), dimension)
    token_sentences = pc.fill_null(pc.map_lookup(pc.struct_field(flat, "metadata"), "sentence", "first"), "0").to_pylist()

    builder = AnnotationBuilder(AnnotatorType.SENTENCE_EMBEDDINGS)
    slot: dict[tuple[int, str], int] = {}
    for row, indices in sentence_batch.by_row():
        for position, i in enumerate(indices):
            sentence_id = sentence_batch.metadata[i].get("sentence", str(position))
            slot[(row, sentence_id)] = i
    target = np.array([slot.get((int(r), s), -1) for r, s in zip(token_rows, token_sentences)], dtype=np.int64)
    kept = target >= 0
    pooled = np.zeros((len(sentence_batch.results), dimension), dtype=np.float32)
    np.add.at(pooled, target[kept], values[kept])
    counts = np.bincount(target[kept], minlength=len(sentence_batch.results))
    if strategy == "AVERAGE":
        pooled /= np.maximum(counts, 1)[:, None]
    for row, indices in sentence_batch.by_row():
        for position, i in enumerate(indices):
            metadata = {
                "sentence": sentence_batch.metadata[i].get("sentence", str(position)),
                **spark_nlp_sentence_keys(sentence_batch.results[i]),
                "tokens": str(counts[i]),
            }
            builder.add(int(sentence_batch.begins[i]), int(sentence_batch.ends[i]), sentence_batch.results[i], metadata)
        builder.end_row()
    return builder.finish(vectors_array(pooled))
