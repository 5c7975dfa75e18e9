"""Spark NLP-style import path: ``from sparktext.annotator import *`` (re-exports only)."""

from sparktext.stages.bert_embeddings import BertEmbeddings
from sparktext.stages.bert_sentence_embeddings import BertSentenceEmbeddings
from sparktext.stages.sentence_detector import SentenceDetector
from sparktext.stages.sentence_embeddings import SentenceEmbeddings
from sparktext.stages.tokenizer import Tokenizer, TokenizerModel

__all__ = [
    "BertEmbeddings",
    "BertSentenceEmbeddings",
    "SentenceDetector",
    "SentenceEmbeddings",
    "Tokenizer",
    "TokenizerModel",
]
