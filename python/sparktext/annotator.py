"""Spark NLP-style import path: ``from sparktext.annotator import *`` (re-exports only)."""

from sparktext.stages.bert_embeddings import BertEmbeddings
from sparktext.stages.sentence_detector import SentenceDetector
from sparktext.stages.tokenizer import Tokenizer, TokenizerModel

__all__ = ["BertEmbeddings", "SentenceDetector", "Tokenizer", "TokenizerModel"]
