"""The ``sparktext`` command line: batch jobs over files on a Spark session.

Both commands read CSV, JSON lines, Parquet or plain text (a file or a folder) and write
Parquet with the input columns plus annotation columns, then print a summary:

* ``sparktext embed INPUT OUTPUT --model all_minilm_l6_v2``: BERT embeddings, token level
  (columns ``sentence``, ``token`` and ``embeddings``; ``--keep`` adds others) or, with
  ``--level sentence``, one vector per sentence
  (columns ``sentence`` and ``sentence_embeddings``);
* ``sparktext annotate INPUT OUTPUT``: documents, sentences and tokens.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Sequence

from sparktext.errors import SparktextError
from sparktext.inference.runtimes import EngineNotAvailableError
from sparktext.progress import RowProgress
from sparktext.session import DEFAULT_MASTER, check_master

logger = logging.getLogger("sparktext")

FORMATS = ("auto", "csv", "json", "parquet", "text")


class CliError(Exception):
    """A mistake in the command's input: reported in one line, exit status 2."""


#: File name endings and the format they mean; any other file is plain text.
SUFFIX_FORMATS = (((".csv", ".tsv"), "csv"), ((".json", ".jsonl", ".ndjson"), "json"), ((".parquet",), "parquet"))


def format_of_name(name: str) -> str:
    """The format a file's name says (``text`` when its ending names none)."""
    lowered = name.lower()
    for suffixes, fmt in SUFFIX_FORMATS:
        if lowered.endswith(suffixes):
            return fmt
    return "text"


def input_files(path: str) -> list[str]:
    """The data files Spark reads from ``path``: the file itself, or every file under the
    folder except the hidden and bookkeeping ones (``.crc``, ``_SUCCESS``) Spark skips too."""
    if not os.path.isdir(path):
        return [path]
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith((".", "_")))
        files += [os.path.join(folder, n) for n in sorted(names) if not n.startswith((".", "_"))]
    return files


def detect_format(path: str, files: list[str], fmt: str = "auto") -> str:
    """The one format of the input ``path`` (its data ``files``, see :func:`input_files`):
    from the file names, or ``fmt`` when given.

    A folder whose files say different formats is refused, naming the files that do not fit:
    Spark would read them all as the first one's format, and JSON read from a text file (or
    Parquet bytes read as CSV) becomes rows of nulls, not an error."""
    if not files:
        raise CliError(f"input folder {path!r} has no files")
    if all(os.path.getsize(f) == 0 for f in files):
        raise CliError(f"input {path!r} is empty" if len(files) == 1 else f"input folder {path!r} holds only empty files")
    formats = {f: format_of_name(f) for f in files}
    if fmt == "auto":
        counts = {name: list(formats.values()).count(name) for name in set(formats.values())}
        fmt = max(sorted(counts), key=counts.get)  # most files decide; the others are named
        misfits = [f for f, name in formats.items() if name != fmt]
    else:  # an unknown ending is read as asked; a known one must agree
        misfits = [f for f, name in formats.items() if name not in (fmt, "text")]
    if misfits:
        shown = ", ".join(os.path.relpath(f, path) for f in misfits[:5])
        more = f" and {len(misfits) - 5} more" if len(misfits) > 5 else ""
        raise CliError(
            f"input folder {path!r} mixes formats: read as {fmt}, but {shown}{more} "
            f"{'is' if len(misfits) == 1 else 'are'} not {fmt}; give one format per input"
        )
    return fmt


#: The column Spark's permissive JSON and CSV readers put a row into when it does not parse.
CORRUPT_COLUMN = "_corrupt_record"
#: Marks our own error among Spark's, to report it in one line (see run_job).
BAD_ROW_MARK = "sparktext-bad-input-row: "


