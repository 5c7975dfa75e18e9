"""The one place that turns a stage's Arrow batch function into Spark work, per Spark version.

A stage hands :func:`with_batch_column` a picklable function of ``pyarrow`` arrays (the input
columns of one Arrow batch) returning the output column as one array with a row per input row;
LightPipeline calls the same function directly. How Spark runs it depends on the version:

* Spark 4.1+ has Arrow UDFs (``pyspark.sql.functions.arrow_udf``): Spark sends only the input
  columns to Python, whole ``pyarrow`` arrays, no pandas round trip.
* Spark 3.5 and 4.0 have none. ``pandas_udf`` would turn every annotation into Python objects
  on the way in and out; ``DataFrame.mapInArrow`` (Spark 3.3+) keeps Arrow all the way, at the
  cost of sending the whole row to Python, which appends the output column to each batch.

Both give the same schema (column order as ``withColumn``), the same values and the same
column metadata; the tests run on each.
"""

from __future__ import annotations

import collections
import uuid
from typing import Callable, Iterable, Iterator, Sequence

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructField, StructType

from sparktext.progress import report_rows

#: Whether this PySpark has Arrow UDFs (4.1+); without them stages run through ``mapInArrow``.
HAS_ARROW_UDF = hasattr(F, "arrow_udf")

#: A function of one batch's input columns returning the output column for those rows.
BatchFunction = Callable[..., pa.Array]
#: A function of a task's stream of input-column tuples returning output arrays that cover the
#: same rows in the same order (sliced as it likes): stages that keep a model across batches.
PartitionFunction = Callable[[Iterator[tuple[pa.Array, ...]]], Iterable[pa.Array]]


def with_annotator_column(dataset: DataFrame, name: str, column: Column, metadata: dict) -> DataFrame:
    """``dataset`` with column ``name`` computed by ``column``, carrying ``metadata``.

    ``withMetadata`` rather than ``column.alias(name, metadata=...)``: under Spark Connect,
    ``withColumn`` drops an alias's metadata, and downstream stages read their input columns'
    annotator types from it.
    """
    return dataset.withColumn(name, column).withMetadata(name, metadata)


def with_batch_column(
    dataset: DataFrame,
    output: str,
    function: BatchFunction | PartitionFunction,
    inputs: Sequence[str],
    return_type: DataType,
    metadata: dict,
    *,
    per_partition: bool = False,
) -> DataFrame:
    """``dataset`` with column ``output`` computed by ``function`` from the ``inputs`` columns,
    carrying ``metadata`` (replacing a column of that name in place, as ``withColumn`` does).

    ``per_partition`` says ``function`` is a :data:`PartitionFunction`, else a
    :data:`BatchFunction`. The metadata is set as :func:`with_annotator_column` sets it.
    """
    if len(inputs) not in (1, 2):  # the Arrow UDF shapes spelled out below
        raise ValueError(f"a stage's batch function takes 1 or 2 input columns, got {len(inputs)}: {list(inputs)}")
    function = _counting_rows(function, output, per_partition)
    if HAS_ARROW_UDF:
        if not per_partition:
            function = _reusing_last_output(function, uuid.uuid4().hex)
        column = _arrow_udf(function, len(inputs), return_type, per_partition)(*[F.col(c) for c in inputs])
        return with_annotator_column(dataset, output, column, metadata)
    return _map_in_arrow(dataset, output, function, inputs, return_type, per_partition).withMetadata(output, metadata)


#: The last batch of each batch function in this Python worker: its input arrays (held, so
#: their memory cannot be reused by another batch), their buffers' addresses, and the output.
_LAST_BATCHES: dict[str, tuple[tuple[pa.Array, ...], tuple, pa.Array]] = {}


def _buffers_of(columns: Sequence[pa.Array]) -> tuple | None:
    """What identifies the data of ``columns``: type, offset, length and buffer addresses
    (None for anything but plain arrays, which are then never taken for the same)."""
    if not all(isinstance(column, pa.Array) for column in columns):
        return None
    return tuple(
        (column.type, column.offset, len(column), tuple(b.address if b is not None else 0 for b in column.buffers()))
        for column in columns
    )


