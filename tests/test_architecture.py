"""docs/architecture.md's example stage, run as the guide says: one new module, and it works
through Spark, LightPipeline and save/load with no change to the stage layer."""

from __future__ import annotations

import importlib
import pathlib
import re
import sys

import pytest
from pyspark.ml import Pipeline, PipelineModel

import sparktext
from sparktext import DocumentAssembler, LightPipeline, Tokenizer

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


@pytest.fixture(scope="module")
def example_module(spark, tmp_path_factory):
    """The guide's ``python`` block under "Adding an annotator", saved as a module and shipped
    to the workers as the guide tells users to."""
    section = GUIDE.read_text().split("## Adding an annotator", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    path = tmp_path_factory.mktemp("guide") / "token_lowercaser.py"
    path.write_text(code)
    sys.path.insert(0, str(path.parent))
    spark.sparkContext.addPyFile(str(path))
    try:
        yield importlib.import_module("token_lowercaser")
    finally:
        sys.path.remove(str(path.parent))


def test_the_guide_example_runs_through_spark_light_pipeline_and_persistence(spark, example_module, tmp_path):
    texts = ["NASA sent Jane a LETTER. OK?", "", None, "Émile läuft 🙂 Weit"]
    df = spark.createDataFrame([(t,) for t in texts], "text string")
    fitted = Pipeline(stages=[
        DocumentAssembler().setInputCol("text"),
        Tokenizer().setInputCols("document").setOutputCol("token"),
        example_module.TokenLowercaser(keepAcronyms=True),
    ]).fit(df)

    rows = fitted.transform(df).select("text", "token", "lowercased").collect()
    for row in rows:
        expected = [t.result if len(t.result) > 1 and t.result.isupper() else t.result.lower() for t in row.token]
        assert [a.result for a in row.lowercased] == expected
        assert [(a.begin, a.end, a.metadata) for a in row.lowercased] == [(t.begin, t.end, t.metadata) for t in row.token]
        assert all(a.annotatorType == "token" for a in row.lowercased)
    assert [a.result for a in rows[0].lowercased][:4] == ["NASA", "sent", "jane", "a"]
    assert rows[1].lowercased == [] and rows[2].lowercased == []

    light = LightPipeline(fitted).annotate([t or "" for t in texts])
    assert [r["lowercased"] for r in light] == [[a.result for a in row.lowercased] for row in rows]

    fitted.write().overwrite().save(str(tmp_path / "pipeline"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    assert loaded.stages[-1].getKeepAcronyms() is True
    assert loaded.transform(df).select("lowercased").collect() == [(row.lowercased,) for row in rows]


def test_the_guide_example_checks_its_input_column(spark, example_module):
    df = DocumentAssembler().setInputCol("text").transform(spark.createDataFrame([("a b",)], "text string"))
    with pytest.raises(sparktext.SchemaError, match="input column 'document' holds 'document', expected annotator type 'token'"):
        example_module.TokenLowercaser(inputCols=["document"]).transform(df)


def test_the_generated_param_mixins_match_their_table():
    """shared_params.py is what the table in _shared_params_code_gen.py generates: a param
    edited in the table and not regenerated fails here."""
    from sparktext import _shared_params_code_gen as generator

    with open(generator.GENERATED, encoding="utf-8") as handle:
        assert handle.read() == generator.render(), "run: python -m sparktext._shared_params_code_gen"


def test_every_stage_param_comes_from_the_table_with_one_setter_and_getter():
    """No stage declares a param of its own or a hand-written accessor where the table has it:
    each param's setter and getter are the generated mixin's (getDimension and getStorageRef,
    which read a model or an input column when unset, aside)."""
    from sparktext import _shared_params_code_gen as generator
    from sparktext import shared_params

    specs = {spec.name for spec in generator.PARAMS}
    overridden = {"getDimension", "getStorageRef", "getOutputCols"}
    for stage_class in [sparktext.DocumentAssembler, sparktext.SentenceDetector, sparktext.Tokenizer,
                        sparktext.BertEmbeddings, sparktext.BertSentenceEmbeddings, sparktext.SentenceEmbeddings,
                        sparktext.Finisher, sparktext.EmbeddingsFinisher]:
        stage = stage_class()
        for param in stage.params:
            assert param.name in specs, (stage_class.__name__, param.name)
            for accessor in (f"set{param.name[0].upper()}{param.name[1:]}", f"get{param.name[0].upper()}{param.name[1:]}"):
                owner = next(klass for klass in type(stage).__mro__ if accessor in vars(klass))
                assert owner.__module__ == shared_params.__name__ or accessor in overridden, (stage_class.__name__, accessor, owner)