def read_input(spark, path: str, fmt: str, text_col: str, *, header: bool = True):
    """Read ``path`` as a DataFrame that has a string column ``text_col``.

    JSON and CSV rows that do not parse are kept in ``_corrupt_record``, for
    ``handle_bad_rows`` to refuse or skip; never read on as rows of nulls."""
    if not os.path.exists(path) and "://" not in path:
        raise CliError(f"input {path!r} does not exist")
    files = input_files(path) if "://" not in path else []  # a Hadoop URI is not listed here
    if "://" not in path:
        fmt = detect_format(path, files, fmt)
    elif fmt == "auto":
        fmt = format_of_name(path)
    try:
        if fmt == "csv":
            reader = spark.read.option("header", header).option("multiLine", True).option("escape", '"')
            if files and all(f.lower().endswith(".tsv") for f in files):
                reader = reader.option("sep", "\t")
            names = reader.csv(path).columns
            # Strings for every column (nothing is inferred), plus the column for rows whose
            # field count does not fit the header: without it they are padded with nulls.
            schema = ", ".join(f"`{n.replace('`', '``')}` string" for n in names + [CORRUPT_COLUMN])
            df = reader.schema(schema).option("columnNameOfCorruptRecord", CORRUPT_COLUMN).csv(path)
        elif fmt == "json":
            df = spark.read.option("columnNameOfCorruptRecord", CORRUPT_COLUMN).json(path)
        elif fmt == "parquet":
            df = spark.read.parquet(path)
        else:
            df = spark.read.text(path).withColumnRenamed("value", text_col)
        columns = df.columns
    except Exception as error:  # Spark raises many kinds here; all mean "cannot read this"
        raise CliError(f"cannot read {path!r} as {fmt}: {str(error).splitlines()[0]}") from error
    fields = [c for c in columns if c != CORRUPT_COLUMN]
    if not fields and CORRUPT_COLUMN in columns:
        raise CliError(f"{path!r} is not valid {fmt}: no record could be parsed")
    if not fields:
        raise CliError(f"{path!r} has no records (only blank lines)")
    if text_col not in columns:
        hint = " (use --text-col)"
        if fmt == "csv" and header:
            hint = " (use --text-col; if the file has no header line, pass --no-header --text-col _c0)"
        raise CliError(f"input has no column {text_col!r}; its columns are {fields}{hint}")
    return df


def handle_bad_rows(df, skip: bool):
    """``df`` without its unparsed rows: the job fails on the first one, naming its file and
    text, or with ``skip`` drops them, to be counted after the job.

    Returns the DataFrame and a function giving that count (None when nothing is skipped)."""
    from pyspark.sql import functions as F

    if CORRUPT_COLUMN not in df.columns:
        return df, None
    bad = F.col(CORRUPT_COLUMN).isNotNull()
    if skip:
        def count_skipped() -> int:
            # A second pass, over the bad rows only. Spark refuses a query of raw JSON/CSV that
            # reads the corrupt-record column alone; caching the rows is its documented way
            # around. (An Observation counted them within the job, but on Spark 4.0 a session
            # that has used one then fails Spark ML's evaluators: ObservationManager is not
            # serializable.)
            rows = df.filter(bad).cache()
            try:
                return rows.count()
            finally:
                rows.unpersist()

        return df.filter(~bad).drop(CORRUPT_COLUMN), count_skipped
    message = F.concat(
        F.lit(BAD_ROW_MARK), F.input_file_name(), F.lit(" has a row that does not parse: "),
        F.substring(F.col(CORRUPT_COLUMN), 1, 120),
    )
    return df.filter(F.coalesce(F.when(bad, F.raise_error(message)), F.lit(True))).drop(CORRUPT_COLUMN), None


def bad_row_error(error: Exception) -> CliError | None:
    """Our bad-row message out of Spark's failed job, as one line (None when it is not ours)."""
    match = re.search(re.escape(BAD_ROW_MARK) + r"(.*)", str(error))
    if match is None:
        return None
    text = re.sub(r"\s*SQLSTATE: \w+.*$", "", match.group(1)).strip()
    return CliError(f"{text} (fix the row, or pass --skip-bad-rows to leave such rows out and count them)")


