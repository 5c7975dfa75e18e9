"""sparktext: Spark NLP-style annotators for PySpark, in pure Python.

Import everything public from here, or use the Spark NLP-style paths
``sparktext.base`` and ``sparktext.annotator``.
"""

from __future__ import annotations

from sparktext.annotation import Annotation, AnnotatorType
from sparktext.errors import JavaNotFoundError, PatternError, SchemaError, SparktextError
from sparktext.session import start
from sparktext.light import LightPipeline
from sparktext.quick import load
from sparktext.stages.bert_embeddings import BertEmbeddings
from sparktext.stages.bert_sentence_embeddings import BertSentenceEmbeddings
from sparktext.stages.document_assembler import DocumentAssembler
from sparktext.stages.embeddings_finisher import EmbeddingsFinisher
from sparktext.stages.finisher import Finisher
from sparktext.stages.sentence_detector import SentenceDetector
from sparktext.stages.sentence_embeddings import SentenceEmbeddings
from sparktext.stages.tokenizer import Tokenizer, TokenizerModel

__version__ = "0.1.0"


def version() -> str:
    """The installed sparktext's version (Spark NLP code calls ``sparknlp.version()``).

    Examples
    --------
    >>> import sparktext
    >>> sparktext.version() == sparktext.__version__
    True
    """
    return __version__


__all__ = [
    "Annotation",
    "AnnotatorType",
    "BertEmbeddings",
    "BertSentenceEmbeddings",
    "DocumentAssembler",
    "EmbeddingsFinisher",
    "Finisher",
    "JavaNotFoundError",
    "LightPipeline",
    "PatternError",
    "SchemaError",
    "SentenceDetector",
    "SentenceEmbeddings",
    "SparktextError",
    "Tokenizer",
    "TokenizerModel",
    "version",
    "load",
    "start",
]
