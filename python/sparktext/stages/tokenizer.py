"""Tokenizer (an Estimator) and TokenizerModel: sentences into ``token`` annotations."""

from __future__ import annotations

from typing import Callable

import pyarrow as pa
from pyspark.ml import Estimator
from pyspark.ml.param import Param
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame

from sparktext.annotation import AnnotatorType
from sparktext.columnar import AnnotationBuilder, read_annotations
from sparktext.shared_params import (
    HasCaseSensitiveExceptions,
    HasContextChars,
    HasExceptions,
    HasExceptionsPath,
    HasInfixPatterns,
    HasMaxLength,
    HasMinLength,
    HasOutputCol,
    HasPrefixPattern,
    HasSplitChars,
    HasSplitPattern,
    HasSuffixPattern,
    HasTargetPattern,
)
from sparktext.params import KeywordConstructor
from sparktext.stages._base import AnnotatorTransformer, HasAnnotatorInputs, report_dropped
from sparktext.text.tokenizer import TokenizerRules, get_tokenizer


class _TokenizerParams(
    HasAnnotatorInputs, HasOutputCol, HasTargetPattern, HasPrefixPattern, HasSuffixPattern, HasInfixPatterns,
    HasExceptions, HasCaseSensitiveExceptions, HasContextChars, HasSplitChars, HasSplitPattern, HasMinLength,
    HasMaxLength,
):
    """The params Tokenizer and TokenizerModel share, declared once."""

    inputAnnotatorTypes = (AnnotatorType.DOCUMENT,)

    stageDefaults = {"inputCols": ["document"], "outputCol": "token"}

    def _optional(self, param: Param):
        return self.getOrDefault(param) if self.isDefined(param) else None

    def rules(self, extra_exceptions: tuple[str, ...] = ()) -> TokenizerRules:
        """The :class:`TokenizerRules` these params describe (checked: bad values raise)."""
        infixes = self._optional(self.infixPatterns)
        return TokenizerRules(
            target_pattern=self.getOrDefault(self.targetPattern),
            prefix_pattern=self._optional(self.prefixPattern),
            suffix_pattern=self._optional(self.suffixPattern),
            infix_patterns=tuple(infixes) if infixes else None,
            context_chars=tuple(self.getOrDefault(self.contextChars)),
            exceptions=tuple(self.getOrDefault(self.exceptions)) + extra_exceptions,
            case_sensitive_exceptions=self.getOrDefault(self.caseSensitiveExceptions),
            split_chars=tuple(self._optional(self.splitChars) or ()),
            split_pattern=self._optional(self.splitPattern),
            min_length=self.getMinLength(),
            max_length=self.getMaxLength(),
        )

    # Spark NLP's add* helpers beside the generated setters and getters.
    def addInfixPattern(self, value: str):
        """Put one infix pattern first, before the current ones."""
        return self._set(infixPatterns=[value] + list(self._optional(self.infixPatterns) or []))

    def addException(self, value: str):
        return self._set(exceptions=list(self.getOrDefault(self.exceptions)) + [value])

    def addContextChars(self, value: str):
        return self._set(contextChars=list(self.getOrDefault(self.contextChars)) + [value])

    def addSplitChars(self, value: str):
        return self._set(splitChars=list(self._optional(self.splitChars) or []) + [value])