#: What Spark's Parquet writer leaves in an output folder: part files, their checksums and
#: the commit markers. ``--overwrite`` replaces a folder holding only these, nothing else.
SPARK_OUTPUT_PATTERN = re.compile(r"^(part-.*|\.part-.*\.crc|_SUCCESS|\._SUCCESS\.crc|_committed_.*|_started_.*)$")


def check_output(input_path: str, output_path: str, overwrite: bool) -> None:
    """Refuse an output that would destroy data, before Spark starts any work: one that is,
    contains or sits inside the input; one that exists, unless ``overwrite``; and, even then,
    one that is a file or holds files Spark did not write (they would be deleted with it)."""
    if "://" in output_path:  # a Hadoop filesystem: Spark's own save mode guards it (see run_job)
        return
    output = os.path.realpath(output_path)
    if "://" not in input_path:
        source = os.path.realpath(input_path)
        if output == source or source.startswith(output + os.sep) or output.startswith(source + os.sep):
            raise CliError(
                f"output {output_path!r} is, contains or sits inside the input {input_path!r}: writing there "
                "would destroy the input; choose another output path"
            )
    if not os.path.lexists(output_path):
        return
    if not overwrite:
        raise CliError(f"output {output_path!r} exists; choose a new path, or pass --overwrite to replace it")
    if not os.path.isdir(output_path) or os.path.islink(output_path):
        raise CliError(f"output {output_path!r} is not a folder of Spark output; it is not replaced, even with --overwrite")
    foreign = sorted(name for name in os.listdir(output_path) if not SPARK_OUTPUT_PATTERN.match(name))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise CliError(
            f"output {output_path!r} holds files Spark did not write ({shown}); it is not replaced, even with --overwrite"
        )


@contextlib.contextmanager
def staged_output(output_path: str):
    """A fresh sibling folder for Spark to write into, renamed to ``output_path`` only once
    the job has succeeded: a failed or interrupted job leaves the previous output as it was."""
    if "://" in output_path:
        yield output_path
        return
    output = os.path.abspath(output_path)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.writing-", dir=parent)
    os.rmdir(staging)  # Spark's error-if-exists mode wants no folder there
    retired = None
    try:
        yield staging
        if os.path.lexists(output):
            retired = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.replaced-", dir=parent)
            os.rmdir(retired)
            os.rename(output, retired)
        os.rename(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)


