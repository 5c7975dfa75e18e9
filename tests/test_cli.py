"""The `sparktext annotate` job: every input format, a summary, one-line errors."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from sparktext import cli

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "data" / "sample.jsonl"


def test_annotates_the_bundled_sample(spark, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(["annotate", str(SAMPLE), str(output), "--master", "local[2]"]) == 0
    rows = spark.read.parquet(str(output)).orderBy("id").collect()
    lines = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    assert [r.id for r in rows] == [line["id"] for line in lines]  # every row, nulls included
    for row in rows:
        for token in row.token:
            assert row.text[token.begin : token.end + 1] == token.result
    summary = capsys.readouterr().out
    assert f"{len(lines)} rows" in summary
    job, total = (float(x) for x in re.search(r" in ([\d.]+) s .*; ([\d.]+) s in all", summary).groups())
    assert total >= job  # the time the user waited, start-up included, besides the job's own


@pytest.mark.parametrize("fmt", ["csv", "parquet", "text"])
def test_other_formats(spark, tmp_path, fmt):
    source = tmp_path / f"in.{fmt if fmt != 'text' else 'txt'}"
    df = spark.createDataFrame([("One. Two.",), ("Three",)], "text string")
    if fmt == "text":
        source.write_text("One. Two.\nThree\n")
    else:
        getattr(df.coalesce(1).write.option("header", True), fmt)(str(source))
    assert cli.main(["annotate", str(source), str(tmp_path / "out")]) == 0
    tokens = sorted(len(r.token) for r in spark.read.parquet(str(tmp_path / "out")).collect())
    assert tokens == [1, 4]


def test_a_single_small_file_is_spread_over_the_cores(spark, tmp_path):
    # One JSON file is read as one partition; left so, the whole job would run on one core.
    output = tmp_path / "spread"
    assert spark.read.json(str(SAMPLE)).rdd.getNumPartitions() == 1
    assert cli.main(["annotate", str(SAMPLE), str(output), "--master", "local[2]", "--no-progress"]) == 0
    assert len(list(output.glob("part-*.parquet"))) == spark.sparkContext.defaultParallelism == 2
    assert spark.read.parquet(str(output)).count() == len(SAMPLE.read_text().splitlines())
    assert cli.main(["annotate", str(SAMPLE), str(output), "--partitions", "0"]) == 2


def test_a_bad_local_master_is_one_line_before_spark_starts(tmp_path, capsys):
    assert cli.main(["annotate", str(SAMPLE), str(tmp_path / "o"), "--master", "local[0]"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparktext: error: master 'local[0]' is not a local master Spark accepts: local, local[N]")
    assert len(err.splitlines()) == 1


def test_errors_are_one_line_with_exit_status_2(spark, tmp_path, capsys):
    assert cli.main(["annotate", str(tmp_path / "missing.jsonl"), str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["annotate", str(SAMPLE), str(tmp_path / "o"), "--text-col", "body"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "sparktext: error: input has no column 'body'; its columns are ['id', 'text'] (use --text-col)"


def test_embed_job_on_the_sample_with_the_packaged_model(spark, tmp_path, capsys):
    output = tmp_path / "embedded"
    code = cli.main(["embed", str(SAMPLE), str(output), "--model", "all_minilm_l6_v2", "--master", "local[2]"])
    assert code == 0, capsys.readouterr().err
    table = spark.read.parquet(str(output))
    assert table.columns == ["id", "text", "sentence", "token", "embeddings"]
    assert table.schema["embeddings"].metadata["dimension"] == 384
    rows = table.orderBy("id").collect()
    assert len(rows) == len(SAMPLE.read_text().splitlines())
    for row in rows:
        assert len(row.embeddings) == len(row.token)
        assert all(len(e.embeddings) == 384 for e in row.embeddings)
    out = capsys.readouterr().out
    assert "tokens/s" in out
    # What was written is enough for the next stage: sentence vectors from the output read back.
    from sparktext import SentenceEmbeddings

    pooled = SentenceEmbeddings(inputCols=["sentence", "embeddings"], outputCol="vectors").transform(table)
    for row in pooled.collect():
        assert len(row.vectors) == len(row.sentence)


def test_embed_keep_adds_columns_and_names_the_ones_it_cannot(spark, tmp_path, capsys, tiny_bert_path):
    output = tmp_path / "kept"
    args = ["embed", str(SAMPLE), str(output), "--model", str(tiny_bert_path), "--no-progress"]
    assert cli.main(args + ["--keep", "document"]) == 0, capsys.readouterr().err
    assert spark.read.parquet(str(output)).columns == ["id", "text", "document", "sentence", "token", "embeddings"]
    assert cli.main(args[:2] + [str(tmp_path / "o2")] + args[3:] + ["--keep", "document,chunks"]) == 2
    assert capsys.readouterr().err.strip() == (
        "sparktext: error: --keep 'document,chunks': this job makes no column 'chunks'; "
        "it makes document, sentence, token, embeddings"
    )


def test_embed_refuses_an_unknown_model(spark, tmp_path, capsys):
    assert cli.main(["embed", str(SAMPLE), str(tmp_path / "o"), "--model", "bert_huge"]) == 2
    assert "no model 'bert_huge' for language 'en'" in capsys.readouterr().err


def test_the_model_argument_says_what_it_took(spark, tmp_path, capsys, monkeypatch, tiny_bert_path):
    """A catalog name and a folder of the same spelling: an error naming both, not the folder
    taken silently; a path that does not exist and an upper-case name each say so."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_bert_path, tmp_path / "all_minilm_l6_v2")
    assert cli.main(["embed", str(SAMPLE), "o1", "--model", "all_minilm_l6_v2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparktext: error: --model 'all_minilm_l6_v2' is both the catalog model all_minilm_l6_v2/en "
                          f"and the folder {tmp_path / 'all_minilm_l6_v2'}: pass --model ./all_minilm_l6_v2")
    assert len(err.splitlines()) == 1
    assert cli.main(["embed", str(SAMPLE), "o2", "--model", "./all_minilm_l6_v2", "--no-progress"]) == 0
    assert spark.read.parquet(str(tmp_path / "o2")).schema["embeddings"].metadata["dimension"] == 32
    assert cli.main(["embed", str(SAMPLE), "o3", "--model", "./no/such/folder"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sparktext: error: --model './no/such/folder': no such model folder ({tmp_path}/no/such/folder does not exist)"
    )
    assert cli.model_entry("ALL_MINILM_L6_V2", "en").name == "all_minilm_l6_v2"  # a name, whatever its case


@pytest.mark.parametrize("model", ["all_minilm_l6_v2", "sent_all_minilm_l6_v2"])
def test_embed_at_sentence_level(spark, tmp_path, capsys, model):
    output = tmp_path / "sentences"
    code = cli.main(["embed", str(SAMPLE), str(output), "--model", model, "--level", "sentence", "--master", "local[2]"])
    assert code == 0, capsys.readouterr().err
    table = spark.read.parquet(str(output))
    assert table.columns == ["id", "text", "sentence", "sentence_embeddings"]
    rows = table.collect()
    assert sum(len(r.sentence) for r in rows) > 0
    for row in rows:
        assert len(row.sentence_embeddings) == len(row.sentence)  # one vector per sentence
        assert all(len(e.embeddings) == 384 for e in row.sentence_embeddings)
    out = capsys.readouterr().out
    sentences = sum(len(r.sentence) for r in rows)
    assert f"{len(rows)} rows, {sentences} sentences" in out
    assert ("tokens/s" in out) == (model == "all_minilm_l6_v2")  # a sentence model never tokenizes


def test_a_sentence_model_at_token_level_is_a_one_line_error(spark, tmp_path, capsys):
    assert cli.main(["embed", str(SAMPLE), str(tmp_path / "o"), "--model", "sent_all_minilm_l6_v2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "sparktext: error: 'sent_all_minilm_l6_v2' is a sentence model: use --level sentence, or a token model"
    )


def test_progress_bar_counts_rows_and_tokens_as_the_tasks_make_them(spark, tmp_path):
    import io
    import sys

    from pyspark.ml import Pipeline

    from sparktext import DocumentAssembler, SentenceDetector, Tokenizer
    from sparktext.progress import RowProgress

    texts = [f"Row {i} has words. And a second sentence!" if i % 7 else None for i in range(2000)]
    df = spark.createDataFrame([(t,) for t in texts], "text string").repartition(2)
    pipeline = Pipeline(stages=[DocumentAssembler(inputCol="text"), SentenceDetector(),
                                Tokenizer(inputCols=["sentence"])]).fit(df)
    captured, real_stderr = io.StringIO(), sys.stderr
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
    sys.stderr = captured
    try:
        with RowProgress(spark, "token", total=df.count(), label="annotating", interval=0.05) as progress:
            pipeline.transform(df).write.format("noop").mode("overwrite").save()
    finally:
        sys.stderr = real_stderr
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    expected_tokens = sum(len(r.token) for r in pipeline.transform(df).select("token").collect())
    assert (progress.rows, progress.annotations) == (2000, expected_tokens)
    assert progress.reports >= 20  # one per Arrow batch of 100 rows, not one per task
    assert "annotating" in captured.getvalue() and "rows" in captured.getvalue()
    # Jobs outside the block report nothing: the property that asks the tasks to is gone.
    assert spark.sparkContext.getLocalProperty("sparktext.progress") is None


def test_progress_counts_a_retried_or_speculative_task_once(spark):
    import socket
    import time

    from sparktext.progress import PROGRESS_PROPERTY, RowProgress

    with RowProgress(spark, "token", total=300, interval=10) as progress:
        host, port, column = spark.sparkContext.getLocalProperty(PROGRESS_PROPERTY).split(" ")
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # stage partition attempt rows annotations: attempt 7 failed at 80 rows, attempt 9
        # (its retry) and 12 (a speculative copy) both finish partition 0's 100 rows; the
        # late, out-of-order report of 50 rows from attempt 9 changes nothing; partition 1 runs once.
        for message in ("3 0 7 80 800", "3 0 9 100 1000", "3 0 12 100 1000", "3 0 9 50 500",
                        "3 1 8 200 2000", "not a report"):
            sender.sendto(message.encode(), (host, int(port)))
        deadline = time.monotonic() + 10
        while progress.reports < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert (progress.rows, progress.annotations) == (300, 3000)


# -- the output never destroys data -----------------------------------------------------------


def _copy_sample(folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "data.jsonl"
    copy.write_bytes(SAMPLE.read_bytes())
    return copy


def test_an_output_that_is_or_holds_the_input_is_refused_and_nothing_is_touched(spark, tmp_path, capsys):
    precious = tmp_path / "precious"
    data = _copy_sample(precious)
    notes = precious / "notes.txt"
    notes.write_text("not Spark's")
    for output in (data, precious, tmp_path):  # the file itself, its folder, a folder above
        assert cli.main(["annotate", str(data), str(output), "--overwrite", "--no-progress"]) == 2
        assert "would destroy the input" in capsys.readouterr().err
    assert cli.main(["annotate", str(precious), str(precious / "out"), "--no-progress"]) == 2  # inside a folder input
    assert "would destroy the input" in capsys.readouterr().err
    assert data.read_bytes() == SAMPLE.read_bytes() and notes.read_text() == "not Spark's"
    assert sorted(p.name for p in precious.iterdir()) == ["data.jsonl", "notes.txt"]


def test_an_existing_output_needs_overwrite_and_foreign_files_are_never_deleted(spark, tmp_path, capsys):
    output = tmp_path / "out"
    assert cli.main(["annotate", str(SAMPLE), str(output), "--no-progress"]) == 0
    first = sorted(p.name for p in output.iterdir())
    assert cli.main(["annotate", str(SAMPLE), str(output), "--no-progress"]) == 2
    assert "exists" in capsys.readouterr().err and sorted(p.name for p in output.iterdir()) == first
    assert cli.main(["annotate", str(SAMPLE), str(output), "--no-progress", "--overwrite"]) == 0
    assert spark.read.parquet(str(output)).count() == len(SAMPLE.read_text().splitlines())
    (output / "notes.txt").write_text("mine")
    assert cli.main(["annotate", str(SAMPLE), str(output), "--no-progress", "--overwrite"]) == 2
    assert "notes.txt" in capsys.readouterr().err and (output / "notes.txt").read_text() == "mine"
    a_file = tmp_path / "report.txt"
    a_file.write_text("keep")
    assert cli.main(["annotate", str(SAMPLE), str(a_file), "--no-progress", "--overwrite"]) == 2
    assert a_file.read_text() == "keep"
    # Nothing half-written is left beside the outputs.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "report.txt"]


def test_a_failed_job_leaves_the_previous_output_whole(spark, tmp_path, capsys, monkeypatch):
    output = tmp_path / "out"
    assert cli.main(["annotate", str(SAMPLE), str(output), "--no-progress"]) == 0
    before = {p.name: p.read_bytes() for p in output.iterdir()}

    real_build_stages = cli.build_stages

    def failing_stages(args):  # a job that fails in its tasks, half-way through writing
        from pyspark.ml.feature import SQLTransformer

        stages, columns = real_build_stages(args)
        failing = SQLTransformer(statement="SELECT *, CAST(raise_error('a task failed') AS STRING) AS failed FROM __THIS__")
        return stages + [failing], columns + ["failed"]

    monkeypatch.setattr(cli, "build_stages", failing_stages)
    with pytest.raises(Exception, match="a task failed"):
        cli.main(["annotate", str(SAMPLE), str(output), "--no-progress", "--overwrite"])
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_engine_that_cannot_run_is_a_one_line_error(spark, tmp_path, capsys):
    args = ["embed", str(SAMPLE), str(tmp_path / "o"), "--engine", "onnx", "--precision", "bf16", "--device", "cpu"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparktext: error: BertEmbeddings (uid ") and "engine 'onnx' does not run bf16 on cpu" in err
    assert "\n" not in err and not (tmp_path / "o").exists()


def test_a_folder_of_mixed_formats_is_refused_naming_the_files_that_do_not_fit(spark, tmp_path, capsys):
    # Read as one format, the .txt lines became rows of nulls beside the real ones (exit 0).
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.jsonl").write_text('{"text": "One."}\n{"text": "Two."}\n')
    (mixed / "b.jsonl").write_text('{"text": "Three."}\n')
    (mixed / "notes.txt").write_text("a line of notes\n")
    assert cli.main(["annotate", str(mixed), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "mixes formats: read as json, but notes.txt is not json" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()

    parquet_and_csv = tmp_path / "pc"
    spark.createDataFrame([("One.",)], "text string").coalesce(1).write.parquet(str(parquet_and_csv))
    (parquet_and_csv / "extra.csv").write_text("text\nTwo.\n")
    assert cli.main(["annotate", str(parquet_and_csv), str(tmp_path / "out2"), "--format", "parquet"]) == 2
    assert "extra.csv is not parquet" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_row_that_does_not_parse_is_an_error_or_counted_when_skipped(spark, tmp_path, capsys, fmt):
    source = tmp_path / f"in.{'jsonl' if fmt == 'json' else 'csv'}"
    if fmt == "json":
        source.write_text('{"id": 1, "text": "One."}\n{"id": 2, "text": "Two. Broken\n{"id": 3, "text": "Three."}\n')
    else:  # a row with more fields than the header
        source.write_text('id,text\n1,One.\n2,Two.,surplus,fields\n3,Three.\n')
    assert cli.main(["annotate", str(source), str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has a row that does not parse" in err and source.name in err
    assert "Two." in err and "--skip-bad-rows" in err
    assert not (tmp_path / "out").exists()

    assert cli.main(["annotate", str(source), str(tmp_path / "out"), "--no-progress", "--skip-bad-rows"]) == 0
    assert "1 input rows did not parse and were left out" in capsys.readouterr().out
    rows = spark.read.parquet(str(tmp_path / "out")).orderBy("id").collect()
    assert [(int(r.id), r.text) for r in rows] == [(1, "One."), (3, "Three.")]  # no row of nulls


def test_empty_inputs_and_a_csv_without_header_say_so(spark, tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    assert cli.main(["annotate", str(tmp_path / "empty.jsonl"), str(tmp_path / "o")]) == 2
    assert "is empty" in capsys.readouterr().err
    (tmp_path / "blank.jsonl").write_text("\n\n")
    assert cli.main(["annotate", str(tmp_path / "blank.jsonl"), str(tmp_path / "o")]) == 2
    assert "has no records" in capsys.readouterr().err

    headless = tmp_path / "headless.csv"
    headless.write_text("The first line is data.\nSo is the second.\n")
    assert cli.main(["annotate", str(headless), str(tmp_path / "o")]) == 2
    assert "--no-header --text-col _c0" in capsys.readouterr().err
    assert cli.main(["annotate", str(headless), str(tmp_path / "o"), "--no-header", "--text-col", "_c0"]) == 0
    texts = sorted(r._c0 for r in spark.read.parquet(str(tmp_path / "o")).collect())
    assert texts == ["So is the second.", "The first line is data."]


def test_a_cuda_device_this_machine_lacks_is_one_line_before_spark_starts(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert cli.main(["embed", str(SAMPLE), str(tmp_path / "o"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "sparktext: error: --device cuda: this machine has no CUDA GPU that torch can use (use --device auto or cpu)"
