"""The engine on an NVIDIA GPU: parity with transformers, then a table of wordpieces/s.

Run through ``bash benchmarks/gpu_check.sh`` on a machine with CUDA (no Spark needed: the
engine is Spark-free). For a random-weight model of bert-base's shape (no download), it

* checks the vectors of every engine and precision that runs on CUDA here against
  transformers' own model in fp32 on the CPU: PyTorch fp32 within 1e-4 per float (x the
  largest value), fp16 and bf16 with every token's cosine >= 0.99, ONNX Runtime's CUDA
  provider (fp32, when ``onnxruntime-gpu`` is installed) within 1e-4;
* times, over the same sentences sorted by length, each engine's raw forward pass (the floor)
  and sparktext's engine (tokenize, window, batch, pool) at its default batch size.

It exits non-zero when a parity check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))


def build_model(folder: str, layers: int, hidden: int) -> str:
    """Random weights in bert-base's shape (or smaller), with a word-level vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w.strip(".,!?\"'").lower() for line in sentences(400) for w in line.split()} - {""})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(vocab) + "\n")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=hidden // 64, intermediate_size=4 * hidden)
    BertModel(config).eval().save_pretrained(folder, safe_serialization=True)
    BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    return folder


def sentences(count: int) -> list[str]:
    """Sentences of the bundled sample, repeated and cut at varied lengths."""
    with open(os.path.join(ROOT, "examples", "data", "sample.jsonl"), encoding="utf-8") as handle:
        texts = [json.loads(line).get("text") or "" for line in handle]
    words = " ".join(texts).split()
    out, start = [], 0
    for number in range(count):
        length = 4 + (number * 37) % 60
        out.append(" ".join(words[(start + i) % len(words)] for i in range(length)))
        start += length
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=4000)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from sparktext.inference.device import EngineOptions
    from sparktext.inference.engine import BertEngine
    from sparktext.inference.runtimes import is_installed

    assert torch.cuda.is_available(), "no CUDA device here"
    folder = build_model(os.path.join(tempfile.gettempdir(), "sparktext-gpu-check"), args.layers, args.hidden)
    cache = os.path.join(tempfile.gettempdir(), "sparktext-gpu-check-cache")
    texts = sentences(args.sentences)
    token_lists = [t.split() for t in texts]

    probe = token_lists[:200]
    # The reference: PyTorch fp32 on the CPU, which tests/test_inference.py holds to
    # transformers' own model within 1e-4.
    expected = BertEngine(folder, EngineOptions("cpu", "fp32", engine="torch", cache_root=cache)).embed(probe, pooling="mean").vectors

    combos = [("torch", "fp32"), ("torch", "fp16"), ("torch", "bf16")]
    if is_installed("onnx"):
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            combos.append(("onnx", "fp32"))
        else:
            print("ONNX Runtime has no CUDA provider here (install onnxruntime-gpu): engine 'onnx' not checked on CUDA")
    failures = []
    engines = {}
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}; model {args.layers} layers x {args.hidden}")
    for engine, precision in combos:
        loaded = BertEngine(folder, EngineOptions("cuda", precision, engine=engine, cache_root=cache))
        engines[(engine, precision)] = loaded
        got = loaded.embed(probe, pooling="mean").vectors
        scale = float(np.abs(expected).max())
        difference = float(np.abs(got - expected).max())
        worst = float(cosine(got, expected).min())
        ok = difference <= 1e-4 * scale if precision == "fp32" else worst >= 0.99
        failures += [] if ok else [f"{engine} {precision}"]
        print(f"parity {engine:6} {precision}: max |diff| {difference:.2e} (scale {scale:.2f}), min cosine {worst:.5f}"
              f" -> {'ok' if ok else 'FAILED'}")

    print(f"\n{len(texts)} sentences; median of {args.repeats} runs")
    print(f"{'approach':48} {'seconds':>8} {'wordpieces/s':>13}")
    for (engine, precision), loaded in engines.items():
        result = loaded.embed(token_lists)  # warm
        pieces = int(sum(len(ids) + 2 for ids, _ in loaded.wordpieces.encode_words(token_lists)))
        times = []
        for _ in range(args.repeats):
            torch.cuda.synchronize()
            started = time.perf_counter()
            loaded.embed(token_lists)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        seconds = sorted(times)[len(times) // 2]
        print(f"{'sparktext engine ' + engine + ' ' + precision:48} {seconds:8.2f} {pieces / seconds:13,.0f}"
              f"  (padding {result.padding_ratio:.3f}, batch {loaded.default_batch_size})")
    if failures:
        print(f"parity FAILED for {failures}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
