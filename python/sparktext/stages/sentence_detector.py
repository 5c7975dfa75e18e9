"""SentenceDetector: split documents into ``document``-type sentence annotations."""

from __future__ import annotations

import logging
from typing import Callable

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparktext.annotation import AnnotatorType
from sparktext.columnar import AnnotationBuilder, read_annotations
from sparktext.shared_params import (
    HasCustomBounds,
    HasCustomBoundsStrategy,
    HasDetectLists,
    HasExplodeSentences,
    HasKeepRowsWithoutSentences,
    HasMaxLength,
    HasMinLength,
    HasSplitLength,
    HasUseAbbreviations,
    HasUseCustomBoundsOnly,
)
from sparktext.stages._base import AnnotatorTransformer, report_dropped
from sparktext.stages._spark_udf import HAS_ARROW_UDF, with_annotator_column
from sparktext.text.sentences import SentenceRules, sentence_spans_counted

logger = logging.getLogger(__name__)


class SentenceDetector(
    AnnotatorTransformer, HasUseAbbreviations, HasDetectLists, HasCustomBounds, HasUseCustomBoundsOnly,
    HasCustomBoundsStrategy, HasExplodeSentences, HasKeepRowsWithoutSentences, HasSplitLength, HasMinLength,
    HasMaxLength,
):
    """Find sentence boundaries in each document with English rules.

    Output annotations are of type ``document`` (as in Spark NLP), one per sentence, numbered
    across the row in metadata ``sentence=<i>``, with the document's metadata carried over.
    ``begin``/``end`` index the document text; surrounding whitespace is left out.

    Parameters
    ----------
    inputCols : list of str, default ["document"]
    outputCol : str, default "sentence"
    useAbbreviations : bool, default True
        Do not end sentences after known abbreviations and initials (``Dr.``, ``J. Smith``).
    detectLists : bool, default True
        Start sentences at list items and at line breaks before capitalised lines.
    customBounds : list of str, default []
        Regular expressions (Java syntax) whose matches also end sentences.
    useCustomBoundsOnly : bool, default False
        Split at ``customBounds`` only, not by the rules.
    customBoundsStrategy : str, default "none"
        What happens to the text a custom bound matched: ``none`` drops it, ``prepend`` puts
        it at the start of the next sentence, ``append`` at the end of the previous one.
    explodeSentences : bool, default False
        One output row per sentence. A row without a sentence (null or blank text) is
        dropped, as Spark NLP drops it, unless ``keepRowsWithoutSentences``.
    keepRowsWithoutSentences : bool, default False
        With ``explodeSentences``, keep the rows without a sentence, with an empty array.
    splitLength : int, optional
        Cut sentences longer than this many characters (at a space where there is one).
    minLength : int, default 0
        Drop sentences shorter than this many characters (counted and logged on the executor,
        once per task).
    maxLength : int, default 99999
        Cut sentences longer than this many characters into pieces of at most that length,
        at spaces where there are any. Spark NLP drops them, and their text with them.

    Examples
    --------
    >>> from sparktext import DocumentAssembler, SentenceDetector
    >>> df = spark.createDataFrame([("Dr. Smith came home. He was late.",)], ["text"])
    >>> documents = DocumentAssembler().setInputCol("text").transform(df)
    >>> detector = SentenceDetector().setInputCols(["document"]).setOutputCol("sentence")
    >>> [(s.result, s.begin, s.end) for s in detector.transform(documents).first().sentence]
    [('Dr. Smith came home.', 0, 19), ('He was late.', 21, 32)]
    """

    inputAnnotatorTypes = (AnnotatorType.DOCUMENT,)
    outputAnnotatorType = AnnotatorType.DOCUMENT
    stageDefaults = {"inputCols": ["document"], "outputCol": "sentence"}

    def rules(self) -> SentenceRules:
        """The :class:`SentenceRules` these params describe (checked: bad patterns raise)."""
        return SentenceRules(
            use_abbreviations=self.getUseAbbreviations(),
            detect_lists=self.getDetectLists(),
            custom_bounds=tuple(self.getCustomBounds()),
            use_custom_bounds_only=self.getUseCustomBoundsOnly(),
            custom_bounds_strategy=self.getCustomBoundsStrategy(),
            split_length=self.getSplitLength() if self.isDefined(self.splitLength) else None,
            min_length=self.getMinLength(),
            max_length=self.getMaxLength(),
        )

    def batch_function(self) -> Callable[[pa.Array], pa.Array]:
        rules = self.rules()

        def detect(documents: pa.Array) -> pa.Array:
            return detect_sentences(documents, rules)

        return detect

    def _transform(self, dataset: DataFrame) -> DataFrame:
        result = super()._transform(dataset)
        if not self.getExplodeSentences():
            return result
        output = self.getOutputCol()
        carried = [name for name in result.columns if name != output]
        if not HAS_ARROW_UDF and carried:
            # mapInArrow cannot be pruned by Spark: every later stage gets each sentence's whole row.
            logger.warning(
                "explodeSentences on PySpark < 4.1: each sentence's row carries %s through every later "
                "stage's Python worker; for very large documents select only the columns you need "
                "first (README, Spark versions)", ", ".join(carried))
        field = result.schema[output]
        keep = self.getKeepRowsWithoutSentences()
        single = (F.explode_outer if keep else F.explode)(F.col(output))
        exploded = result.withColumn(output, single)
        rewrapped = F.when(F.col(output).isNull(), F.array()).otherwise(F.array(F.col(output)))
        return with_annotator_column(exploded, output, rewrapped.cast(field.dataType), field.metadata)


def detect_sentences(documents: pa.Array, rules: SentenceRules) -> pa.Array:
    """Sentence annotations for a batch of document annotation lists (the UDF's body)."""
    batch = read_annotations(documents)
    builder = AnnotationBuilder(AnnotatorType.DOCUMENT)
    dropped = 0
    for _, indices in batch.by_row():
        sentence_index = 0
        for i in indices:
            text, offset, metadata = batch.results[i], int(batch.begins[i]), batch.metadata[i]
            spans, short = sentence_spans_counted(text, rules)
            dropped += short
            for begin, end in spans:
                builder.add(offset + begin, offset + end, text[begin : end + 1], {**metadata, "sentence": str(sentence_index)})
                sentence_index += 1
        builder.end_row()
    report_dropped("SentenceDetector", dropped, f"sentences shorter than minLength={rules.min_length}")
    return builder.finish()
