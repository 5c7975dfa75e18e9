"""BertEmbeddings: one BERT vector per token, computed inside the executors."""

from __future__ import annotations

import dataclasses
import os
from typing import Iterator, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sparktext.annotation import ANNOTATION_DDL, AnnotatorType, column_metadata
from sparktext.columnar import annotation_array, fixed_key_metadata, vectors_array
from sparktext.errors import SchemaError
from sparktext.pretrained import storage
from sparktext.pretrained.checkpoint import (
    convert_to_safetensors,
    copy_checkpoint,
    model_files,
    read_checkpoint_config,
    tokenizer_lowercases,
)
from sparktext.pretrained.resolve import cache_subfolder, resolve_pretrained
from sparktext.pretrained.shipping import executor_model_path, ship_model_folder
from sparktext.inference.device import check_device, check_precision
from sparktext.inference.engine import POOLING_STRATEGIES, get_engine
from sparktext.params import int_at_least, one_of
from sparktext.stages._base import AnnotatorTransformer, describe_stage, set_given_params

WORD_EMBEDDING_KEYS = ["sentence", "token", "pieceId", "isWordStart", "isOOV"]
#: Rows are embedded and returned in chunks of about this many tokens, so a Python worker's
#: memory stays flat however many rows an Arrow batch holds (the vectors of 16k tokens are
#: 24 MB at 384 dimensions), while each chunk still has hundreds of sentences to sort.
TOKENS_PER_CHUNK = 16384


def _sentence_length(value) -> int:
    number = TypeConverters.toInt(value)
    if not 1 <= number <= 512:
        raise ValueError(f"maxSentenceLength must be in 1..512 (wordpieces per window), got {value!r}")
    return number


