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
    ``outputCol``. The finishers (whose output is not annotations) and stages that are not
    sparktext annotators (Spark ML models) are skipped, as in Spark NLP, with one log line
    naming them. ``DocumentAssembler``'s ``idCol`` and ``metadataCol`` do not apply, and
    ``SentenceDetector``'s ``explodeSentences`` does not split a text into several results.

    Parameters
    ----------
    pipeline_model : pyspark.ml.PipelineModel
        A fitted pipeline (``Pipeline(...).fit(df)``, or ``PipelineModel.load(path)``).

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

    def __init__(self, pipeline_model: Any) -> None:
        from pyspark.ml import PipelineModel

        from sparktext.stages._base import AnnotatorTransformer, FinisherTransformer
        from sparktext.stages.document_assembler import DocumentAssembler

        if not isinstance(pipeline_model, PipelineModel):
            raise TypeError(
                f"LightPipeline needs a fitted PipelineModel (Pipeline(...).fit(df)), got {type(pipeline_model).__name__}"
            )
        self.pipeline_model = pipeline_model
        runnable = (DocumentAssembler, AnnotatorTransformer)
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

    def _run(self, texts: list[str]) -> dict[str, pa.Array]:
        from sparktext.stages.document_assembler import DocumentAssembler

        for number, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"LightPipeline annotates strings; text {number} is {type(text).__name__}")
        columns: dict[str, pa.Array] = {}
        for stage in self._stages:
            if isinstance(stage, DocumentAssembler):
                columns[stage.getOutputCol()] = stage.annotate_arrow(pa.array(texts, type=pa.string()))
                continue
            names = stage.getInputCols()
            missing = [name for name in names if name not in columns]
            if missing:
                raise ValueError(
                    f"{type(stage).__name__}: input column(s) {missing} are made by no earlier stage; "
                    f"the pipeline makes {list(columns)}"
                )
            columns[stage.getOutputCol()] = stage.annotate_arrow(*[columns[name] for name in names])
        return columns

    def fullAnnotate(self, target: str | Sequence[str]) -> dict[str, list[Annotation]] | list[dict[str, list[Annotation]]]:
        """Annotation objects (with embeddings) per output column: a dict for one string, a
        list of dicts for a list of strings."""
        return self._per_text(target, Annotation.from_row)

    def annotate(self, target: str | Sequence[str]) -> dict[str, list[str]] | list[dict[str, list[str]]]:
        """The ``result`` strings per output column: a dict for one string, a list of dicts for
        a list of strings (embedding columns give their annotations' texts, as in Spark NLP)."""
        return self._per_text(target, lambda item: item["result"])

    def _per_text(self, target: str | Sequence[str], convert) -> dict | list[dict]:
        """Run the stages on ``target`` and give each text ``{column: [convert(annotation)]}``."""
        if isinstance(target, str):
            texts = [target]
        elif isinstance(target, Iterable) and not isinstance(target, (bytes, dict)):
            texts = list(target)
        else:
            raise TypeError(f"LightPipeline annotates a string or a list of strings, got {type(target).__name__}")
        columns = self._run(texts)
        results = [
            {name: [convert(item) for item in (column[row].as_py() or [])] for name, column in columns.items()}
            for row in range(len(texts))
        ]
        return results[0] if isinstance(target, str) else results

    def transform(self, dataframe):
        """The pipeline on a DataFrame, as Spark runs it (Spark NLP's LightPipeline has it too)."""
        return self.pipeline_model.transform(dataframe)
