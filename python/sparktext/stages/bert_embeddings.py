"""BertEmbeddings: one BERT vector per token, computed inside the executors."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparktext.annotation import AnnotatorType
from sparktext.columnar import annotation_array, fixed_key_metadata, vectors_array
from sparktext.inference.batching import TOKENS_PER_CHUNK
from sparktext.shared_params import HasTokenPoolingStrategy
from sparktext.stages._bert_model import BertModelStage, EmbeddingSettings

WORD_EMBEDDING_KEYS = ["sentence", "token", "pieceId", "isWordStart", "isOOV"]


class BertEmbeddings(BertModelStage, HasTokenPoolingStrategy):
    """Token-level BERT embeddings: one ``word_embeddings`` annotation per input token.

    Every token gets exactly one vector, in order, with the token's ``begin``, ``end`` and
    text, and metadata ``sentence``, ``token``, ``pieceId`` (its first wordpiece), ``isWordStart``
    and ``isOOV`` (no wordpiece, or only ``[UNK]``). The model sees every wordpiece of every
    token; a token's pieces are pooled into its vector (``poolingStrategy``). Sentences longer
    than ``maxSentenceLength`` wordpieces are embedded in overlapping windows, each token taking
    its vector from the window where it has the most context.

    The model is loaded once per Python worker and reused across batches, tasks and jobs;
    inside each Arrow batch, sentences are sorted by length before batching.

    Parameters
    ----------
    inputCols : list of str
        A ``document`` column (sentences or documents) and a ``token`` column; tokens are
        grouped into model sequences by their ``sentence`` metadata.
    outputCol : str, default "embeddings"
    batchSize : int, default 0
        Sequences per forward pass at most; 0 picks by device and precision
        (:func:`sparktext.inference.batching.batch_policy` says how). On a CPU a batch also
        holds at most 32 x ``batchSize`` wordpieces: long sentences come in smaller batches.
    maxSentenceLength : int, default 128
        Wordpieces per window, [CLS] and [SEP] included (3..512).
    caseSensitive : bool
        From the model's tokenizer (False for uncased models); False lowercases tokens first.
    dimension : int
        The model's hidden size (read from its config; informational).
    storageRef : str
        Name recorded as the output column's ``ref`` (default: the model folder's name).
    poolingStrategy : str, default "first"
        How a token's wordpieces become its vector: ``first`` (as Spark NLP), ``mean``, ``last``.
    device : str, default "auto"
        ``auto`` (the task's GPU, else the first GPU, else CPU), ``cpu``, ``cuda``, ``cuda:N``.
    precision : str, default "auto"
        ``auto`` (fp16 on GPU, fp32 on CPU), ``fp32``, ``fp16``, ``bf16`` (faster on CPUs with
        bf16 instructions; on others OpenVINO computes in fp32 and logs a warning).
    engine : str, default "auto"
        What runs the model: ``auto`` takes the fastest installed engine for the device and
        precision (CPU: OpenVINO, then ONNX Runtime for fp32, then PyTorch; GPU: PyTorch),
        or ``torch``, ``onnx`` (ONNX Runtime, fp32), ``openvino`` (CPU, fp32 or bf16). ONNX
        Runtime and OpenVINO run the checkpoint's ONNX graph, exported once per machine into
        the cache folder. Every engine gives the same vectors within 1e-4 in fp32.
    """

    inputAnnotatorTypes = (AnnotatorType.DOCUMENT, AnnotatorType.TOKEN)
    modelInputTypes = (AnnotatorType.TOKEN,)  # each token's sentence is in its metadata
    outputAnnotatorType = AnnotatorType.WORD_EMBEDDINGS
    stageDefaults = {"inputCols": ["sentence", "token"], "outputCol": "embeddings"}

    @staticmethod
    def _embed_batches(settings: EmbeddingSettings, batches) -> Iterator[pa.Array]:
        for (token_column,) in batches:
            for chunk in row_chunks(token_column, TOKENS_PER_CHUNK):
                yield embed_tokens(chunk, settings)


def row_chunks(column: pa.Array, max_tokens: int) -> Iterator[pa.Array]:
    """Zero-copy slices of consecutive rows holding about ``max_tokens`` annotations each (a
    row with more stays whole: rows are never split).

    Examples
    --------
    >>> column = pa.array([[1, 2], [3], None, [4, 5, 6]])
    >>> [len(chunk) for chunk in row_chunks(column, 3)]
    [3, 1]
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    counts = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    start, running = 0, 0
    for row, count in enumerate(counts):
        if running and running + count > max_tokens:
            yield column.slice(start, row - start)
            start, running = row, 0
        running += int(count)
    if start < len(column) or len(column) == 0:
        yield column.slice(start)


def embed_tokens(tokens: pa.Array, settings: EmbeddingSettings) -> pa.Array:
    """Word-embedding annotations for a batch of token annotation lists (the UDF's body)."""
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks()
    flat = tokens.flatten()
    rows = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
    results = pc.struct_field(flat, "result").fill_null("")
    sentence_ids = pc.fill_null(pc.map_lookup(pc.struct_field(flat, "metadata"), "sentence", "first"), "0")
    words = results.to_pylist()
    # A model sequence is a run of tokens of one row with one sentence id.
    sentence_array = np.asarray(sentence_ids.to_pylist(), dtype=object)
    boundary = np.ones(len(words), dtype=bool)
    if len(words) > 1:
        boundary[1:] = (rows[1:] != rows[:-1]) | (sentence_array[1:] != sentence_array[:-1])
    starts = np.flatnonzero(boundary)
    stops = np.append(starts[1:], len(words))
    sentences = [words[a:b] for a, b in zip(starts, stops)]

    engine = settings.engine()
    embedded = engine.embed(
        sentences,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        pooling=settings.pooling,
        lowercase=settings.lowercase,
    )
    metadata = fixed_key_metadata(
        WORD_EMBEDDING_KEYS,
        [
            sentence_ids,
            results,
            pa.array(embedded.piece_ids).cast(pa.string()),
            pa.array(np.full(len(words), "true", dtype=object), type=pa.string()),
            pa.array(np.where(embedded.is_oov, "true", "false").astype(object), type=pa.string()),
        ],
    )
    row_offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(tokens)))]).astype(np.int32)
    return annotation_array(
        AnnotatorType.WORD_EMBEDDINGS,
        row_offsets,
        pc.struct_field(flat, "begin"),
        pc.struct_field(flat, "end"),
        results,
        metadata,
        vectors_array(embedded.vectors),
    )
