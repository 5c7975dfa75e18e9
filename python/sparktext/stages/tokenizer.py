"""Tokenizer (an Estimator) and TokenizerModel: sentences into ``token`` annotations."""

from __future__ import annotations

from typing import Callable

import pyarrow as pa
from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame

from sparktext.annotation import AnnotatorType
from sparktext.columnar import AnnotationBuilder, read_annotations
from sparktext.params import HasMinMaxLength, HasOutputCol
from sparktext.stages._base import (
    AnnotatorTransformer,
    HasAnnotatorInputs,
    report_dropped,
    set_given_params,
)
from sparktext.text.tokenizer import (
    DEFAULT_CONTEXT_CHARS,
    DEFAULT_MAX_LENGTH,
    DEFAULT_TARGET_PATTERN,
    TokenizerRules,
    get_tokenizer,
)


class _TokenizerParams(HasAnnotatorInputs, HasOutputCol, HasMinMaxLength):
    """The params Tokenizer and TokenizerModel share, declared once."""

    inputAnnotatorTypes = (AnnotatorType.DOCUMENT,)

    targetPattern: Param[str] = Param(
        Params._dummy(), "targetPattern", "regex whose matches are the token candidates", TypeConverters.toString
    )
    prefixPattern: Param[str] = Param(
        Params._dummy(),
        "prefixPattern",
        "regex starting with \\A whose groups split tokens off a candidate's start (overrides contextChars)",
        TypeConverters.toString,
    )
    suffixPattern: Param[str] = Param(
        Params._dummy(),
        "suffixPattern",
        "regex ending with \\z whose groups split tokens off a candidate's end (overrides contextChars)",
        TypeConverters.toString,
    )
    infixPatterns: Param[list[str]] = Param(
        Params._dummy(),
        "infixPatterns",
        "regexes with groups, tried in order between prefix and suffix; each group is a token",
        TypeConverters.toListString,
    )
    exceptions: Param[list[str]] = Param(
        Params._dummy(), "exceptions", "patterns of text kept as one token, untouched", TypeConverters.toListString
    )
    caseSensitiveExceptions: Param[bool] = Param(
        Params._dummy(), "caseSensitiveExceptions", "match exceptions case-sensitively", TypeConverters.toBoolean
    )
    contextChars: Param[list[str]] = Param(
        Params._dummy(),
        "contextChars",
        "single characters split off the start and end of candidates",
        TypeConverters.toListString,
    )
    splitChars: Param[list[str]] = Param(
        Params._dummy(),
        "splitChars",
        "single characters to split tokens at inside (e.g. '-'); dropped from the output",
        TypeConverters.toListString,
    )
    splitPattern: Param[str] = Param(
        Params._dummy(),
        "splitPattern",
        "regex to split tokens at inside; takes priority over splitChars",
        TypeConverters.toString,
    )

    def _set_tokenizer_defaults(self) -> None:
        self._setDefault(
            inputCols=["document"],
            outputCol="token",
            targetPattern=DEFAULT_TARGET_PATTERN,
            contextChars=list(DEFAULT_CONTEXT_CHARS),
            caseSensitiveExceptions=True,
            exceptions=[],
            minLength=0,
            maxLength=DEFAULT_MAX_LENGTH,
        )

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

    # Chainable setters and getters, Spark NLP's names.
    def setTargetPattern(self, value: str):
        return self._set(targetPattern=value)

    def getTargetPattern(self) -> str:
        return self.getOrDefault(self.targetPattern)

    def setPrefixPattern(self, value: str):
        return self._set(prefixPattern=value)

    def getPrefixPattern(self) -> str:
        return self.getOrDefault(self.prefixPattern)

    def setSuffixPattern(self, value: str):
        return self._set(suffixPattern=value)

    def getSuffixPattern(self) -> str:
        return self.getOrDefault(self.suffixPattern)

    def setInfixPatterns(self, value: list[str]):
        return self._set(infixPatterns=value)

    def addInfixPattern(self, value: str):
        """Put one infix pattern first, before the current ones."""
        return self._set(infixPatterns=[value] + list(self._optional(self.infixPatterns) or []))

    def getInfixPatterns(self) -> list[str]:
        return self.getOrDefault(self.infixPatterns)

    def setExceptions(self, value: list[str]):
        return self._set(exceptions=value)

    def addException(self, value: str):
        return self._set(exceptions=list(self.getOrDefault(self.exceptions)) + [value])

    def getExceptions(self) -> list[str]:
        return self.getOrDefault(self.exceptions)

    def setCaseSensitiveExceptions(self, value: bool):
        return self._set(caseSensitiveExceptions=value)

    def getCaseSensitiveExceptions(self) -> bool:
        return self.getOrDefault(self.caseSensitiveExceptions)

    def setContextChars(self, value: list[str]):
        return self._set(contextChars=value)

    def addContextChars(self, value: str):
        return self._set(contextChars=list(self.getOrDefault(self.contextChars)) + [value])

    def getContextChars(self) -> list[str]:
        return self.getOrDefault(self.contextChars)

    def setSplitChars(self, value: list[str]):
        return self._set(splitChars=value)

    def addSplitChars(self, value: str):
        return self._set(splitChars=list(self._optional(self.splitChars) or []) + [value])

    def getSplitChars(self) -> list[str]:
        return self.getOrDefault(self.splitChars)

    def setSplitPattern(self, value: str):
        return self._set(splitPattern=value)

    def getSplitPattern(self) -> str:
        return self.getOrDefault(self.splitPattern)


class Tokenizer(Estimator, _TokenizerParams, DefaultParamsReadable, DefaultParamsWritable):
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

    exceptionsPath: Param[str] = Param(
        Params._dummy(),
        "exceptionsPath",
        "text file of exception patterns, one per line (any Hadoop filesystem path)",
        TypeConverters.toString,
    )

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: list[str] | None = None,
        outputCol: str = "token",
        targetPattern: str = DEFAULT_TARGET_PATTERN,
        prefixPattern: str | None = None,
        suffixPattern: str | None = None,
        infixPatterns: list[str] | None = None,
        exceptions: list[str] | None = None,
        exceptionsPath: str | None = None,
        caseSensitiveExceptions: bool = True,
        contextChars: list[str] | None = None,
        splitChars: list[str] | None = None,
        splitPattern: str | None = None,
        minLength: int = 0,
        maxLength: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        super().__init__()
        self._set_tokenizer_defaults()
        set_given_params(self, self._input_kwargs)

    def setExceptionsPath(self, value: str) -> "Tokenizer":
        return self._set(exceptionsPath=value)

    def getExceptionsPath(self) -> str:
        return self.getOrDefault(self.exceptionsPath)

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

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, outputCol: str = "token") -> None:
        super().__init__()
        self._set_tokenizer_defaults()
        set_given_params(self, self._input_kwargs)

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