def spread_partitions(df, partitions: int | None):
    """``df`` in ``partitions`` partitions, or, when None, in at least one per core Spark has.

    A single JSON or CSV file of a few MB is read as one partition, which would run the whole
    job as one task on one core; spread, it runs on every core (README gives the figures).
    Inputs already split finer are left alone: a shuffle only costs there.
    """
    if partitions is not None:
        if partitions < 1:
            raise CliError(f"--partitions must be at least 1, got {partitions}")
        return df.repartition(partitions)
    cores = df.sparkSession.sparkContext.defaultParallelism
    if df.rdd.getNumPartitions() < cores:
        return df.repartition(cores)
    return df


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparktext", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    annotate = commands.add_parser("annotate", help="documents, sentences and tokens to Parquet")
    embed = commands.add_parser("embed", help="token-level BERT embeddings to Parquet")
    commands.add_parser("models", help="the catalog of named models, and the cache folder")
    for command in (annotate, embed):  # what both jobs read, write and run on
        command.add_argument("input", help="file or folder: .csv, .json/.jsonl, .parquet, or plain text (one row per line)")
        command.add_argument("output", help="Parquet folder to write (must not exist, unless --overwrite)")
        command.add_argument("--overwrite", action="store_true",
                             help="replace an existing output folder of Spark output, once the new output is complete")
        command.add_argument("--text-col", default="text", help="column holding the text (default: text)")
        command.add_argument("--format", default="auto", choices=FORMATS,
                             help="input format (default: from the file names; a folder must hold one format)")
        command.add_argument("--no-header", action="store_true",
                             help="CSV without a header line: the columns are _c0, _c1, ... (then e.g. --text-col _c0)")
        command.add_argument("--skip-bad-rows", action="store_true",
                             help="leave out JSON/CSV rows that do not parse and report how many (default: such a row "
                                  "is an error)")
        command.add_argument("--master", default=DEFAULT_MASTER,
                             help=f"Spark master (default: {DEFAULT_MASTER}: every core, a failed task retried up to 4 times)")
        command.add_argument("--partitions", type=int, default=None,
                             help="repartition the input into N partitions (default: at least one per core Spark "
                                  "has, so a single small file does not run on one core)")
        command.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    embed.add_argument("--model", default="all_minilm_l6_v2",
                       help="a catalog name (see `python -m sparktext.pretrained`) or a Hugging Face checkpoint folder")
    embed.add_argument("--lang", default="en", help="language of the catalog model (default: en)")
    embed.add_argument("--batch-size", type=int, default=0, help="sequences per forward pass (0: auto)")
    embed.add_argument("--max-sentence-length", type=int, default=128, help="wordpieces per window, [CLS] and [SEP] included (3..512)")
    embed.add_argument("--level", default="token", choices=["token", "sentence"],
                       help="a vector per token, or per sentence (a sentence model's own, else the average of its tokens)")
    embed.add_argument("--pooling", default="first", choices=["first", "mean", "last"],
                       help="how a token's wordpieces become its vector (token models)")
    embed.add_argument("--keep", default="", metavar="COLUMNS",
                       help="more annotation columns to write, comma-separated: document, sentence, token, "
                            "embeddings (default: the sentences and tokens beside the vectors)")
    embed.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    embed.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    embed.add_argument("--engine", default="auto", choices=["auto", "torch", "onnx", "openvino"],
                       help="what runs the model (auto: the fastest installed for the device and precision)")
    return parser


def model_entry(spec: str, lang: str):
    """The catalog entry ``--model`` names, or None when it names a checkpoint folder.

    A spelling that is both a catalog name and a folder in the working directory is refused,
    naming both; one that looks like a path (``/``, ``.`` or ``~`` in front) is a folder."""
    from sparktext.pretrained.catalog import find_model

    looks_like_path = "/" in spec or os.sep in spec or spec.startswith((".", "~"))
    folder = os.path.expanduser(spec)
    try:
        entry = None if looks_like_path else find_model(spec, lang)
    except (KeyError, ValueError):
        if os.path.isdir(folder):
            return None
        raise
    if entry is not None and os.path.isdir(folder):
        raise CliError(
            f"--model {spec!r} is both the catalog model {entry.name}/{entry.lang} and the folder "
            f"{os.path.abspath(folder)}: pass --model ./{spec} for the folder, or run from another directory"
        )
    if entry is None and not os.path.isdir(folder):
        raise CliError(f"--model {spec!r}: no such model folder ({os.path.abspath(folder)} does not exist)")
    return entry


