"""Spark NLP-style import path: ``from sparktext.base import *`` (re-exports only)."""

from sparktext.light import LightPipeline
from sparktext.stages.document_assembler import DocumentAssembler
from sparktext.stages.embeddings_finisher import EmbeddingsFinisher
from sparktext.stages.finisher import Finisher

__all__ = ["DocumentAssembler", "EmbeddingsFinisher", "Finisher", "LightPipeline"]