def _reusing_last_output(function: BatchFunction, key: str) -> BatchFunction:
    """``function``, returning its last output again when called again on the same data.

    When a Python UDF's only argument is another Python UDF (the Tokenizer reading the
    SentenceDetector's column, once the optimizer has inlined it), Spark runs the two as one
    chained call in one worker -- and calls the inner one again for its own output column:
    each stage of a chain of n ran n times on every batch. The copies of one stage's
    function in a worker share ``key``, and each call gets new array objects over the same
    buffers, so the chained call finds the first one's output by the buffers' addresses.
    Breaking the chain instead (an argument Spark cannot inline) ran each stage once but in
    a Python worker of its own per task slot, which costs memory (docs/performance.md). The
    last batch stays held until the next: one batch per stage and worker.
    """

    def reusing(*columns: pa.Array) -> pa.Array:
        return _last_output_or_new(key, function, columns)

    return reusing


def _last_output_or_new(key: str, function: BatchFunction, columns: tuple[pa.Array, ...]) -> pa.Array:
    # A module-level function: cloudpickle ships it by reference, so every UDF of a worker
    # reads the one _LAST_BATCHES of the imported module (a closure would carry a copy).
    buffers = _buffers_of(columns)
    last = _LAST_BATCHES.get(key)
    if buffers is not None and last is not None and last[1] == buffers:
        return last[2]
    _LAST_BATCHES.pop(key, None)  # the previous batch goes before this one is computed
    result = function(*columns)
    if buffers is not None:
        _LAST_BATCHES[key] = (columns, buffers, result)
    return result


def _counting_rows(function, output: str, per_partition: bool):
    """``function``, passing each output array it makes to :func:`sparktext.progress.report_rows`
    (a no-op unless a progress bar tracks ``output``)."""
    if per_partition:
        def counted_stream(batches):
            for column in function(batches):
                report_rows(output, column)
                yield column

        return counted_stream

    def counted(*columns: pa.Array) -> pa.Array:
        column = function(*columns)
        report_rows(output, column)
        return column

    return counted


def _arrow_udf(function, arity: int, return_type: DataType, per_partition: bool):
    from pyspark.sql.functions import arrow_udf

    # Spark reads the UDF kind from the type hints, so each shape is spelled out: one column
    # comes as arrays, several as tuples; a PartitionFunction always gets tuples.
    if per_partition:
        def one_stream(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
            yield from function((column,) for column in batches)

        def two_streams(batches: Iterator[tuple[pa.Array, pa.Array]]) -> Iterator[pa.Array]:
            yield from function(batches)

        shapes = {1: one_stream, 2: two_streams}
    else:
        def one(column: pa.Array) -> pa.Array:
            return function(column)

        def two(first: pa.Array, second: pa.Array) -> pa.Array:
            return function(first, second)

        shapes = {1: one, 2: two}
    return arrow_udf(shapes[arity], returnType=return_type)


def _map_in_arrow(dataset: DataFrame, output: str, function, inputs: Sequence[str], return_type: DataType,
                  per_partition: bool) -> DataFrame:
    names = dataset.schema.names
    positions = [names.index(c) for c in inputs]
    new_field = StructField(output, return_type, nullable=True)
    fields = [new_field if f.name == output else f for f in dataset.schema.fields]
    if output not in names:
        fields.append(new_field)
    replaced = names.index(output) if output in names else None

    def attach(batch: pa.RecordBatch, column: pa.Array) -> pa.RecordBatch:
        arrays = list(batch.columns)
        if replaced is None:
            arrays.append(column)
        else:
            arrays[replaced] = column
        return pa.RecordBatch.from_arrays(arrays, names=[f.name for f in fields])

    def per_batch(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            column = function(*[batch.column(i) for i in positions])
            if len(column) != batch.num_rows:
                raise RuntimeError(f"the function computing {output!r} returned {len(column)} rows for {batch.num_rows}")
            yield attach(batch, column)

    def per_stream(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # The function may regroup rows; its outputs are matched to the held input rows in order.
        held: collections.deque[list] = collections.deque()  # [batch, rows of it already matched]

        def input_columns() -> Iterator[tuple[pa.Array, ...]]:
            for batch in batches:
                held.append([batch, 0])
                yield tuple(batch.column(i) for i in positions)

        for column in function(input_columns()):
            start = 0
            while start < len(column):
                while held and held[0][1] == held[0][0].num_rows:
                    held.popleft()
                if not held:
                    raise RuntimeError(f"the function computing {output!r} returned more rows than it was given")
                batch, offset = held[0]
                take = min(len(column) - start, batch.num_rows - offset)
                yield attach(batch.slice(offset, take), column.slice(start, take))
                held[0][1] += take
                start += take
        if any(batch.num_rows > offset for batch, offset in held):
            raise RuntimeError(f"the function computing {output!r} returned fewer rows than it was given")

    return dataset.mapInArrow(per_stream if per_partition else per_batch, StructType(fields))
