"""The `sparktext annotate` job: every input format, a summary, one-line errors."""

from __future__ import annotations

import json
import pathlib

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
    assert f"{len(lines)} rows" in capsys.readouterr().out


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
    assert table.columns == ["id", "text", "token", "embeddings"]
    assert table.schema["embeddings"].metadata["dimension"] == 384
    rows = table.orderBy("id").collect()
    assert len(rows) == len(SAMPLE.read_text().splitlines())
    for row in rows:
        assert len(row.embeddings) == len(row.token)
        assert all(len(e.embeddings) == 384 for e in row.embeddings)
    out = capsys.readouterr().out
    assert "tokens/s" in out


def test_embed_refuses_an_unknown_model(spark, tmp_path, capsys):
    assert cli.main(["embed", str(SAMPLE), str(tmp_path / "o"), "--model", "bert_huge"]) == 2
    assert "no model 'bert_huge' for language 'en'" in capsys.readouterr().err
