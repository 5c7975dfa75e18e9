"""Quality and speed of the rule stages on UD English-EWT dev, next to pysbd.

Run: ``.venv/bin/python benchmarks/bench_text_stages.py [--copies 40]``

Prints one table: sentence F1 (exact spans) of sparktext and pysbd, token F1, and throughput
in MB of text per second -- each segmenter alone in one process, and sparktext's stages
through Spark on local[2] (DocumentAssembler + SentenceDetector, then the full rule
pipeline), timed on ``--copies`` copies of the corpus so Spark's fixed cost per job does not
dominate, with warm Python workers and Spark's ``noop`` sink (median of three runs).

A second table times the cores on hostile text (runs of periods, long texts with exception
patterns, an 80,000-token sentence's windows) at two sizes, 4x apart: linear code takes
about 4x as long at the larger size, quadratic code 16x. ``--hostile-only`` prints just it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ewt  # noqa: E402


def timed(function):
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def pysbd_spans(documents):
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    spans = []
    for i, doc in enumerate(documents):
        for span in segmenter.segment(doc.text):
            piece = doc.text[span.start : span.end]
            lead = len(piece) - len(piece.lstrip())
            spans.append((i, span.start + lead, span.start + lead + len(piece.strip()) - 1))
    return spans


def hostile_table() -> None:
    import numpy as np

    from sparktext.inference.windows import plan_windows
    from sparktext.text.sentences import split_sentences
    from sparktext.text.tokenizer import TokenizerRules, tokenize

    exceptions = TokenizerRules(exceptions=("New York", r"e\.g\."))
    sentence = "New York is big. e.g. this is a test sentence with words. "

    def windows_of(tokens: int):
        stops = np.arange(1, tokens + 1)
        return lambda: plan_windows(np.arange(tokens), stops - 1, stops, 0, 510)

    cases = [
        ("sentences: a run of n periods", lambda n: lambda: split_sentences("." * n), 10_000),
        ("sentences: n ellipses '...'", lambda n: lambda: split_sentences("..." * n), 10_000),
        ("sentences: n '!' glued to a word", lambda n: lambda: split_sentences("!" * n + "x"), 10_000),
        ("tokens with 2 exceptions: n/60 sentences", lambda n: lambda: tokenize(sentence * (n // 60), exceptions), 35_000),
        ("windows of 510: a sentence of n tokens", windows_of, 80_000),
    ]
    print(f"\n{'hostile text, one process':44} {'n':>8} {'s at n':>8} {'s at 4n':>8} {'ratio':>6}")
    for label, make, n in cases:
        small = min(timed(make(n))[1] for _ in range(3))
        large = min(timed(make(4 * n))[1] for _ in range(3))
        print(f"{label:44} {n:8,} {small:8.4f} {large:8.4f} {large / small:6.1f}")
    print("(linear: ratio about 4; quadratic: about 16)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40, help="corpus copies for the Spark timings")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--hostile-only", action="store_true", help="print only the hostile-text table")
    args = parser.parse_args()
    hostile_table()
    if args.hostile_only:
        return

    from sparktext.text.sentences import split_sentences
    from sparktext.text.tokenizer import tokenize

    documents = ewt.load_documents()
    megabytes = sum(len(d.text.encode("utf-8")) for d in documents) / 1e6
    gold_sentences = [(i, b, e) for i, d in enumerate(documents) for b, e in d.sentences]
    gold_tokens = [(i, b, e) for i, d in enumerate(documents) for b, e in d.tokens]

    ours, ours_time = timed(lambda: [(i, b, e) for i, d in enumerate(documents) for b, e in split_sentences(d.text)])
    theirs, pysbd_time = timed(lambda: pysbd_spans(documents))
    tokens, token_time = timed(lambda: [(i, b, e) for i, d in enumerate(documents) for b, e in tokenize(d.text)])

    import sparktext
    from pyspark.ml import Pipeline
    from sparktext import DocumentAssembler, SentenceDetector, Tokenizer

    spark = sparktext.start(master=args.master, driver_memory="6g")
    spark.sparkContext.setLogLevel("ERROR")
    rows = [(d.text,) for _ in range(args.copies) for d in documents]
    df = spark.createDataFrame(rows, "text string").repartition(2).cache()
    df.count()
    spark_mb = megabytes * args.copies

    def run(stages):
        model = Pipeline(stages=stages).fit(df)
        write = lambda: model.transform(df).write.format("noop").mode("overwrite").save()  # noqa: E731
        write()  # warm: every task's Python worker started and its imports done
        return sorted(timed(write)[1] for _ in range(3))[1]  # median of three

    sentence_seconds = run([DocumentAssembler(inputCol="text"), SentenceDetector()])
    pipeline_seconds = run([DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"])])
    spark.stop()

    f1 = ewt.span_f1(ours, gold_sentences)
    pysbd_f1 = ewt.span_f1(theirs, gold_sentences)
    token_f1 = ewt.span_f1(tokens, gold_tokens)
    print(f"\nUD English-EWT dev: {len(documents)} documents, {len(gold_sentences)} sentences, "
          f"{len(gold_tokens)} tokens, {megabytes:.3f} MB")
    print(f"{'what':58} {'P':>6} {'R':>6} {'F1':>6} {'MB/s':>8}")
    print(f"{'pysbd 0.3 sentences, one process':58} {pysbd_f1[0]:6.3f} {pysbd_f1[1]:6.3f} {pysbd_f1[2]:6.3f} {megabytes / pysbd_time:8.2f}")
    print(f"{'sparktext sentences, core, one process':58} {f1[0]:6.3f} {f1[1]:6.3f} {f1[2]:6.3f} {megabytes / ours_time:8.2f}")
    print(f"{'sparktext tokens (Spark NLP rules), core, one process':58} {token_f1[0]:6.3f} {token_f1[1]:6.3f} {token_f1[2]:6.3f} {megabytes / token_time:8.2f}")
    label = f"Spark {args.master}: DocumentAssembler+SentenceDetector, {spark_mb:.1f} MB"
    print(f"{label:58} {'':6} {'':6} {'':6} {spark_mb / sentence_seconds:8.2f}")
    label = f"Spark {args.master}: + Tokenizer (full rule pipeline)"
    print(f"{label:58} {'':6} {'':6} {'':6} {spark_mb / pipeline_seconds:8.2f}")
    print(f"\nsentence stage through Spark vs pysbd: {(spark_mb / sentence_seconds) / (megabytes / pysbd_time):.1f}x")


if __name__ == "__main__":
    main()