class BertEmbeddings(AnnotatorTransformer):
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
        Sequences per forward pass; 0 picks by device: 16 on CPU in fp32 (small batches stay
        in cache: measured fastest), 32 on CPU in bf16, 64 on GPU.
    maxSentenceLength : int, default 128
        Wordpieces per window, [CLS] and [SEP] included (1..512).
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
        ``auto`` (fp16 on GPU, fp32 on CPU), ``fp32``, ``fp16``, ``bf16``.
    """

    inputAnnotatorTypes = (AnnotatorType.DOCUMENT, AnnotatorType.TOKEN)
    outputAnnotatorType = AnnotatorType.WORD_EMBEDDINGS

    batchSize: Param[int] = Param(
        Params._dummy(), "batchSize", "sequences per forward pass; 0: auto (CPU: 16 in fp32, 32 in bf16; GPU: 64)",
        int_at_least("batchSize", 0),
    )
    maxSentenceLength: Param[int] = Param(
        Params._dummy(), "maxSentenceLength", "wordpieces per window, [CLS] and [SEP] included (1..512)", _sentence_length
    )
    caseSensitive: Param[bool] = Param(
        Params._dummy(), "caseSensitive", "False lowercases tokens before wordpiece", TypeConverters.toBoolean
    )
    dimension: Param[int] = Param(Params._dummy(), "dimension", "size of each vector (the model's hidden size)", TypeConverters.toInt)
    storageRef: Param[str] = Param(Params._dummy(), "storageRef", "name of the embeddings, written as the column's ref", TypeConverters.toString)
    poolingStrategy: Param[str] = Param(
        Params._dummy(), "poolingStrategy", "how a token's wordpieces become its vector: first, mean, last",
        one_of("poolingStrategy", POOLING_STRATEGIES),
    )
    device: Param[str] = Param(Params._dummy(), "device", "auto, cpu, cuda or cuda:N", check_device)
    precision: Param[str] = Param(Params._dummy(), "precision", "auto, fp32, fp16 or bf16", check_precision)
    modelPath: Param[str] = Param(
        Params._dummy(), "modelPath", "folder of the Hugging Face checkpoint, readable on every executor", TypeConverters.toString
    )

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: list[str] | None = None,
        outputCol: str = "embeddings",
        batchSize: int = 0,
        maxSentenceLength: int = 128,
        caseSensitive: bool | None = None,
        dimension: int | None = None,
        storageRef: str | None = None,
        poolingStrategy: str = "first",
        device: str = "auto",
        precision: str = "auto",
        modelPath: str | None = None,
    ) -> None:
        super().__init__()
        self._setDefault(
            inputCols=["sentence", "token"], outputCol="embeddings", batchSize=0, maxSentenceLength=128,
            caseSensitive=False, poolingStrategy="first", device="auto", precision="auto",
        )
        set_given_params(self, self._input_kwargs)

    @classmethod
    def loadSavedModel(cls, folder: str, spark=None, *, allow_pickle: bool = False) -> "BertEmbeddings":
        """Use a Hugging Face checkpoint folder: ``config.json``, safetensors weights, tokenizer files.

        The folder is read on the driver; on a cluster it is shipped to the executors with
        Spark's file distribution at ``transform()``, so it needs no shared filesystem.
        ``spark`` is accepted for Spark NLP compatibility.

        Parameters
        ----------
        folder : str
            The checkpoint folder.
        spark : SparkSession, optional
            Unused; Spark NLP's signature.
        allow_pickle : bool, default False
            Accept a pickle checkpoint (``pytorch_model.bin``): its tensors are read once with
            ``torch.load(weights_only=True)`` and written as safetensors under the cache folder,
            which is then used instead of ``folder``.
        """
        try:
            config = read_checkpoint_config(folder)
        except FileNotFoundError:
            if not allow_pickle or not os.path.isdir(folder):
                raise
            converted = os.path.join(
                cache_subfolder("converted", os.path.abspath(folder), spark), os.path.basename(os.path.normpath(folder))
            )
            folder = convert_to_safetensors(folder, converted)
            config = read_checkpoint_config(folder)
        return cls(
            modelPath=os.path.abspath(folder),
            dimension=int(config["hidden_size"]),
            caseSensitive=not tokenizer_lowercases(folder),
            storageRef=os.path.basename(os.path.normpath(folder)),
        )

    @classmethod
    def pretrained(cls, name: str = "bert_base_cased", lang: str = "en", remote_loc: str | None = None) -> "BertEmbeddings":
        """A named model from the catalog (``sparktext.pretrained.list_models()``).

        The files are looked for in ``remote_loc``, then the cache folder, then an installed
        package, then downloaded from the Hugging Face hub into the cache folder
        (:mod:`sparktext.pretrained.resolve` documents each step). ``caseSensitive``,
        ``dimension`` and ``storageRef`` come from the catalog.

        Raises
        ------
        KeyError
            Unknown name or language; the message names close matches.
        sparktext.errors.ModelNotFoundError
            The model is nowhere; the message lists every place looked.

        Examples
        --------
        >>> embeddings = BertEmbeddings.pretrained("all_minilm_l6_v2", "en")
        >>> embeddings.getDimension(), embeddings.getCaseSensitive(), embeddings.getStorageRef()
        (384, False, 'all_minilm_l6_v2')
        """
        resolved = resolve_pretrained(name, lang, remote_loc)
        entry = resolved.entry
        return cls(
            modelPath=os.path.abspath(resolved.folder),
            dimension=entry.dimension,
            caseSensitive=entry.case_sensitive,
            storageRef=entry.name,
        )

    @classmethod
    def read(cls) -> "DefaultParamsReader":
        return _BertEmbeddingsReader(cls)

    def write(self) -> "DefaultParamsWriter":
        return _BertEmbeddingsWriter(self)

    # Setters and getters, Spark NLP's names.
    def setBatchSize(self, value: int) -> "BertEmbeddings":
        return self._set(batchSize=value)

    def getBatchSize(self) -> int:
        return self.getOrDefault(self.batchSize)

    def setMaxSentenceLength(self, value: int) -> "BertEmbeddings":
        return self._set(maxSentenceLength=value)

    def getMaxSentenceLength(self) -> int:
        return self.getOrDefault(self.maxSentenceLength)

    def setCaseSensitive(self, value: bool) -> "BertEmbeddings":
        return self._set(caseSensitive=value)

    def getCaseSensitive(self) -> bool:
        return self.getOrDefault(self.caseSensitive)

    def setDimension(self, value: int) -> "BertEmbeddings":
        return self._set(dimension=value)

    def getDimension(self) -> int:
        return self.getOrDefault(self.dimension)

    def setStorageRef(self, value: str) -> "BertEmbeddings":
        return self._set(storageRef=value)

    def getStorageRef(self) -> str:
        return self.getOrDefault(self.storageRef)

    def setPoolingStrategy(self, value: str) -> "BertEmbeddings":
        return self._set(poolingStrategy=value)

    def getPoolingStrategy(self) -> str:
        return self.getOrDefault(self.poolingStrategy)

    def setDevice(self, value: str) -> "BertEmbeddings":
        return self._set(device=value)

    def getDevice(self) -> str:
        return self.getOrDefault(self.device)

    def setPrecision(self, value: str) -> "BertEmbeddings":
        return self._set(precision=value)

    def getPrecision(self) -> str:
        return self.getOrDefault(self.precision)

    def getModelPath(self) -> str:
        return self.getOrDefault(self.modelPath)

    def outputMetadata(self) -> dict:
        return column_metadata(self.outputAnnotatorType, dimension=self.getDimension(), ref=self.getStorageRef())

    def _transform(self, dataset: DataFrame) -> DataFrame:
        stage = describe_stage(self)
        if not self.isDefined(self.modelPath):
            raise SchemaError(
                f"{stage}: no model; use BertEmbeddings.pretrained(name, lang) or BertEmbeddings.loadSavedModel(folder)"
            )
        if not os.path.isdir(self.getModelPath()):
            raise FileNotFoundError(f"{stage}: model folder {self.getModelPath()!r} does not exist (moved or deleted?)")
        columns = self.checkInputColumns(dataset.schema)
        shipped_name = ship_model_folder(dataset.sparkSession, self.getModelPath())
        return self._with_output(dataset, self._embed(shipped_name, *[F.col(c) for c in columns]))

    def _embed(self, shipped_name: str | None, sentences: Column, tokens: Column) -> Column:
        from pyspark.sql.functions import arrow_udf

        settings = EmbeddingSettings(
            model_path=self.getModelPath(),
            shipped_name=shipped_name,
            device=self.getDevice(),
            precision=self.getPrecision(),
            batch_size=self.getBatchSize(),
            max_length=self.getMaxSentenceLength(),
            pooling=self.getPoolingStrategy(),
            lowercase=not self.getCaseSensitive(),
        )

        def embed_batches(batches: Iterator[Tuple[pa.Array, pa.Array]]) -> Iterator[pa.Array]:
            for _, token_column in batches:
                for chunk in row_chunks(token_column, TOKENS_PER_CHUNK):
                    yield embed_tokens(chunk, settings)

        return arrow_udf(embed_batches, returnType=ANNOTATION_DDL)(sentences, tokens)


@dataclasses.dataclass(frozen=True)
class EmbeddingSettings:
    """What the executors need to embed: small, picklable, no Spark objects."""

    model_path: str
    shipped_name: str | None  # set when the model travels with Spark's file distribution
    device: str
    precision: str
    batch_size: int
    max_length: int
    pooling: str
    lowercase: bool


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

    model_path = executor_model_path(settings.model_path, settings.shipped_name)
    engine = get_engine(model_path, settings.device, settings.precision)
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


class _BertEmbeddingsWriter(DefaultParamsWriter):
    """Saves the params and, in ``model/``, the checkpoint files (safetensors weights, config,
    tokenizer): a saved stage or pipeline needs nothing outside its own folder."""

    def saveImpl(self, path: str) -> None:
        super().saveImpl(path)
        model_path = self.instance.getModelPath()
        target = storage.join(path, "model")
        if storage.is_uri(target):
            storage.copy_from_local(model_path, target, self.sparkSession, model_files(model_path))
        else:
            copy_checkpoint(model_path, target)


class _BertEmbeddingsReader(DefaultParamsReader):
    """Loads the params and points ``modelPath`` at the saved ``model/`` folder (copied to the
    cache folder first when the stage was saved to a Hadoop filesystem)."""

    def load(self, path: str) -> BertEmbeddings:
        stage = super().load(path)
        saved = storage.join(path, "model")
        if storage.is_uri(saved):
            local = cache_subfolder("saved", saved, self.sparkSession)
            saved = storage.copy_to_local(saved, local, self.sparkSession)
        read_checkpoint_config(saved)
        stage._set(modelPath=os.path.abspath(saved))
        return stage
