"""The one table of every stage param, and the generator of ``sparktext/shared_params.py``.

As ``pyspark.ml`` does (``param/_shared_params_code_gen.py`` writes ``param/shared.py``), each
param is declared once below -- its name, doc string, type converter and default -- and
becomes a mixin class ``Has<Name>`` with the Param, a chainable setter and a getter, in
Spark NLP's names. A stage is the mixins of its params; it sets a default itself only where
its default differs from stage to stage (``outputCol``, ``inputCols``, ``cleanAnnotations``).

After editing the table, regenerate (a test fails while the file is out of date)::

    python -m sparktext._shared_params_code_gen
"""

from __future__ import annotations

import dataclasses
import json
import os

from sparktext.inference.batching import BATCH_SIZE_DOC
from sparktext.inference.engine import POOLING_STRATEGIES
from sparktext.text.cleanup import CLEANUP_MODES


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One param: ``mixin`` names the generated class; ``converter`` and ``default`` are Python
    expressions in the generated module's namespace (its imports, below); ``varargs`` setters
    take names as arguments or one list, as Spark NLP's ``setInputCols("a", "b")``."""

    mixin: str
    name: str
    doc: str
    converter: str
    value_type: str
    default: str | None = None
    varargs: bool = False


PARAMS: tuple[ParamSpec, ...] = (
    # Columns.
    ParamSpec("HasInputCol", "inputCol", "name of the input column", "TypeConverters.toString", "str"),
    ParamSpec("HasInputCols", "inputCols", "names of the input annotator columns, one per expected annotator type",
              "column_names", "list[str]", varargs=True),
    ParamSpec("HasOutputCol", "outputCol", "name of the output annotator column", "TypeConverters.toString", "str"),
    ParamSpec("HasOutputCols", "outputCols", "names of the output columns, one per input column", "column_names",
              "list[str]", varargs=True),
    # Annotation lengths (SentenceDetector, Tokenizer).
    ParamSpec("HasMinLength", "minLength",
              "annotations shorter than this many characters are dropped (counted and logged once per task)",
              'int_at_least("minLength", 0)', "int", "0"),
    ParamSpec("HasMaxLength", "maxLength",
              "annotations longer than this many characters are cut into pieces of at most this length",
              'int_at_least("maxLength", 1)', "int", "DEFAULT_MAX_LENGTH"),
    # DocumentAssembler.
    ParamSpec("HasIdCol", "idCol", "column copied into each document's metadata as 'id'", "TypeConverters.toString", "str"),
    ParamSpec("HasMetadataCol", "metadataCol", "map<string,string> column merged into each document's metadata",
              "TypeConverters.toString", "str"),
    ParamSpec("HasCleanupMode", "cleanupMode", "text cleanup before annotation: " + ", ".join(CLEANUP_MODES),
              'one_of("cleanupMode", tuple(CLEANUP_MODES))', "str", '"disabled"'),
    # SentenceDetector.
    ParamSpec("HasUseAbbreviations", "useAbbreviations", "keep sentences whole across known abbreviations",
              "TypeConverters.toBoolean", "bool", "True"),
    ParamSpec("HasDetectLists", "detectLists", "start sentences at list items and capitalised lines",
              "TypeConverters.toBoolean", "bool", "True"),
    ParamSpec("HasCustomBounds", "customBounds", "regular expressions that also end sentences",
              "TypeConverters.toListString", "list[str]", "[]"),
    ParamSpec("HasUseCustomBoundsOnly", "useCustomBoundsOnly", "split at customBounds only",
              "TypeConverters.toBoolean", "bool", "False"),
    ParamSpec("HasCustomBoundsStrategy", "customBoundsStrategy",
              "where the text of a custom bound goes: none (dropped), prepend (next sentence), append (previous)",
              'one_of("customBoundsStrategy", CUSTOM_BOUNDS_STRATEGIES)', "str", '"none"'),
    ParamSpec("HasExplodeSentences", "explodeSentences", "one output row per sentence", "TypeConverters.toBoolean",
              "bool", "False"),
    ParamSpec("HasKeepRowsWithoutSentences", "keepRowsWithoutSentences",
              "with explodeSentences, keep rows without a sentence (an empty array) instead of dropping them",
              "TypeConverters.toBoolean", "bool", "False"),
    ParamSpec("HasSplitLength", "splitLength", "cut sentences longer than this many characters",
              'int_at_least("splitLength", 1)', "int"),
    # Tokenizer.
    ParamSpec("HasTargetPattern", "targetPattern", "regex whose matches are the token candidates",
              "TypeConverters.toString", "str", "DEFAULT_TARGET_PATTERN"),
    ParamSpec("HasPrefixPattern", "prefixPattern",
              "regex starting with \\A whose groups split tokens off a candidate's start (overrides contextChars)",
              "TypeConverters.toString", "str"),
    ParamSpec("HasSuffixPattern", "suffixPattern",
              "regex ending with \\z whose groups split tokens off a candidate's end (overrides contextChars)",
              "TypeConverters.toString", "str"),
    ParamSpec("HasInfixPatterns", "infixPatterns",
              "regexes with groups, tried in order between prefix and suffix; each group is a token",
              "TypeConverters.toListString", "list[str]"),
    ParamSpec("HasExceptions", "exceptions", "patterns of text kept as one token, untouched",
              "TypeConverters.toListString", "list[str]", "[]"),
    ParamSpec("HasExceptionsPath", "exceptionsPath",
              "text file of exception patterns, one per line (any Hadoop filesystem path)", "TypeConverters.toString",
              "str"),
    ParamSpec("HasCaseSensitiveExceptions", "caseSensitiveExceptions", "match exceptions case-sensitively",
              "TypeConverters.toBoolean", "bool", "True"),
    ParamSpec("HasContextChars", "contextChars", "single characters split off the start and end of candidates",
              "TypeConverters.toListString", "list[str]", "list(DEFAULT_CONTEXT_CHARS)"),
    ParamSpec("HasSplitChars", "splitChars",
              "single characters to split tokens at inside (e.g. '-'); dropped from the output",
              "TypeConverters.toListString", "list[str]"),
    ParamSpec("HasSplitPattern", "splitPattern", "regex to split tokens at inside; takes priority over splitChars",
              "TypeConverters.toString", "str"),
    # BertEmbeddings, BertSentenceEmbeddings (and SentenceEmbeddings: dimension, storageRef).
    ParamSpec("HasBatchSize", "batchSize", BATCH_SIZE_DOC,
              'int_at_least("batchSize", 0)', "int", "0"),
    ParamSpec("HasMaxSentenceLength", "maxSentenceLength", "wordpieces per window, [CLS] and [SEP] included (3..512)",
              'int_in_range("maxSentenceLength", 3, 512, "wordpieces per window, [CLS] and [SEP] included")', "int",
              "128"),
    ParamSpec("HasCaseSensitive", "caseSensitive", "False lowercases text before wordpiece",
              "TypeConverters.toBoolean", "bool", "False"),
    ParamSpec("HasDimension", "dimension", "size of each vector", "TypeConverters.toInt", "int"),
    ParamSpec("HasStorageRef", "storageRef", "name of the embeddings, written as the column's ref",
              "TypeConverters.toString", "str"),
    ParamSpec("HasDevice", "device", "auto, cpu, cuda or cuda:N", "check_device", "str", '"auto"'),
    ParamSpec("HasPrecision", "precision", "auto, fp32, fp16 or bf16", "check_precision", "str", '"auto"'),
    ParamSpec("HasEngine", "engine",
              "what runs the model: auto (the fastest installed for the device and precision), torch, onnx or openvino",
              "check_engine", "str", '"auto"'),
    ParamSpec("HasModelPath", "modelPath", "folder of the Hugging Face checkpoint, readable on every executor",
              "TypeConverters.toString", "str"),
    ParamSpec("HasTokenPoolingStrategy", "poolingStrategy",
              "how a token's wordpieces become its vector: " + ", ".join(POOLING_STRATEGIES),
              'one_of("poolingStrategy", POOLING_STRATEGIES)', "str", '"first"'),
    ParamSpec("HasSentencePoolingStrategy", "poolingStrategy",
              "how a sentence becomes one vector: pooler ([CLS] pooler output) or mean",
              'one_of("poolingStrategy", SENTENCE_POOLING_STRATEGIES)', "str", '"pooler"'),
    ParamSpec("HasVectorPoolingStrategy", "poolingStrategy", "how token vectors become one: AVERAGE or SUM",
              'one_of("poolingStrategy", ("AVERAGE", "SUM"), case="upper")', "str", '"AVERAGE"'),
    # Finisher, EmbeddingsFinisher.
    ParamSpec("HasCleanAnnotations", "cleanAnnotations", "drop every annotator column from the output",
              "TypeConverters.toBoolean", "bool"),
    ParamSpec("HasOutputAsArray", "outputAsArray", "array<string> of results, else one joined string",
              "TypeConverters.toBoolean", "bool", "True"),
    ParamSpec("HasIncludeMetadata", "includeMetadata", "also write each annotation's metadata",
              "TypeConverters.toBoolean", "bool", "False"),
    ParamSpec("HasMetadataPerAnnotation", "metadataPerAnnotation",
              "write the metadata as one map per annotation, aligned with the results, instead of Spark NLP's merged map",
              "TypeConverters.toBoolean", "bool", "False"),
    ParamSpec("HasValueSplitSymbol", "valueSplitSymbol", "separator between the values inside an annotation",
              "TypeConverters.toString", "str", '"#"'),
    ParamSpec("HasAnnotationSplitSymbol", "annotationSplitSymbol", "separator between annotations in a string",
              "TypeConverters.toString", "str", '"@"'),
    ParamSpec("HasParseEmbeddingsVectors", "parseEmbeddingsVectors",
              "write embedding annotations' vector values instead of their text", "TypeConverters.toBoolean", "bool",
              "False"),
    ParamSpec("HasOutputAsVector", "outputAsVector", "array of Spark ML dense vectors, else array of float arrays",
              "TypeConverters.toBoolean", "bool", "False"),
)

