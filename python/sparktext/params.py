"""Typed Params shared by several stages, declared once, as pyspark.ml mixins.

Each mixin declares its Param with a type converter and a doc string, plus a chainable
setter and a getter. Converters that check allowed values raise ``ValueError`` naming the
param, what was given and what is allowed, the moment a bad value is set.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Sequence

from pyspark.ml.param import Param, Params, TypeConverters

logger = logging.getLogger(__name__)


def one_of(name: str, allowed: Sequence[str], *, lower: bool = True) -> Callable[[Any], str]:
    """A type converter accepting only ``allowed`` strings (case-insensitive by default)."""

    def convert(value: Any) -> str:
        text = TypeConverters.toString(value)
        key = text.strip().lower() if lower else text
        if key not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
        return key

    return convert


def int_at_least(name: str, minimum: int) -> Callable[[Any], int]:
    """A type converter for integers no smaller than ``minimum``."""

    def convert(value: Any) -> int:
        number = TypeConverters.toInt(value)
        if number < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
        return number

    return convert


def column_names(value: Any) -> list[str]:
    """Accept ``"a"``, ``["a", "b"]`` or ``("a", "b")`` as a list of column names."""
    if isinstance(value, str):
        return [value]
    return TypeConverters.toListString(value)


def describe_stage(stage: Params) -> str:
    """How error messages name a stage: its class and uid."""
    return f"{type(stage).__name__} (uid {stage.uid})"


class StageParams(Params):
    """Params whose bad values are reported with the stage's name: ``BertEmbeddings (uid
    BertEmbeddings_1a2b): maxSentenceLength must be in 3..512 ..., got 0``."""

    def _set(self, **kwargs: Any) -> "StageParams":
        try:
            return super()._set(**kwargs)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{describe_stage(self)}: {error}") from error

    def setParams(self, **kwargs: Any) -> "StageParams":
        """Set several params by name, as ``pyspark.ml`` stages' ``setParams`` do (Spark NLP
        code calls it too); a name the stage does not have is a ``TypeError`` naming it."""
        unknown = sorted(name for name in kwargs if not self.hasParam(name))
        if unknown:
            known = sorted(param.name for param in self.params)
            raise TypeError(f"{describe_stage(self)}: no param(s) {unknown}; its params are {known}")
        return self._set(**{name: value for name, value in kwargs.items() if value is not None})

    def setLazyAnnotator(self, value: bool) -> "StageParams":
        """Spark NLP's switch for annotators run only inside its RecursivePipeline. A plain
        Spark ``Pipeline`` runs every stage, here as there: accepted, changes nothing (logged)."""
        log_no_op(self, "setLazyAnnotator", value)
        return self

    def getLazyAnnotator(self) -> bool:
        return False


def log_no_op(stage: Params, method: str, value: Any) -> None:
    logger.info("%s: %s(%r) has no meaning in sparktext; nothing changed", describe_stage(stage), method, value)


def _flatten_args(values: Iterable[Any]) -> list[Any]:
    values = list(values)
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        return list(values[0])
    return values


class HasInputCol(StageParams):
    """A single input column (text for DocumentAssembler)."""

    inputCol: Param[str] = Param(
        Params._dummy(), "inputCol", "name of the input column", typeConverter=TypeConverters.toString
    )

    def setInputCol(self, value: str) -> "HasInputCol":
        """Set the input column name."""
        return self._set(inputCol=value)

    def getInputCol(self) -> str:
        return self.getOrDefault(self.inputCol)


class HasInputCols(StageParams):
    """Input annotator columns, one per annotator type the stage expects, in that order."""

    inputCols: Param[list[str]] = Param(
        Params._dummy(),
        "inputCols",
        "names of the input annotator columns, one per expected annotator type, in order",
        typeConverter=column_names,
    )

    def setInputCols(self, *value: str | Sequence[str]) -> "HasInputCols":
        """Set the input columns: ``setInputCols("sentence", "token")`` or a list."""
        return self._set(inputCols=_flatten_args(value))

    def getInputCols(self) -> list[str]:
        return self.getOrDefault(self.inputCols)


class HasOutputCols(StageParams):
    """Several output columns, one per input column."""

    outputCols: Param[list[str]] = Param(
        Params._dummy(), "outputCols", "names of the output columns, one per input column", typeConverter=column_names
    )

    def setOutputCols(self, *value: str | Sequence[str]) -> "HasOutputCols":
        """Set the output columns: ``setOutputCols("a", "b")`` or a list."""
        return self._set(outputCols=_flatten_args(value))

    def getOutputCols(self) -> list[str]:
        return self.getOrDefault(self.outputCols)


class HasOutputCol(StageParams):
    """The output annotator column."""

    outputCol: Param[str] = Param(
        Params._dummy(), "outputCol", "name of the output annotator column", typeConverter=TypeConverters.toString
    )

    def setOutputCol(self, value: str) -> "HasOutputCol":
        """Set the output column name."""
        return self._set(outputCol=value)

    def getOutputCol(self) -> str:
        return self.getOrDefault(self.outputCol)


class HasMinMaxLength(StageParams):
    """Bounds on the length, in characters, of the annotations a stage emits."""

    minLength: Param[int] = Param(
        Params._dummy(),
        "minLength",
        "annotations shorter than this many characters are dropped (counted and logged once per task)",
        typeConverter=int_at_least("minLength", 0),
    )
    maxLength: Param[int] = Param(
        Params._dummy(),
        "maxLength",
        "annotations longer than this many characters are cut into pieces of at most this length",
        typeConverter=int_at_least("maxLength", 1),
    )

    def setMinLength(self, value: int) -> "HasMinMaxLength":
        return self._set(minLength=value)

    def getMinLength(self) -> int:
        return self.getOrDefault(self.minLength)

    def setMaxLength(self, value: int) -> "HasMinMaxLength":
        return self._set(maxLength=value)

    def getMaxLength(self) -> int:
        return self.getOrDefault(self.maxLength)
