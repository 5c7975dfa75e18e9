"""sparktext: Spark NLP-style annotators for PySpark, in pure Python.

Import everything public from here, or use the Spark NLP-style paths
``sparktext.base`` and ``sparktext.annotator``.
"""

from __future__ import annotations

from sparktext.annotation import Annotation, AnnotatorType
from sparktext.errors import JavaNotFoundError, PatternError, SchemaError, SparktextError
from sparktext.session import start
from sparktext.stages.bert_embeddings import BertEmbeddings
from sparktext.stages.document_assembler import DocumentAssembler
from sparktext.stages.sentence_detector import SentenceDetector
from sparktext.stages.tokenizer import Tokenizer, TokenizerModel

__version__ = "0.1.0"

__all__ = [
    "Annotation",
    "AnnotatorType",
    "BertEmbeddings",
    "DocumentAssembler",
    "JavaNotFoundError",
    "PatternError",
    "SchemaError",
    "SentenceDetector",
    "SparktextError",
    "Tokenizer",
    "TokenizerModel",
    "start",
]
