"""Stream EWT dev, repeated COPIES times, through BertEmbeddings the way a Spark Python worker
does (one Arrow batch of up to 10,000 rows in, output batches out and sent away), in a fresh
process, and print the process's peak RSS in MB and the seconds the stream took.

Usage: python tests/memory_job.py MODEL_FOLDER COPIES [PRECISION]   (default fp32)

The sentence and token columns are computed once by the stages' own Arrow functions and
repeated, so that what grows with COPIES is only what a bigger partition brings.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc

import ewt
from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector
from sparktext.stages._bert_model import releasing_memory
from sparktext.stages.tokenizer import TokenizerModel

ARROW_BATCH_ROWS = 10_000  # spark.sql.execution.arrow.maxRecordsPerBatch's default


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(model_folder: str, copies: int, precision: str = "fp32") -> None:
    texts = pa.array([document.text for document in ewt.load_documents()], type=pa.string())
    documents = DocumentAssembler(inputCol="text").annotate_arrow(texts)
    sentences = SentenceDetector().annotate_arrow(documents)
    tokens = TokenizerModel(inputCols=["sentence"]).annotate_arrow(sentences)  # default rules, as fit() gives
    stage = BertEmbeddings.loadSavedModel(model_folder).setInputCols("sentence", "token").setPrecision(precision)
    settings = stage.settings()
    for _ in stage._embed_batches(settings, [(tokens.slice(0, 20),)]):  # the model reads the token column only
        pass  # model loaded and warm, as on a worker after its first batch
    baseline = peak_rss_mb()

    partition_tokens = pa.concat_arrays([tokens] * copies)
    batches = ((partition_tokens.slice(start, ARROW_BATCH_ROWS),) for start in range(0, len(partition_tokens), ARROW_BATCH_ROWS))
    started = time.perf_counter()
    rows = vectors = 0
    for output in releasing_memory(stage._embed_batches(settings, batches)):  # as the Spark UDF runs it
        rows += len(output)
        vectors += pc.sum(pc.list_value_length(output)).as_py() or 0
    seconds = time.perf_counter() - started
    input_mb = partition_tokens.nbytes / 2**20
    print(json.dumps({"copies": copies, "rows": rows, "vectors": vectors, "seconds": seconds,
                      "baseline_mb": baseline, "peak_mb": peak_rss_mb(), "input_mb": input_mb}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4])
