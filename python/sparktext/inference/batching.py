"""Cutting length-sorted sequences into batches that waste little work.

Sorting by length (as sentence-transformers' ``encode`` does) makes neighbours similar, but a
fixed batch size still pads badly where lengths are sparse -- the long tail of a few hundred
sentences, which is what one Spark partition or Arrow chunk holds: on EWT web text, chunks of
~230 sentences padded 12-23% in batches of 16, against 4.5% when all 900 were sorted together.
:func:`plan_batches` chooses the cut points instead, by dynamic programming over the sorted
lengths, minimising the positions the model computes (rows x padded length) plus a fixed cost
per forward pass, with at most ``max_sequences`` sequences per batch.

On a CPU a batch also holds at most ``max_sequences x 32`` positions: full batches for
sentences up to 32 wordpieces (most of web text), fewer rows for longer ones. An engine's
buffers grow to the largest batch it has run and stay there, so without the cap a worker's
memory rose with the rows it embedded (more rows, more full batches of long sentences);
smaller batches of long sentences run as fast (docs/performance.md, "Worker memory: a cap on
a batch's positions").

Some engines pay for each batch *shape* they have not run lately: OpenVINO's CPU plugin builds
kernels for every new (rows, length) it meets, which in bf16 costs about half a forward pass
(docs/performance.md). For those the policy rounds padded lengths up to a multiple and charges
a shape missing from the engine's :class:`ShapeHistory`, so the plan reuses a few dozen shapes
instead of making hundreds.

Everything about batching that depends on the device, the precision or the engine is decided
in :func:`batch_policy`, here and nowhere else.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Sequence

#: The fixed cost of one forward pass on CPU, in padded positions: what keeps the plan from
#: cutting a dense run of equal lengths into many tiny batches (each pass has Python overhead,
#: and small matrices use the cores poorly). Chosen by measurement (docs/performance.md).
BATCH_OVERHEAD_POSITIONS = 48
#: On a CPU, a batch's positions (rows x padded length) are capped at ``max_sequences`` times
#: this: what bounds an engine's buffers, which grow to the largest batch run (module doc).
CPU_POSITIONS_PER_SEQUENCE = 32
#: A GPU computes thousands of positions in the time a launch takes: there, fill batches.
GPU_BATCH_OVERHEAD_POSITIONS = 1024
#: OpenVINO bf16 on CPU: the cost of a batch shape the engine has not run lately, in positions,
#: and the multiple padded lengths are rounded up to (so that fewer shapes exist at all).
OPENVINO_BF16_NEW_SHAPE_POSITIONS = 400
OPENVINO_BF16_LENGTH_MULTIPLE = 8
#: How many recent shapes count as built (OpenVINO keeps kernels for the shapes it ran last;
#: sparktext bounds that cache, see inference/runtimes.py).
RECENT_SHAPES = 24

#: The stages embed an Arrow batch's rows in chunks of about this many tokens, so a Python
#: worker's memory stays flat however many rows an Arrow batch holds (the vectors of 16k tokens
#: are 24 MB at 384 dimensions, 48 MB at 768), while each chunk has ~1,200 sentences of web text
#: to sort and batch: the more sentences one sort sees, the fuller and fewer the batches
#: (docs/performance.md, chunk size).
TOKENS_PER_CHUNK = 16384
#: Sentences per engine call for sentence vectors, for the same reasons.
SENTENCES_PER_CHUNK = 4096

#: What ``batchSize`` 0 (auto, the default) means, in words for the param's doc string.
AUTO_BATCH_SIZE_DOC = "0: auto (CPU: 16 in fp32, 32 in bf16; GPU: 64)"
#: What ``batchSize`` caps, in words for the param's doc string.
BATCH_SIZE_DOC = (
    f"sequences per forward pass at most (on a CPU also at most {CPU_POSITIONS_PER_SEQUENCE} x this many "
    f"wordpieces: fewer rows when they are long); {AUTO_BATCH_SIZE_DOC}"
)


@dataclasses.dataclass(frozen=True)
class BatchPolicy:
    """How an engine's batches are cut.

    Attributes
    ----------
    max_sequences : int
        At most this many sequences per forward pass.
    pass_cost : int
        The fixed cost of one forward pass, in padded positions.
    length_multiple : int
        Padded lengths are rounded up to a multiple of this (1: the longest sequence's length).
    new_shape_cost : int
        The extra cost, in positions, of a (rows, length) shape not in the engine's recent
        shapes (0: shapes cost nothing of their own).
    max_positions : int
        At most this many padded positions (rows x padded length) per batch; a sequence
        longer than that still runs, alone (0: no cap).
    """

    max_sequences: int
    pass_cost: int
    length_multiple: int = 1
    new_shape_cost: int = 0
    max_positions: int = 0

    def padded_length(self, longest: int, limit: int) -> int:
        """The length a batch whose longest sequence has ``longest`` positions is padded to,
        never past ``limit`` (the model's positions) unless ``longest`` itself is.

        >>> BatchPolicy(32, 48, length_multiple=8).padded_length(17, 512)
        24
        >>> BatchPolicy(32, 48, length_multiple=8).padded_length(509, 512)
        512
        >>> BatchPolicy(32, 48, length_multiple=8).padded_length(513, 514)
        514
        """
        rounded = -(-longest // self.length_multiple) * self.length_multiple
        return max(longest, min(rounded, limit))


def batch_policy(batch_size: int, device: str, precision: str, engine: str = "torch") -> BatchPolicy:
    """The :class:`BatchPolicy` for a ``batchSize`` setting (0: auto) on ``device`` in
    ``precision``, run by ``engine`` (``torch``, ``onnx`` or ``openvino``).

    On CPU, caps of 16 and 32 run alike in fp32 once :func:`plan_batches` cuts the batches;
    bf16's matrix instructions want 32; a GPU wants larger batches (benchmarks/bench_bert.py).
    On CPU, batches of long sequences hold fewer rows (``CPU_POSITIONS_PER_SEQUENCE``).

    >>> batch_policy(0, "cpu", "fp32")
    BatchPolicy(max_sequences=16, pass_cost=48, length_multiple=1, new_shape_cost=0, max_positions=512)
    >>> batch_policy(0, "cuda:0", "fp16")
    BatchPolicy(max_sequences=64, pass_cost=1024, length_multiple=1, new_shape_cost=0, max_positions=0)
    >>> batch_policy(0, "cpu", "bf16", "openvino")
    BatchPolicy(max_sequences=32, pass_cost=48, length_multiple=8, new_shape_cost=400, max_positions=1024)
    >>> batch_policy(-1, "cpu", "fp32")
    Traceback (most recent call last):
    ...
    ValueError: batchSize must be >= 0 (0: auto (CPU: 16 in fp32, 32 in bf16; GPU: 64)), got -1
    """
    if batch_size < 0:
        raise ValueError(f"batchSize must be >= 0 ({AUTO_BATCH_SIZE_DOC}), got {batch_size}")
    if device.startswith("cuda"):
        return BatchPolicy(batch_size or 64, GPU_BATCH_OVERHEAD_POSITIONS)
    size = batch_size or (32 if precision == "bf16" else 16)
    positions = size * CPU_POSITIONS_PER_SEQUENCE
    if engine == "openvino" and precision == "bf16":
        # In fp32 the same rounding and shape cost measured no faster (the kernels are built as
        # fast, the passes take longer): there the plan stays as it was.
        return BatchPolicy(size, BATCH_OVERHEAD_POSITIONS, OPENVINO_BF16_LENGTH_MULTIPLE,
                           OPENVINO_BF16_NEW_SHAPE_POSITIONS, positions)
    return BatchPolicy(size, BATCH_OVERHEAD_POSITIONS, max_positions=positions)


class ShapeHistory:
    """The (rows, length) batch shapes an engine ran most recently, at most ``capacity``.

    >>> recent = ShapeHistory(capacity=2)
    >>> for shape in [(16, 24), (8, 40), (16, 24), (4, 64)]:
    ...     recent.add(shape)
    >>> sorted(recent.shapes())
    [(4, 64), (16, 24)]
    """

    def __init__(self, capacity: int = RECENT_SHAPES) -> None:
        self._capacity = capacity
        self._shapes: collections.OrderedDict[tuple[int, int], None] = collections.OrderedDict()
        self._lock = threading.Lock()  # LightPipeline may embed from several threads

    def add(self, shape: tuple[int, int]) -> None:
        with self._lock:
            self._shapes[shape] = None
            self._shapes.move_to_end(shape)
            while len(self._shapes) > self._capacity:
                self._shapes.popitem(last=False)

    def shapes(self) -> frozenset[tuple[int, int]]:
        with self._lock:
            return frozenset(self._shapes)


def plan_batches(
    lengths: Sequence[int], policy: BatchPolicy, recent: frozenset[tuple[int, int]] = frozenset(),
    limit: int = 1 << 30,
) -> list[tuple[int, int]]:
    """Cut points ``[(start, stop), ...]`` for sequences already sorted longest first.

    Minimises the sum over batches of ``rows x padded length + pass_cost``, plus
    ``new_shape_cost`` for each batch whose (rows, padded length) is not in ``recent``, with at
    most ``max_sequences`` rows and ``max_positions`` positions per batch; padded lengths as
    :meth:`BatchPolicy.padded_length` with ``limit``. In O(len(lengths) x max_sequences).

    Examples
    --------
    >>> plan_batches([100, 98, 12, 12, 11, 10], BatchPolicy(4, 48))
    [(0, 2), (2, 6)]
    >>> plan_batches([], BatchPolicy(4, 48))
    []
    >>> shaped = BatchPolicy(4, 0, length_multiple=8, new_shape_cost=100)
    >>> plan_batches([12, 12, 11, 10], shaped, recent=frozenset({(2, 16)}))
    [(0, 2), (2, 4)]
    >>> plan_batches([300, 100, 100, 20, 20], BatchPolicy(4, 48, max_positions=200))
    [(0, 1), (1, 3), (3, 5)]
    """
    count = len(lengths)
    size = policy.max_sequences
    if size < 1:
        raise ValueError(f"a batch holds at least one sequence, got max_sequences={size}")
    padded = [policy.padded_length(length, limit) for length in lengths]
    best = [0.0] + [float("inf")] * count  # best[i]: cheapest plan of the first i sequences
    cut = [0] * (count + 1)
    shape_cost, budget = policy.new_shape_cost, policy.max_positions
    for stop in range(1, count + 1):
        for start in range(max(0, stop - size), stop):
            rows = stop - start
            # Sorted longest first: the batch's longest is its first sequence.
            if budget and rows > 1 and rows * padded[start] > budget:
                continue
            cost = best[start] + rows * padded[start] + policy.pass_cost
            if shape_cost and (rows, padded[start]) not in recent:
                cost += shape_cost
            if cost < best[stop]:
                best[stop], cut[stop] = cost, start
    plan = []
    stop = count
    while stop > 0:
        plan.append((cut[stop], stop))
        stop = cut[stop]
    return plan[::-1]