HEADER = '''"""Every stage param as a mixin: the Param, a chainable setter and a getter.

Generated by ``python -m sparktext._shared_params_code_gen`` from its table: edit the table,
not this file.
"""

from __future__ import annotations

from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters

from sparktext.inference.device import check_device, check_precision
from sparktext.inference.engine import POOLING_STRATEGIES, SENTENCE_POOLING_STRATEGIES
from sparktext.inference.runtimes import check_engine
from sparktext.params import StageParams, column_names, flatten_args, int_at_least, int_in_range, one_of
from sparktext.text.cleanup import CLEANUP_MODES
from sparktext.text.sentences import CUSTOM_BOUNDS_STRATEGIES
from sparktext.text.tokenizer import DEFAULT_CONTEXT_CHARS, DEFAULT_MAX_LENGTH, DEFAULT_TARGET_PATTERN
'''


def render_mixin(spec: ParamSpec) -> str:
    """The source of one mixin class."""
    capital = spec.name[0].upper() + spec.name[1:]
    lines = [
        f"class {spec.mixin}(StageParams):",
        f'    """Mixin for param ``{spec.name}``."""',
        "",
        f"    {spec.name}: Param[{spec.value_type}] = Param(",
        "        Params._dummy(),",
        f"        {json.dumps(spec.name)},",
        f"        {json.dumps(spec.doc)},",
        f"        typeConverter={spec.converter},",
        "    )",
    ]
    if spec.default is not None:
        lines += [
            "",
            "    def __init__(self, *args: Any, **kwargs: Any) -> None:",
            "        super().__init__(*args, **kwargs)",
            f"        self._setDefault({spec.name}={spec.default})",
        ]
    # A varargs setter takes names as arguments or one list; the others take one value.
    argument, value, how = (
        ("*value: str | list[str]", "flatten_args(value)", ": names as arguments or one list") if spec.varargs
        else (f"value: {spec.value_type}", "value", "")
    )
    lines += [
        "",
        f'    def set{capital}(self, {argument}) -> "{spec.mixin}":',
        f'        """Set ``{spec.name}``{how}."""',
        f"        return self._set({spec.name}={value})",
        "",
        f"    def get{capital}(self) -> {spec.value_type}:",
        f'        """The value of ``{spec.name}``, or its default."""',
        f"        return self.getOrDefault(self.{spec.name})",
    ]
    return "\n".join(lines)


def render() -> str:
    """The whole generated module."""
    return HEADER + "\n\n" + "\n\n\n".join(render_mixin(spec) for spec in PARAMS) + "\n"


GENERATED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shared_params.py")


def main() -> None:
    with open(GENERATED, "w", encoding="utf-8") as handle:
        handle.write(render())


if __name__ == "__main__":
    main()
