"""LightPipeline: a fitted pipeline run on the driver, on a few texts, with no Spark job.

Each stage computes its output with ``annotate_arrow`` -- the same function its Spark UDF
runs on the executors, on an Arrow batch built here instead of one sent by Spark -- so a
LightPipeline gives the annotations ``transform()`` gives, without a job's scheduling,
serialisation and worker round trips (see ``benchmarks/bench_light.py`` for the latency).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Sequence

import pyarrow as pa

from sparktext.annotation import Annotation

logger = logging.getLogger(__name__)


class LightPipeline:
    """Annotate strings on the driver with a fitted ``PipelineModel``.

    Stages run in order; each reads the columns named by its ``inputCols`` and writes its
    ``outputCol``. A ``Finisher`` decides the keys, as in Spark NLP: from there on the results
    hold only the columns it finishes (still as annotations, under their own names).
    ``EmbeddingsFinisher`` and stages that are not sparktext annotators (Spark ML models) are
    skipped, as in Spark NLP, with one log line naming them. ``DocumentAssembler``'s ``idCol``
    and ``metadataCol`` do not apply, and ``SentenceDetector``'s ``explodeSentences`` does not
    split a text into several results.

    Parameters
    ----------
    pipeline_model : pyspark.ml.PipelineModel
        A fitted pipeline (``Pipeline(...).fit(df)``, or ``PipelineModel.load(path)``).
    parse_embeddings : bool, default False
        Whether ``fullAnnotate`` fills each annotation's ``embeddings``; without it they are
        empty lists, as in Spark NLP (and the vectors are never turned into Python floats).
    output_cols : list of str, optional
        The columns the results hold (default: every annotator column the pipeline makes).

    Examples
    --------
    >>> from pyspark.ml import PipelineModel
    >>> from sparktext import DocumentAssembler, LightPipeline, SentenceDetector, TokenizerModel
    >>> model = PipelineModel(stages=[
    ...     DocumentAssembler().setInputCol("text"),
    ...     SentenceDetector().setInputCols("document").setOutputCol("sentence"),
    ...     TokenizerModel().setInputCols("sentence").setOutputCol("token"),
    ... ])
    >>> LightPipeline(model).annotate("Hello world. Bye!")["token"]
    ['Hello', 'world', '.', 'Bye', '!']
    """

    def __init__(self, pipeline_model: Any, parse_embeddings: bool = False, output_cols: Sequence[str] | None = None) -> None:
        from pyspark.ml import PipelineModel

        from sparktext.stages._base import AnnotatorTransformer, FinisherTransformer
        from sparktext.stages.document_assembler import DocumentAssembler
        from sparktext.stages.finisher import Finisher

        if not isinstance(pipeline_model, PipelineModel):
            raise TypeError(
                f"LightPipeline needs a fitted PipelineModel (Pipeline(...).fit(df)), got {type(pipeline_model).__name__}"
            )
        self.pipeline_model = pipeline_model
        self.parse_embeddings = bool(parse_embeddings)
        self.output_cols = list(output_cols or [])
        self._ignore_unsupported = False
        runnable = (DocumentAssembler, AnnotatorTransformer, Finisher)
        self._stages = [stage for stage in pipeline_model.stages if isinstance(stage, runnable)]
        skipped = [
            type(stage).__name__ for stage in pipeline_model.stages
            if not isinstance(stage, runnable + (FinisherTransformer,))
        ]
        if skipped:
            logger.info("LightPipeline skips stages that are not annotators: %s", ", ".join(skipped))
        assemblers = [s for s in self._stages if isinstance(s, DocumentAssembler)]
        if len(assemblers) != 1:
            raise ValueError(f"LightPipeline needs exactly one DocumentAssembler in the pipeline, found {len(assemblers)}")
        self._text_column = assemblers[0].getInputCol()

    def _run(self, texts: list[str]) -> dict[str, pa.Array]:
        from sparktext.stages.finisher import Finisher

        for number, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"LightPipeline annotates strings; text {number} is {type(text).__name__}")
        # The texts are the DocumentAssembler's input column; every stage then reads its input
        # columns by name and writes its output column, as in the Spark job.
        columns: dict[str, pa.Array] = {self._text_column: pa.array(texts, type=pa.string())}
        types: dict[str, str | None] = {self._text_column: None}  # each column's annotator type
        for stage in self._stages:
            if isinstance(stage, Finisher):  # Spark NLP's LightPipeline keeps only what it finishes
                kept = set(stage.getInputCols())
                columns = {name: column for name, column in columns.items() if name in kept}
                continue
            names = stage.inputColumnsFor(types)
            columns[stage.getOutputCol()] = stage.annotate_arrow(*[columns[name] for name in names])
            types[stage.getOutputCol()] = stage.outputAnnotatorType
        columns.pop(self._text_column, None)
        return columns

    def fullAnnotate(self, target: str | Sequence[str]) -> list[dict[str, list[Annotation]]]:
        """:class:`Annotation` objects per output column, one dict per text, in a list even for
        one string (Spark NLP's shape: ``fullAnnotate(text)[0]["token"]``). Their
        ``embeddings`` are filled only with ``parse_embeddings=True``."""
        results = self._per_text(target, Annotation.from_row, vectors=self.parse_embeddings)
        return results if not isinstance(target, str) else [results]

    def annotate(self, target: str | Sequence[str]) -> dict[str, list[str]] | list[dict[str, list[str]]]:
        """The ``result`` strings per output column: a dict for one string, a list of dicts for
        a list of strings (embedding columns give their annotations' texts, as in Spark NLP)."""
        return self._per_text(target, lambda item: item["result"])

    def setIgnoreUnsupported(self, value: bool) -> "LightPipeline":
        """Accepted for Spark NLP code, where it lets a LightPipeline pass over stages it cannot
        run. Here those (finishers, Spark ML models) are always passed over, named in one log
        line when the LightPipeline is made; the flag changes nothing."""
        self._ignore_unsupported = bool(value)
        return self

    def getIgnoreUnsupported(self) -> bool:
        return self._ignore_unsupported

    def _per_text(self, target: str | Sequence[str], convert, vectors: bool = False) -> dict | list[dict]:
        """Run the stages on ``target`` and give each text ``{column: [convert(annotation)]}``
        (``vectors``: keep each annotation's embeddings)."""
        if isinstance(target, str):
            texts = [target]
        elif isinstance(target, Iterable) and not isinstance(target, (bytes, dict)):
            texts = list(target)
        else:
            raise TypeError(f"LightPipeline annotates a string or a list of strings, got {type(target).__name__}")
        columns = self._run(texts)
        if self.output_cols:
            unknown = [name for name in self.output_cols if name not in columns]
            if unknown:
                raise ValueError(f"output_cols {unknown} are made by no stage; the pipeline makes {list(columns)}")
            columns = {name: columns[name] for name in self.output_cols}
        if not vectors:  # never turn the floats into Python objects only to drop them
            columns = {name: _without_vectors(column) for name, column in columns.items()}
        results = [
            {name: [convert(item) for item in (column[row].as_py() or [])] for name, column in columns.items()}
            for row in range(len(texts))
        ]
        return results[0] if isinstance(target, str) else results

    def transform(self, dataframe):
        """The pipeline on a DataFrame, as Spark runs it (Spark NLP's LightPipeline has it too)."""
        return self.pipeline_model.transform(dataframe)


def _without_vectors(column: pa.Array) -> pa.Array:
    """An annotator column with every ``embeddings`` list null (the rest unchanged)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.offset:  # Arrow rebuilds a list array with nulls from unsliced offsets only
        column = column.take(pa.array(range(len(column)), type=pa.int64()))
    structs = column.values
    fields = structs.flatten()  # the children as the struct array sees them (its offset applied)
    index = structs.type.get_field_index("embeddings")
    fields[index] = pa.nulls(len(structs), type=structs.type.field(index).type)
    emptied = pa.StructArray.from_arrays(fields, fields=list(structs.type), mask=structs.is_null())
    return pa.ListArray.from_arrays(column.offsets, emptied, mask=column.is_null())
