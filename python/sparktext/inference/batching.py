"""Cutting length-sorted sequences into batches that waste little on padding.

Sorting by length (as sentence-transformers' ``encode`` does) makes neighbours similar, but a
fixed batch size still pads badly where lengths are sparse -- the long tail of a few hundred
sentences, which is what one Spark partition or Arrow chunk holds: on EWT web text, chunks of
~230 sentences padded 12-23% in batches of 16, against 4.5% when all 900 were sorted together.
:func:`plan_batches` chooses the cut points instead, by dynamic programming over the sorted
lengths, minimising the positions the model computes (batch size x longest sequence) plus a
fixed cost per forward pass, with at most ``batch_size`` sequences per batch.
"""

from __future__ import annotations

from typing import Sequence

#: The fixed cost of one forward pass on CPU, in padded positions: what keeps the plan from
#: cutting a dense run of equal lengths into many tiny batches (each pass has Python overhead,
#: and small matrices use the cores poorly). Measured on MiniLM fp32, one thread, 919 EWT
#: sentences whole and in 4 chunks: 48 gave 7.8 s / 7.8-8.3 s against 8.1-8.4 s / 9.4-10.1 s
#: for fixed batches of 16 (padding 2.1% / ~5% against 4.5% / 12-23%); 0 (no fixed cost)
#: was slower (8.1 / 9.4 s), 96-256 in between.
BATCH_OVERHEAD_POSITIONS = 48
#: A GPU computes thousands of positions in the time a launch takes: there, fill batches.
GPU_BATCH_OVERHEAD_POSITIONS = 1024

#: What ``batchSize`` 0 (auto, the default) means, in words for the param's doc string.
AUTO_BATCH_SIZE_DOC = "0: auto (CPU: 16 in fp32, 32 in bf16; GPU: 64)"


def batch_policy(batch_size: int, device: str, precision: str) -> tuple[int, int]:
    """``(most sequences per forward pass, fixed cost per pass in positions)`` for a
    ``batchSize`` setting (0: auto) on ``device`` in ``precision``.

    On CPU, caps of 16 and 32 run alike in fp32 once :func:`plan_batches` cuts the batches;
    bf16's matrix instructions want 32; a GPU wants larger batches (benchmarks/bench_bert.py).

    >>> batch_policy(0, "cpu", "fp32"), batch_policy(0, "cpu", "bf16"), batch_policy(0, "cuda:0", "fp16")
    ((16, 48), (32, 48), (64, 1024))
    >>> batch_policy(8, "cpu", "fp32")
    (8, 48)
    """
    if batch_size < 0:
        raise ValueError(f"batchSize must be >= 0 ({AUTO_BATCH_SIZE_DOC}), got {batch_size}")
    gpu = device.startswith("cuda")
    auto = 64 if gpu else (32 if precision == "bf16" else 16)
    return (batch_size or auto), (GPU_BATCH_OVERHEAD_POSITIONS if gpu else BATCH_OVERHEAD_POSITIONS)


def plan_batches(lengths: Sequence[int], batch_size: int, overhead: int = BATCH_OVERHEAD_POSITIONS) -> list[tuple[int, int]]:
    """Cut points ``[(start, stop), ...]`` for sequences already sorted longest first.

    Minimises ``sum(count x longest) + overhead x batches`` with ``count <= batch_size``; in
    O(len(lengths) x batch_size).

    Examples
    --------
    >>> plan_batches([100, 98, 12, 12, 11, 10], batch_size=4)
    [(0, 2), (2, 6)]
    >>> plan_batches([], batch_size=4)
    []
    """
    count = len(lengths)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    best = [0.0] + [float("inf")] * count  # best[i]: cheapest plan of the first i sequences
    cut = [0] * (count + 1)
    for stop in range(1, count + 1):
        for start in range(max(0, stop - batch_size), stop):
            # Sorted longest first: the batch's longest is its first sequence.
            cost = best[start] + (stop - start) * lengths[start] + overhead
            if cost < best[stop]:
                best[stop], cut[stop] = cost, start
    plan = []
    stop = count
    while stop > 0:
        plan.append((cut[stop], stop))
        stop = cut[stop]
    return plan[::-1]
