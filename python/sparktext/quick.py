"""``sparktext.load(name).predict(texts)``: the one-liner model cards show, for quick looks.

Builds the standard pipeline around a catalog model (DocumentAssembler, SentenceDetector,
Tokenizer, then BertEmbeddings or BertSentenceEmbeddings) and runs it with
:class:`~sparktext.LightPipeline` on the driver: no Spark session is started.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

OUTPUT_LEVELS = ("token", "sentence", "document")


class QuickModel:
    """A named model ready to embed strings; build it with :func:`load`."""

    def __init__(self, name: str, lang: str = "en", remote_loc: str | None = None) -> None:
        from pyspark.ml import PipelineModel

        from sparktext.light import LightPipeline
        from sparktext.pretrained.catalog import find_model
        from sparktext.stages.bert_embeddings import BertEmbeddings
        from sparktext.stages.bert_sentence_embeddings import BertSentenceEmbeddings
        from sparktext.stages.document_assembler import DocumentAssembler
        from sparktext.stages.sentence_detector import SentenceDetector
        from sparktext.stages.sentence_embeddings import SentenceEmbeddings
        from sparktext.stages.tokenizer import TokenizerModel

        self.entry = find_model(name, lang)
        stages = [
            DocumentAssembler(inputCol="text", outputCol="document"),
            SentenceDetector(inputCols=["document"], outputCol="sentence"),
            TokenizerModel(inputCols=["sentence"], outputCol="token"),
        ]
        if self.entry.kind == "sentence":
            model = BertSentenceEmbeddings.pretrained(self.entry.name, self.entry.lang, remote_loc)
            stages += [
                model.copy().setInputCols("sentence").setOutputCol("sentence_embeddings"),
                model.copy().setInputCols("document").setOutputCol("document_embeddings"),
            ]
        else:
            stages += [
                BertEmbeddings.pretrained(self.entry.name, self.entry.lang, remote_loc)
                .setInputCols("sentence", "token").setOutputCol("embeddings"),
                SentenceEmbeddings(inputCols=["sentence", "embeddings"], outputCol="sentence_embeddings"),
            ]
        self.pipeline = LightPipeline(PipelineModel(stages=stages), parse_embeddings=True)

    def predict(self, texts: str | Sequence[str], output_level: str = "token"):
        """Embed ``texts``; a pandas DataFrame with one row per token, sentence or document.

        Columns: ``document`` (position of the text in ``texts``), then for ``token``:
        ``sentence``, ``token``, ``begin``, ``end``, ``embedding``; for ``sentence``:
        ``sentence``, ``text``, ``begin``, ``end``, ``embedding``; for ``document``: ``text``,
        ``embedding``. ``embedding`` holds float32 numpy arrays. A token model gives sentence
        and document vectors as the average of their token vectors; a sentence model embeds
        each sentence, and each document, as one sequence (and has no ``token`` level).

        Examples
        --------
        >>> import sparktext
        >>> frame = sparktext.load("en.embed.minilm").predict(["I love NLP"], output_level="token")
        >>> list(frame.token), frame.embedding[0].shape
        (['I', 'love', 'NLP'], (384,))
        """
        import pandas as pd

        if output_level not in OUTPUT_LEVELS:
            raise ValueError(f"output_level must be one of {list(OUTPUT_LEVELS)}, got {output_level!r}")
        if output_level == "token" and self.entry.kind == "sentence":
            raise ValueError(f"{self.entry.name!r} is a sentence model: use output_level 'sentence' or 'document'")
        texts = [texts] if isinstance(texts, str) else list(texts)
        results = self.pipeline.fullAnnotate(texts)
        rows = []
        for number, (text, result) in enumerate(zip(texts, results)):
            if output_level == "token":
                rows += [
                    {"document": number, "sentence": int(a.metadata.get("sentence", 0)), "token": a.result,
                     "begin": a.begin, "end": a.end, "embedding": np.asarray(a.embeddings, dtype=np.float32)}
                    for a in result["embeddings"]
                ]
            elif output_level == "sentence":
                rows += [
                    {"document": number, "sentence": int(a.metadata.get("sentence", 0)), "text": a.result,
                     "begin": a.begin, "end": a.end, "embedding": np.asarray(a.embeddings, dtype=np.float32)}
                    for a in result["sentence_embeddings"]
                ]
            else:
                rows.append({"document": number, "text": text, "embedding": self._document_vector(result)})
        columns = {
            "token": ["document", "sentence", "token", "begin", "end", "embedding"],
            "sentence": ["document", "sentence", "text", "begin", "end", "embedding"],
            "document": ["document", "text", "embedding"],
        }[output_level]
        return pd.DataFrame(rows, columns=columns)

    def _document_vector(self, result: dict) -> np.ndarray:
        if self.entry.kind == "sentence":
            vectors = [a.embeddings for a in result["document_embeddings"]]
        else:
            vectors = [a.embeddings for a in result["embeddings"]]
        if not vectors:  # an empty or null text: no token to average
            return np.full(self.entry.dimension, np.nan, dtype=np.float32)
        return np.asarray(vectors, dtype=np.float32).mean(axis=0)


def load(name: str, lang: str = "en", remote_loc: str | None = None) -> QuickModel:
    """A catalog model (a name such as ``bert_base_cased`` or a model-card alias such as
    ``en.embed.bert.base_cased``) ready for ``.predict(texts, output_level=...)``."""
    return QuickModel(name, lang, remote_loc)