def build_stages(args: argparse.Namespace) -> tuple[list, list[str]]:
    """The pipeline stages for a command, and the annotation columns it writes (the last is
    the job's product)."""
    from sparktext import (
        BertEmbeddings,
        BertSentenceEmbeddings,
        DocumentAssembler,
        SentenceDetector,
        SentenceEmbeddings,
        Tokenizer,
    )

    stages = [DocumentAssembler(inputCol=args.text_col), SentenceDetector(), Tokenizer(inputCols=["sentence"])]
    if args.command == "annotate":
        return stages, ["document", "sentence", "token"]
    level = getattr(args, "level", "token")
    entry = model_entry(args.model, args.lang)
    if entry is None:
        kind, model = "token", BertEmbeddings.loadSavedModel(args.model)
    else:
        kind = entry.kind
        stage_class = BertSentenceEmbeddings if kind == "sentence" else BertEmbeddings
        model = stage_class.pretrained(entry.name, entry.lang)
    if kind == "sentence" and level == "token":
        raise CliError(f"{args.model!r} is a sentence model: use --level sentence, or a token model")
    model = (
        model
        .setBatchSize(args.batch_size)
        .setMaxSentenceLength(args.max_sentence_length)
        .setDevice(args.device)
        .setPrecision(args.precision)
        .setEngine(args.engine)
    )
    if kind == "sentence":  # the model reads sentences whole: no Tokenizer
        stages = stages[:2] + [model.setInputCols("sentence").setOutputCol("sentence_embeddings")]
        columns = ["sentence", "sentence_embeddings"]
    else:
        embeddings = model.setInputCols("sentence", "token").setOutputCol("embeddings").setPoolingStrategy(args.pooling)
        if level == "sentence":
            pooled = SentenceEmbeddings(inputCols=["sentence", "embeddings"], outputCol="sentence_embeddings")
            stages, columns = stages + [embeddings, pooled], ["sentence", "sentence_embeddings"]
        else:  # the sentences too: SentenceEmbeddings, run on the output read back, needs them
            stages, columns = stages + [embeddings], ["sentence", "token", "embeddings"]
    return stages, kept_columns(args, stages, columns)


def kept_columns(args: argparse.Namespace, stages: list, columns: list[str]) -> list[str]:
    """``columns`` and those ``--keep`` adds, in the pipeline's order, its chosen column last
    (the one the progress bar follows)."""
    made = [stage.getOutputCol() for stage in stages]
    extra = [name.strip() for name in args.keep.split(",") if name.strip()]
    unknown = [name for name in extra if name not in made]
    if unknown:
        raise CliError(f"--keep {args.keep!r}: this job makes no column {', '.join(map(repr, unknown))}; "
                       f"it makes {', '.join(made)}")
    wanted = set(columns) | set(extra)
    return [name for name in made if name in wanted and name != columns[-1]] + [columns[-1]]


def progress_bar(spark, args: argparse.Namespace, df, column: str) -> RowProgress:
    """The bar of rows done while ``column`` is written: its total is the input's row count,
    counted first (a pass that only reads the input, far quicker than the job's)."""
    from pyspark.sql import functions as F

    enabled = not args.no_progress
    total = None
    if enabled:
        # Counting the text column too, not only rows: Spark refuses a query of raw JSON/CSV
        # whose only column read is the corrupt-record one, which a bare count() would be.
        total = df.select(F.count(F.lit(1)).alias("rows"), F.count(args.text_col)).first().rows
    return RowProgress(
        spark, column, total=total, enabled=enabled,
        label="embedding" if args.command == "embed" else "annotating",
        annotation_unit="sentences" if column == "sentence_embeddings" else "tokens",
    )


def check_local_device(device: str, master: str) -> None:
    """Refuse ``--device cuda[:N]`` that this machine cannot give, before Spark starts: on a
    local master the workers are this machine (on a cluster the executors decide, not us)."""
    if not device.startswith("cuda") or not master.startswith("local"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.split(":", 1)[1]) if device.startswith("cuda:") and device[5:].isdigit() else 0
    if count == 0:
        raise CliError(f"--device {device}: this machine has no CUDA GPU that torch can use (use --device auto or cpu)")
    if index >= count:
        raise CliError(f"--device {device}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")


