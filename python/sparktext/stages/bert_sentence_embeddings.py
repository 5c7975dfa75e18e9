"""BertSentenceEmbeddings: one BERT vector per sentence, straight from the model."""

from __future__ import annotations

import logging
from typing import Iterator

import numpy as np
import pyarrow as pa

from sparktext.annotation import AnnotatorType, spark_nlp_sentence_keys
from sparktext.columnar import AnnotationBuilder, read_annotations, vectors_array
from sparktext.errors import ModelFileError
from sparktext.inference.batching import SENTENCES_PER_CHUNK
from sparktext.pretrained.catalog import ModelEntry
from sparktext.pretrained.checkpoint import has_pooler_weights
from sparktext.shared_params import HasSentencePoolingStrategy
from sparktext.stages._base import describe_stage
from sparktext.stages._bert_model import BertModelStage, EmbeddingSettings

logger = logging.getLogger(__name__)


class BertSentenceEmbeddings(BertModelStage, HasSentencePoolingStrategy):
    """Sentence-level BERT embeddings: one ``sentence_embeddings`` annotation per sentence.

    Each ``document``-type annotation (a sentence, or a whole document) goes through the model
    as one sequence and comes back as one vector: BERT's pooler output ([CLS] through its
    dense and tanh layer, as Spark NLP's BertSentenceEmbeddings) or the mean of every
    position's hidden state (how sentence-transformers models such as all-MiniLM-L6-v2 were
    trained). Text beyond ``maxSentenceLength`` wordpieces is cut off, as in Spark NLP, and the
    annotation says so: metadata ``truncated=true``. Runs on the same engine as BertEmbeddings
    (model loaded once per worker, sentences sorted by length, GPU when present).

    Parameters
    ----------
    inputCols : list of str, default ["sentence"]
        One ``document``-type column.
    outputCol : str, default "sentence_embeddings"
    poolingStrategy : str, default "pooler"
        ``pooler`` or ``mean``; ``pretrained()`` sets the one the model was trained for.
    batchSize, maxSentenceLength, caseSensitive, dimension, storageRef, device, precision, engine
        As in :class:`~sparktext.BertEmbeddings`.

    Examples
    --------
    >>> from sparktext import BertSentenceEmbeddings
    >>> model = BertSentenceEmbeddings.pretrained("sent_all_minilm_l6_v2", "en")
    >>> model.getPoolingStrategy(), model.getDimension()
    ('mean', 384)
    """

    inputAnnotatorTypes = (AnnotatorType.DOCUMENT,)
    outputAnnotatorType = AnnotatorType.SENTENCE_EMBEDDINGS
    catalogKind = "sentence"
    defaultPretrainedName = "sent_bert_base_cased"
    stageDefaults = {"inputCols": ["sentence"], "outputCol": "sentence_embeddings"}

    @classmethod
    def _catalog_params(cls, entry: ModelEntry) -> dict:
        return {**super()._catalog_params(entry), "poolingStrategy": entry.sentence_pooling}

    @classmethod
    def loadSavedModel(cls, folder: str, spark=None, *, allow_pickle: bool = False) -> "BertSentenceEmbeddings":
        """As :meth:`BertEmbeddings.loadSavedModel`; a checkpoint without a trained pooler is
        named in a warning here, and refused at ``transform()`` unless ``poolingStrategy`` is
        ``mean``."""
        stage = super().loadSavedModel(folder, spark, allow_pickle=allow_pickle)
        if not has_pooler_weights(stage.getModelPath()):
            logger.warning(
                "%s has no pooler weights: BertSentenceEmbeddings needs setPoolingStrategy('mean') for it", folder
            )
        return stage

    def checkModel(self) -> None:
        """As the base class, and ``pooler`` vectors need the checkpoint's trained pooler."""
        super().checkModel()
        if self.getPoolingStrategy() == "pooler" and not has_pooler_weights(self.getModelPath()):
            raise ModelFileError(
                f"{describe_stage(self)}: {self.getModelPath()} has no pooler weights (a masked-LM checkpoint?), so "
                "poolingStrategy 'pooler' would give random vectors; use setPoolingStrategy('mean')"
            )

    @staticmethod
    def _embed_batches(settings: EmbeddingSettings, batches) -> Iterator[pa.Array]:
        for (sentence_column,) in batches:
            yield embed_sentences(sentence_column, settings)


def embed_sentences(sentences: pa.Array, settings: EmbeddingSettings) -> pa.Array:
    """Sentence-embedding annotations for a batch of sentence annotation lists (the UDF's body)."""
    batch = read_annotations(sentences)
    engine = settings.engine()
    vectors, truncated = [], []
    for start in range(0, len(batch.results), SENTENCES_PER_CHUNK):
        embedded = engine.embed_sentences(
            batch.results[start : start + SENTENCES_PER_CHUNK],
            batch_size=settings.batch_size,
            max_length=settings.max_length,
            pooling=settings.pooling,
            lowercase=settings.lowercase,
        )
        vectors.append(embedded.vectors)
        truncated.extend(embedded.truncated.tolist())
    builder = AnnotationBuilder(AnnotatorType.SENTENCE_EMBEDDINGS)
    for _, indices in batch.by_row():
        for position, i in enumerate(indices):
            metadata = {
                "sentence": batch.metadata[i].get("sentence", str(position)),
                **spark_nlp_sentence_keys(batch.results[i]),
                "truncated": "true" if truncated[i] else "false",
            }
            builder.add(int(batch.begins[i]), int(batch.ends[i]), batch.results[i], metadata)
        builder.end_row()
    stacked = np.concatenate(vectors) if vectors else np.zeros((0, engine.hidden_size), dtype=np.float32)
    return builder.finish(vectors_array(stacked))