class Tokenizer(
    KeywordConstructor, Estimator, _TokenizerParams, HasExceptionsPath, DefaultParamsReadable, DefaultParamsWritable
):
    """Cut sentences (or documents) into tokens with Spark NLP's rules.

    An Estimator, as in Spark NLP: ``fit()`` checks the rules, reads ``exceptionsPath`` and
    returns a :class:`TokenizerModel`, which does the work. Nothing is learned from the data,
    so ``fit()`` runs no Spark job unless ``exceptionsPath`` is set.

    Parameters
    ----------
    inputCols : list of str, default ["document"]
        One ``document``-type column: documents or sentences.
    outputCol : str, default "token"
    targetPattern : str, default ``\\S+``
        Token candidates are this pattern's matches.
    prefixPattern, suffixPattern : str, optional
        Regexes (``\\A...``, ``...\\z``) with groups; default: runs of ``contextChars``.
    infixPatterns : list of str, optional
        Regexes with groups, the first that matches a candidate wins.
    exceptions : list of str, default []
        Patterns of text kept as one token ("New York", "e.g.").
    exceptionsPath : str, optional
        A text file (any Hadoop filesystem path) of exception patterns, one per line.
    caseSensitiveExceptions : bool, default True
    contextChars : list of str, default ``. , ; : ! ? * - ( ) " '``
    splitChars : list of str, optional
        Characters to split tokens at inside.
    splitPattern : str, optional
        Regex to split tokens at inside.
    minLength : int, default 0
        Drop tokens shorter than this many characters (counted and logged on the executor,
        once per task).
    maxLength : int, default 99999
        Cut tokens longer than this many characters into pieces of that length (Spark NLP
        drops them, and their text with them).

    Examples
    --------
    >>> from sparktext import DocumentAssembler, Tokenizer
    >>> df = spark.createDataFrame([("I'd like to say we didn't expect that. Jane's boyfriend.",)], ["text"])
    >>> documents = DocumentAssembler().setInputCol("text").transform(df)
    >>> model = Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(documents)
    >>> [t.result for t in model.transform(documents).first().token]
    ["I'd", 'like', 'to', 'say', 'we', "didn't", 'expect', 'that', '.', "Jane's", 'boyfriend', '.']
    """

    def _fit(self, dataset: DataFrame) -> "TokenizerModel":
        # The columns are checked at transform(), as Spark NLP does: its docs fit a Tokenizer
        # on a DataFrame that has only the text.
        from_file: tuple[str, ...] = ()
        if self.isDefined(self.exceptionsPath):
            lines = dataset.sparkSession.read.text(self.getExceptionsPath()).collect()
            from_file = tuple(row.value.strip() for row in lines if row.value and row.value.strip())
        rules = self.rules(from_file)  # validates every pattern before a model exists
        get_tokenizer(rules)
        model = self._copyValues(TokenizerModel())
        return model._set(exceptions=list(rules.exceptions))


class TokenizerModel(AnnotatorTransformer, _TokenizerParams):
    """The fitted Tokenizer: applies the rules to every ``document``-type annotation.

    Each input annotation (a sentence or a whole document) is tokenized on its own; tokens
    carry metadata ``sentence`` from it (or its position when it has none).
    """

    outputAnnotatorType = AnnotatorType.TOKEN

    def batch_function(self) -> Callable[[pa.Array], pa.Array]:
        rules = self.rules()
        get_tokenizer(rules)  # compile here, on the driver, so a bad pattern fails before the job

        def tokenize_batch(sentences: pa.Array) -> pa.Array:
            return tokenize_annotations(sentences, rules)

        return tokenize_batch


def tokenize_annotations(sentences: pa.Array, rules: TokenizerRules) -> pa.Array:
    """Token annotations for a batch of sentence annotation lists (the UDF's body)."""
    tokenizer = get_tokenizer(rules)
    batch = read_annotations(sentences)
    builder = AnnotationBuilder(AnnotatorType.TOKEN)
    dropped = 0
    for _, indices in batch.by_row():
        for position, i in enumerate(indices):
            text, offset = batch.results[i], int(batch.begins[i])
            metadata = {"sentence": batch.metadata[i].get("sentence", str(position))}
            spans, short = tokenizer.tokenize_counted(text)
            dropped += short
            builder.extend(
                [offset + b for b, _ in spans],
                [offset + e for _, e in spans],
                [text[b : e + 1] for b, e in spans],
                metadata,
            )
        builder.end_row()
    report_dropped("Tokenizer", dropped, f"tokens shorter than minLength={rules.min_length}")
    return builder.finish()