def run_job(args: argparse.Namespace) -> dict:
    from pyspark.ml import Pipeline
    from pyspark.sql import functions as F

    import sparktext

    # Spark resolves relative paths against its JVM's working directory, which need not be
    # ours (a session started earlier in this process, elsewhere): make local paths absolute.
    args.input, args.output = (path if "://" in path else os.path.abspath(path) for path in (args.input, args.output))
    check_output(args.input, args.output, args.overwrite)
    check_master(args.master)
    if args.command == "embed":
        check_local_device(args.device, args.master)
    spark = sparktext.start(master=args.master, conf={"spark.ui.showConsoleProgress": "false"})
    # Task failures are retried, and a failed job is reported (in one line where we know its
    # cause, else as its traceback): Spark's per-task stacks would bury either.
    spark.sparkContext.setLogLevel("FATAL")
    stages, annotation_columns = build_stages(args)
    df = read_input(spark, args.input, args.format, args.text_col, header=not args.no_header)
    df, count_skipped = handle_bad_rows(df, skip=args.skip_bad_rows)
    df = spread_partitions(df, args.partitions)
    started = time.perf_counter()
    result = Pipeline(stages=stages).fit(df).transform(df)
    # Spark's save mode matters only for a Hadoop URI; a local output is written to a fresh
    # sibling and renamed into place (staged_output).
    mode = "overwrite" if args.overwrite else "errorifexists"
    try:
        with progress_bar(spark, args, df, annotation_columns[-1]), staged_output(args.output) as target:
            result.select(*df.columns, *annotation_columns).write.mode(mode).parquet(target)
    except Exception as error:  # a failed Spark job: ours to word if a bad row failed it
        reported = bad_row_error(error)
        if reported is None:
            raise
        raise reported from None
    elapsed = time.perf_counter() - started
    written = spark.read.parquet(args.output)
    if "token" in written.columns:
        tokens = F.sum(F.size("token"))
    elif "sentence_embeddings" in written.columns:  # pooled from tokens: each sentence says how many
        tokens = F.sum(F.aggregate(
            F.transform("sentence_embeddings", lambda a: F.coalesce(a.metadata["tokens"].cast("long"), F.lit(0))),
            F.lit(0).cast("long"), lambda x, y: x + y))
    totals = written.select(
        F.count(F.lit(1)).alias("rows"),
        tokens.alias("tokens"),
        F.sum(F.size("sentence")).alias("sentences") if "sentence" in written.columns else F.lit(None).alias("sentences"),
    ).first()
    skipped = count_skipped() if count_skipped is not None else None
    return {"rows": totals.rows, "tokens": totals.tokens or 0, "sentences": totals.sentences, "seconds": elapsed,
            "skipped_rows": skipped}


def summary_line(output: str, summary: dict) -> str:
    """What the job did, in one line: rows, sentences, tokens, wall time and throughput."""
    seconds = max(summary["seconds"], 1e-9)
    parts = [f"{summary['rows']} rows"]
    if summary.get("sentences") is not None:
        parts.append(f"{summary['sentences']} sentences")
    if summary["tokens"]:
        parts.append(f"{summary['tokens']} tokens")
    rate = (f"{summary['tokens'] / seconds:,.0f} tokens/s" if summary["tokens"]
            else f"{(summary.get('sentences') or 0) / seconds:,.0f} sentences/s")
    line = f"wrote {output}: {', '.join(parts)} in {summary['seconds']:.1f} s ({rate})"
    if summary.get("total_seconds") is not None:  # what the user waited, Spark's start included
        line += f"; {summary['total_seconds']:.1f} s in all, with starting Spark and loading the model"
    if summary.get("skipped_rows") is not None:
        line += f"; {summary['skipped_rows']} input rows did not parse and were left out (--skip-bad-rows)"
    return line


def models_listing() -> str:
    """What ``sparktext models`` (and ``python -m sparktext.pretrained``) prints."""
    from sparktext.pretrained import default_cache_folder, showPublicModels

    return f"{showPublicModels()}\n\ncache folder: {default_cache_folder()}"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "models":
        print(models_listing())
        return 0
    started = time.perf_counter()
    try:
        summary = run_job(args)
        summary["total_seconds"] = time.perf_counter() - started
    except (CliError, SparktextError, FileNotFoundError, ValueError, KeyError, EngineNotAvailableError) as error:
        # KeyError's str() is the repr of its message: print the message itself.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"sparktext: error: {message}", file=sys.stderr)
        return 2
    print(summary_line(args.output, summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
