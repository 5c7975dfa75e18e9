"""What every stage's params rest on: the type converters and :class:`StageParams`.

The params themselves are declared once, in the table of ``_shared_params_code_gen.py``,
which generates a mixin per param (``shared_params.py``). Converters that check allowed values
raise ``ValueError`` naming the param, what was given and what is allowed, the moment a bad
value is set.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Sequence

from pyspark.ml.param import Params, TypeConverters

logger = logging.getLogger(__name__)


def one_of(name: str, allowed: Sequence[str], *, case: str = "lower") -> Callable[[Any], str]:
    """A type converter accepting only ``allowed`` strings, compared (and kept) in lower
    case, in upper case (``case="upper"``) or as given (``case="exact"``).

    >>> one_of("poolingStrategy", ("AVERAGE", "SUM"), case="upper")(" sum ")
    'SUM'
    >>> one_of("engine", ("auto", "torch"))("TensorRT")
    Traceback (most recent call last):
    ...
    ValueError: engine must be one of ['auto', 'torch'], got 'TensorRT'
    """
    normalise = {"lower": lambda t: t.strip().lower(), "upper": lambda t: t.strip().upper(), "exact": lambda t: t}[case]

    def convert(value: Any) -> str:
        key = normalise(TypeConverters.toString(value))
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


def int_in_range(name: str, low: int, high: int, what: str) -> Callable[[Any], int]:
    """A type converter for integers in ``low..high``; ``what`` says what the number counts.

    >>> int_in_range("maxSentenceLength", 3, 512, "wordpieces per window")(2)
    Traceback (most recent call last):
    ...
    ValueError: maxSentenceLength must be in 3..512 (wordpieces per window), got 2
    """

    def convert(value: Any) -> int:
        number = TypeConverters.toInt(value)
        if not low <= number <= high:
            raise ValueError(f"{name} must be in {low}..{high} ({what}), got {value!r}")
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


class KeywordConstructor(StageParams):
    """The constructor every stage shares, first among its bases: keyword arguments set params
    by name (``SentenceDetector(explodeSentences=True)``; None leaves a param unset, an unknown
    name is a ``TypeError`` naming it), after the stage's own defaults.

    A stage (or a params class among its bases) names the defaults that differ from stage to
    stage -- ``inputCols``, ``outputCol``, ... -- in a class attribute ``stageDefaults``; every
    other param's default is its own, from the table in ``_shared_params_code_gen.py``. (No
    ``stageDefaults`` here: this class comes first in a stage's bases, and would hide them.)
    """

    def __init__(self, *positional: Any, **params: Any) -> None:
        if positional:
            raise TypeError(f"{type(self).__name__}() takes params by name only (name=value), got {positional!r}")
        super().__init__()
        self._setDefault(**getattr(self, "stageDefaults", {}))
        self.setParams(**params)


def log_no_op(stage: Params, method: str, value: Any) -> None:
    logger.info("%s: %s(%r) has no meaning in sparktext; nothing changed", describe_stage(stage), method, value)


def flatten_args(values: Iterable[Any]) -> list[Any]:
    """``("a", "b")`` or ``(["a", "b"],)`` as ``["a", "b"]``: setters that take names as
    arguments or one list, as Spark NLP's ``setInputCols``."""
    values = list(values)
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        return list(values[0])
    return values
