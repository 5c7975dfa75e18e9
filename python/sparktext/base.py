"""Spark NLP-style import path: ``from sparktext.base import *`` (re-exports only)."""

from sparktext.stages.document_assembler import DocumentAssembler

__all__ = ["DocumentAssembler"]
