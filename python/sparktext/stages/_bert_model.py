"""What BertEmbeddings and BertSentenceEmbeddings share: a Hugging Face BERT checkpoint,
how it is found (``loadSavedModel``, ``pretrained``), saved with the stage, shipped to the
executors, and the settings the executors' engine runs with.

Each subclass adds its ``poolingStrategy`` (the allowed values differ) and the function that
turns one Arrow batch of its input columns into its output column.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import os
import threading
from typing import Callable, Iterator, Sequence

import pyarrow as pa
from pyspark import SparkFiles, TaskContext
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter
from pyspark.sql import DataFrame

from sparktext.annotation import annotation_spark_type, column_metadata
from sparktext.errors import SchemaError
from sparktext.inference.device import EngineOptions
from sparktext.inference.engine import BertEngine, get_engine
from sparktext.inference.runtimes import EngineNotAvailableError, check_engine_settings
from sparktext.inference.wordpieces import load_wordpieces
from sparktext.params import log_no_op
from sparktext.session import local_master_threads
from sparktext.shared_params import (
    HasBatchSize,
    HasCaseSensitive,
    HasDevice,
    HasDimension,
    HasEngine,
    HasMaxSentenceLength,
    HasModelPath,
    HasPrecision,
    HasStorageRef,
)
from sparktext.pretrained.checkpoint import (
    checkpoint_fingerprint,
    convert_to_safetensors,
    copy_checkpoint,
    model_files,
    read_checkpoint_config,
)
from sparktext.pretrained.catalog import ModelEntry, find_model
from sparktext.pretrained.resolve import is_uri, join_location, resolve_pretrained
from sparktext.stages import _model_storage as storage
from sparktext.stages._model_shipping import executor_model_path, is_connect_session, ship_model_folder
from sparktext.stages._model_storage import HadoopFiles, active_session, cache_folder, cache_subfolder
from sparktext.stages._base import AnnotatorTransformer, describe_stage
from sparktext.stages._spark_udf import with_batch_column


@dataclasses.dataclass(frozen=True)
class EmbeddingSettings:
    """What the executors need to embed: small, picklable, no Spark objects."""

    model_path: str
    shipped_name: str | None  # set when the model travels with Spark's file distribution
    device: str
    precision: str
    engine_name: str
    cache_folder: str  # the driver's; where an executor caches its ONNX export when it can write there
    batch_size: int
    max_length: int
    pooling: str
    lowercase: bool
    machine_cores: int = 0  # the cores model workers may lend each other (local mode), 0: off
    core_group: str = ""  # the folder of the application's slot files: its workers share those cores

    def local_model_path(self) -> str:
        """The model folder on this machine (the shipped copy on a cluster's executors)."""
        return executor_model_path(self.model_path, self.shipped_name)

    def engine(self) -> BertEngine:
        """This process's engine for these settings, run with what Spark gave the running task
        (its CPU share, its GPUs); outside a task, the whole machine."""
        configure_native_caches()
        threads, gpus = 0, ()
        context = TaskContext.get()
        if context is not None:
            threads = max(1, int(context.cpus()))
            gpu = context.resources().get("gpu")
            gpus = tuple(gpu.addresses) if gpu is not None else ()
        options = EngineOptions(
            self.device, self.precision, self.engine_name, threads, gpus, self.cache_folder,
            machine_cores=self.machine_cores if context is not None else 0, core_group=self.core_group,
        )
        return get_engine(self.local_model_path(), options)


#: Spark setting: "true" (the default) lets model workers lend each other idle cores in local
#: mode, "false" stops it. It pays wherever a worker's core idles -- the last partition's tail,
#: a worker between chunks -- for one more stream's buffers per worker (docs/performance.md,
#: "Lending idle cores").
LEND_CORES_CONF = "spark.sparktext.lendIdleCores"

#: Where the model workers of a local application keep their slot files: inside the folder
#: Spark deletes when the application stops.
CORE_SLOTS_FOLDER = "sparktext-core-slots"


def shared_cores(spark, files_root: str | None = None) -> tuple[int, str]:
    """``(cores, group)`` the model workers of a job of ``spark`` may lend each other: in local
    mode the master's threads (the machine's cores are the application's) and a folder in the
    application's temporary directory, unless ``spark.sparktext.lendIdleCores`` is "false"; on
    a cluster ``(0, "")`` -- an executor may share its machine with other work Spark does not
    show us.

    >>> class Context:
    ...     master, applicationId = "local[2,4]", "local-1"
    >>> class Session:
    ...     sparkContext, conf = Context(), {}
    >>> cores, folder = shared_cores(Session(), files_root="/tmp/spark-1/userFiles-2")
    >>> cores, folder
    (2, '/tmp/spark-1/userFiles-2/sparktext-core-slots')
    >>> Context.master = "spark://host:7077"
    >>> shared_cores(Session())
    (0, '')
    >>> Context.master, Session.conf = "local[2]", {LEND_CORES_CONF: "false"}
    >>> shared_cores(Session())
    (0, '')
    """
    if spark is None or is_connect_session(spark):
        return 0, ""
    setting = str(spark.conf.get(LEND_CORES_CONF, "true")).strip().lower()
    if setting not in ("true", "false"):
        raise ValueError(f"{LEND_CORES_CONF} must be 'true' or 'false', got {setting!r}")
    if setting == "false":
        return 0, ""
    context = spark.sparkContext
    cores = local_master_threads(context.master)
    if cores is None or cores < 2:
        return 0, ""
    if files_root is None:
        files_root = SparkFiles.getRootDirectory()
    return cores, os.path.join(files_root, CORE_SLOTS_FOLDER)


#: Entries kept in oneDNN's primitive cache and in PyTorch's ideep LRU cache (both 1024 by
#: default). Each distinct (batch, length) shape adds an entry, and batches cut to fit sorted
#: lengths come in hundreds of shapes: with the defaults a worker's memory grew with every new
#: shape; with 64 it levels off at the same speed (docs/performance.md). Capacity 0 also levels
#: off but made bf16 much slower (JIT kernels rebuilt per batch).
NATIVE_CACHE_CAPACITY = "64"


def configure_native_caches() -> None:
    """Bound the native libraries' per-shape caches (see NATIVE_CACHE_CAPACITY), unless the
    user set them. Both are read when first used, so this runs before the first forward pass."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", NATIVE_CACHE_CAPACITY)
    os.environ.setdefault("LRU_CACHE_CAPACITY", NATIVE_CACHE_CAPACITY)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    return getattr(ctypes.CDLL(None), "malloc_trim", None)


def release_freed_memory() -> None:
    """Give the pages that freed arrays leave in the C heap back to the system.

    A chunk's vectors are tens of MB. Once freed, they raise glibc's dynamic mmap threshold,
    so later arrays of every batch come from the heap instead of their own mappings and leave
    it fragmented: a worker's peak memory then grows with the rows it embeds. Trimming once
    per chunk costs next to nothing against the chunk's forward passes and keeps it flat
    (docs/performance.md, chunk size); fixing the threshold instead (``mallopt``) measured
    slower."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def releasing_memory(outputs: Iterator[pa.Array]) -> Iterator[pa.Array]:
    """``outputs``, with :func:`release_freed_memory` each time the consumer asks for the next
    one (by then Spark has sent the last one on, and the chunk before it is free)."""
    for output in outputs:
        yield output
        release_freed_memory()


class BertModelStage(
    AnnotatorTransformer, HasBatchSize, HasMaxSentenceLength, HasCaseSensitive, HasDimension, HasStorageRef, HasDevice,
    HasPrecision, HasEngine, HasModelPath,
):
    """Base of the stages that run a BERT checkpoint (see the module doc)."""

    #: The input annotator types the model reads, in ``inputAnnotatorTypes`` order: only those
    #: columns go to the Python workers (the others are declared, as in Spark NLP, and checked).
    #: Empty: all of them.
    modelInputTypes: tuple[str, ...] = ()
    #: Which catalog entries ``pretrained()`` accepts: ``token`` or ``sentence`` models.
    catalogKind = "token"
    defaultPretrainedName = "bert_base_cased"

    @classmethod
    def loadSavedModel(cls, folder: str, spark=None, *, allow_pickle: bool = False):
        """Use a Hugging Face checkpoint folder: ``config.json``, safetensors weights, tokenizer files.

        The folder is read on the driver; on a cluster it is shipped to the executors with
        Spark's file distribution at ``transform()``, so it needs no shared filesystem.
        ``caseSensitive`` is False where the tokenizer transformers builds from the folder
        lowercases. ``spark`` is accepted for Spark NLP compatibility.

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
            caseSensitive=not load_wordpieces(folder, cache_folder(spark)).lowercases,
            storageRef=os.path.basename(os.path.normpath(folder)),
        )

    @classmethod
    def pretrained(cls, name: str | None = None, lang: str = "en", remote_loc: str | None = None):
        """A named model from the catalog (``sparktext.pretrained.list_models()``).

        The files are looked for in ``remote_loc``, then the cache folder, then an installed
        package, then downloaded from the Hugging Face hub into the cache folder
        (:mod:`sparktext.pretrained.resolve` documents each step). ``caseSensitive``,
        ``dimension`` and ``storageRef`` come from the catalog.

        Raises
        ------
        KeyError
            Unknown name or language; the message names close matches.
        ValueError
            The name is a model of the other kind (a sentence model for token vectors).
        sparktext.errors.ModelNotFoundError
            The model is nowhere; the message lists every place looked.

        Examples
        --------
        >>> from sparktext import BertEmbeddings
        >>> embeddings = BertEmbeddings.pretrained("all_minilm_l6_v2", "en")
        >>> embeddings.getDimension(), embeddings.getCaseSensitive(), embeddings.getStorageRef()
        (384, False, 'all_minilm_l6_v2')
        """
        entry = find_model(name or cls.defaultPretrainedName, lang)
        if entry.kind != cls.catalogKind:  # before looking for its files: the answer does not depend on them
            other = "BertSentenceEmbeddings" if entry.kind == "sentence" else "BertEmbeddings"
            raise ValueError(
                f"{entry.name!r} is a {entry.kind} model; load it with {other}.pretrained({entry.name!r}, {entry.lang!r})"
            )
        spark = active_session()
        resolved = resolve_pretrained(
            entry.name, entry.lang, remote_loc, cache=cache_folder(spark),
            remote=HadoopFiles(spark) if spark is not None and not is_connect_session(spark) else None,
        )
        return cls(modelPath=os.path.abspath(resolved.folder), **cls._catalog_params(entry))

    @classmethod
    def _catalog_params(cls, entry: ModelEntry) -> dict:
        return {"dimension": entry.dimension, "caseSensitive": entry.case_sensitive, "storageRef": entry.name}

    @classmethod
    def read(cls) -> "DefaultParamsReader":
        return _BertModelReader(cls)

    def write(self) -> "DefaultParamsWriter":
        return _BertModelWriter(self)

    def getDimension(self) -> int:
        """The vectors' size: set by ``pretrained()``/``loadSavedModel()``, else read from the
        model folder's ``config.json`` (a stage given only ``modelPath``)."""
        if self.isDefined(self.dimension):
            return self.getOrDefault(self.dimension)
        if not self.isDefined(self.modelPath):
            raise SchemaError(f"{type(self).__name__}: no model yet, so no dimension; load one with "
                              "pretrained(...) or loadSavedModel(folder)")
        return int(read_checkpoint_config(self.getModelPath())["hidden_size"])

    # Spark NLP's TensorFlow-only settings: its code calls them; nothing here reads them.
    def setIsLong(self, value: bool):
        """Spark NLP: feed TensorFlow int64 ids. The engines here take the checkpoint's own
        input types: accepted, changes nothing (logged)."""
        log_no_op(self, "setIsLong", value)
        return self

    def setConfigProtoBytes(self, value: Sequence[int]):
        """Spark NLP: TensorFlow session options. No TensorFlow here: accepted, changes
        nothing (logged); threads and device are ``sparktext`` settings (``device``)."""
        log_no_op(self, "setConfigProtoBytes", f"{len(value)} bytes")
        return self

    def outputMetadata(self) -> dict:
        return column_metadata(self.outputAnnotatorType, dimension=self.getDimension(), ref=self.getStorageRef())

    def checkModel(self) -> None:
        """Raise unless the stage has a model folder here that it can run (before any job)."""
        stage = describe_stage(self)
        if not self.isDefined(self.modelPath):
            name = type(self).__name__
            raise SchemaError(f"{stage}: no model; use {name}.pretrained(name, lang) or {name}.loadSavedModel(folder)")
        if not os.path.isdir(self.getModelPath()):
            raise FileNotFoundError(f"{stage}: model folder {self.getModelPath()!r} does not exist (moved or deleted?)")
        read_checkpoint_config(self.getModelPath())  # checked once per process while its files stay the same
        try:
            check_engine_settings(self.getEngine(), self.getDevice(), self.getPrecision())
        except EngineNotAvailableError as error:
            raise EngineNotAvailableError(f"{stage}: {error}") from error

    def settings(self, shipped_name: str | None = None, spark=None) -> EmbeddingSettings:
        """The engine settings these params describe (for a job of ``spark``'s: in local mode
        its model workers may lend each other idle cores)."""
        machine_cores, core_group = shared_cores(spark)
        return EmbeddingSettings(
            model_path=self.getModelPath(),
            shipped_name=shipped_name,
            device=self.getDevice(),
            precision=self.getPrecision(),
            engine_name=self.getEngine(),
            cache_folder=cache_folder(),
            batch_size=self.getBatchSize(),
            max_length=self.getMaxSentenceLength(),
            pooling=self.getPoolingStrategy(),
            lowercase=not self.getCaseSensitive(),
            machine_cores=machine_cores,
            core_group=core_group,
        )

    def batch_function(self) -> Callable[..., pa.Array]:
        """The embedding of one Arrow batch on this machine (what LightPipeline runs; the
        Spark UDF runs the same ``_embed_batches`` over a task's batches on the executors)."""
        self.checkModel()
        settings, embed_batches = self.settings(), self._embed_batches

        read = self._model_input_positions()  # a list: the function must not hold the stage

        def embed_batch(*columns: pa.Array) -> pa.Array:
            return pa.concat_arrays(list(embed_batches(settings, [tuple(columns[i] for i in read)])))

        return embed_batch

    def _transform(self, dataset: DataFrame) -> DataFrame:
        self.checkModel()
        # Only the columns the model reads cross to Python: the sentence column of a token
        # model would be serialised by the JVM for every row and never read.
        columns = self.checkInputColumns(dataset.schema)
        columns = [columns[i] for i in self._model_input_positions()]
        spark = dataset.sparkSession
        settings = self.settings(ship_model_folder(spark, self.getModelPath()), spark)
        embed_batches = self._embed_batches

        # A task's whole stream of batches: the model is loaded once per worker and kept.
        def embed_stream(batches: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
            return releasing_memory(embed_batches(settings, batches))

        with model_worker_pool(dataset.sparkSession):
            return with_batch_column(
                dataset, self.getOutputCol(), embed_stream, columns, annotation_spark_type(null_free_vectors=True),
                self.outputMetadata(), per_partition=True,
            )

    def _model_input_positions(self) -> list[int]:
        """Where the ``modelInputTypes`` columns are among the input columns (which come in
        ``inputAnnotatorTypes`` order)."""
        return [self.inputAnnotatorTypes.index(kind) for kind in self.modelInputTypes or self.inputAnnotatorTypes]

    @staticmethod
    def _embed_batches(settings: EmbeddingSettings, batches) -> Iterator[pa.Array]:
        """Output arrays for an iterator of tuples of the ``modelInputTypes`` columns, as many rows as came in
        (a staticmethod: the UDF must not carry the stage to the executors)."""
        raise NotImplementedError


#: Set in the environment of the Python workers that run a model; see :func:`model_worker_pool`.
MODEL_POOL_VARIABLE = "SPARKTEXT_WORKER_POOL"
_POOL_LOCK = threading.RLock()


@contextlib.contextmanager
def model_worker_pool(spark) -> Iterator[None]:
    """Python UDFs created inside this block run in their own pool of Python workers.

    An executor keeps one pool of idle Python workers per distinct worker environment, and a
    task takes one worker per Python stage in it (SentenceDetector, Tokenizer, BertEmbeddings).
    In one shared pool the workers trade roles from task to task, so a worker that split
    sentences in one task embeds in the next and loads the model then: seconds per load,
    landing in random jobs, and up to three models per task slot in memory (on a GPU, three
    CUDA contexts). A UDF captures ``SparkContext.environment`` when it is created; one extra
    variable there gives the model stages a pool of their own, so an executor loads the model
    once per task slot and keeps it there. A Spark Connect client has no SparkContext (its
    UDFs take the server's environment): there the block changes nothing.
    """
    if is_connect_session(spark):
        yield
        return
    environment = spark.sparkContext.environment
    with _POOL_LOCK:  # transform() called from several driver threads: restore what was there
        before = environment.get(MODEL_POOL_VARIABLE)
        environment[MODEL_POOL_VARIABLE] = "model"
        try:
            yield
        finally:
            if before is None:
                del environment[MODEL_POOL_VARIABLE]
            else:
                environment[MODEL_POOL_VARIABLE] = before


class _BertModelWriter(DefaultParamsWriter):
    """Saves the params and, in ``model/``, the checkpoint files (safetensors weights, config,
    tokenizer): a saved stage or pipeline needs nothing outside its own folder."""

    def saveImpl(self, path: str) -> None:
        super().saveImpl(path)
        model_path = self.instance.getModelPath()
        target = join_location(path, "model")
        if is_uri(target):
            storage.copy_from_local(model_path, target, self.sparkSession, model_files(model_path))
        else:
            copy_checkpoint(model_path, target)


class _BertModelReader(DefaultParamsReader):
    """Loads the params and points ``modelPath`` at a copy of the saved ``model/`` folder in
    the cache folder: hard links to the saved files (no bytes copied) on a local disk, a copy
    from a Hadoop filesystem. The loaded stage must not read the saved folder itself: saving
    the pipeline back over ``path`` (``write().overwrite().save(path)``, which deletes ``path``
    before any stage writes) or deleting it would take its weights away."""

    def load(self, path: str) -> BertModelStage:
        stage = super().load(path)
        saved = join_location(path, "model")
        if is_uri(saved):
            local = cache_subfolder("saved", saved, self.sparkSession)
            saved = storage.copy_to_local(saved, local, self.sparkSession)
            read_checkpoint_config(saved)
        else:
            read_checkpoint_config(saved)  # before linking: an error names the saved folder
            saved = copy_checkpoint(
                saved, os.path.join(cache_subfolder("saved", checkpoint_fingerprint(saved), self.sparkSession), "model"),
                link=True,
            )
        stage._set(modelPath=os.path.abspath(saved))
        return stage
