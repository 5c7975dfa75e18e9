"""Read and build annotator columns as Arrow arrays, a batch of rows at a time.

The stages' UDFs receive and return Arrow arrays (Spark's ``arrow_udf``), so an annotator
column crosses the JVM/Python boundary without pandas and without a Python object per row.
:func:`read_annotations` flattens a batch into per-field arrays with the row of each
annotation; :class:`AnnotationBuilder` collects output annotations and assembles the nested
list<struct> array in one go.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparktext.annotation import ANNOTATION_ARROW_STRUCT, ANNOTATION_ARROW_TYPE


@dataclasses.dataclass
class AnnotationBatch:
    """The annotations of a batch of rows, flattened: element ``i`` belongs to row ``rows[i]``."""

    num_rows: int
    rows: np.ndarray
    begins: np.ndarray
    ends: np.ndarray
    results: list[str]
    metadata: list[dict[str, str]]

    def by_row(self) -> Iterator[tuple[int, list[int]]]:
        """Yield ``(row, indices of its annotations)`` for every row, empty rows included."""
        bounds = np.searchsorted(self.rows, np.arange(self.num_rows + 1))
        for row in range(self.num_rows):
            yield row, list(range(bounds[row], bounds[row + 1]))


def read_annotations(column: pa.Array | pa.ChunkedArray) -> AnnotationBatch:
    """Flatten an annotator column (``list<struct>``); null rows read as empty."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    flat = column.flatten()  # honours slicing and skips null lists
    rows = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    begins = pc.struct_field(flat, "begin").to_numpy(zero_copy_only=False)
    ends = pc.struct_field(flat, "end").to_numpy(zero_copy_only=False)
    results = [r if r is not None else "" for r in pc.struct_field(flat, "result").to_pylist()]
    metadata = [dict(m) if m else {} for m in pc.struct_field(flat, "metadata").to_pylist()]
    return AnnotationBatch(len(column), rows, begins, ends, results, metadata)


class AnnotationBuilder:
    """Collect annotations row by row, then :meth:`finish` into one Arrow array.

    Examples
    --------
    >>> builder = AnnotationBuilder("token")
    >>> builder.add(0, 4, "Hello", {"sentence": "0"})
    >>> builder.end_row()
    >>> builder.end_row()  # a row with no annotation
    >>> array = builder.finish()
    >>> [len(row) for row in array.to_pylist()]
    [1, 0]
    """

    def __init__(self, annotator_type: str) -> None:
        self.annotator_type = annotator_type
        self._offsets = [0]
        self._begins: list[int] = []
        self._ends: list[int] = []
        self._results: list[str] = []
        self._meta_offsets = [0]
        self._meta_keys: list[str] = []
        self._meta_values: list[str] = []

    def add(self, begin: int, end: int, result: str, metadata: Mapping[str, str]) -> None:
        self._begins.append(begin)
        self._ends.append(end)
        self._results.append(result)
        self._meta_keys.extend(metadata.keys())
        self._meta_values.extend(metadata.values())
        self._meta_offsets.append(len(self._meta_keys))

    def extend(self, begins: list[int], ends: list[int], results: list[str], metadata: Mapping[str, str]) -> None:
        """Add several annotations that share one metadata map (the tokens of a sentence)."""
        count = len(begins)
        self._begins.extend(begins)
        self._ends.extend(ends)
        self._results.extend(results)
        width = len(metadata)
        self._meta_keys.extend(list(metadata.keys()) * count)
        self._meta_values.extend(list(metadata.values()) * count)
        last = self._meta_offsets[-1]
        self._meta_offsets.extend(range(last + width, last + width * count + 1, width) if width else [last] * count)

    def end_row(self) -> None:
        self._offsets.append(len(self._begins))

    def finish(self, embeddings: pa.Array | None = None) -> pa.Array:
        """The ``list<struct>`` array of every row added."""
        metadata = pa.MapArray.from_arrays(
            pa.array(self._meta_offsets, type=pa.int32()),
            pa.array(self._meta_keys, type=pa.string()),
            pa.array(self._meta_values, type=pa.string()),
        )
        return annotation_array(
            self.annotator_type,
            np.asarray(self._offsets, dtype=np.int32),
            pa.array(self._begins, type=pa.int32()),
            pa.array(self._ends, type=pa.int32()),
            pa.array(self._results, type=pa.string()),
            metadata,
            embeddings,
        )


def annotation_array(
    annotator_type: str,
    row_offsets: np.ndarray,
    begins: pa.Array,
    ends: pa.Array,
    results: pa.Array,
    metadata: pa.Array,
    embeddings: pa.Array | None = None,
) -> pa.Array:
    """Assemble an annotator column from per-annotation arrays; row ``i`` holds annotations
    ``row_offsets[i]:row_offsets[i + 1]``. Without ``embeddings`` every vector is empty."""
    count = len(begins)
    if embeddings is None:
        embeddings = pa.ListArray.from_arrays(
            pa.array(np.zeros(count + 1, dtype=np.int32)), pa.array([], type=pa.float32())
        )
    types = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(count, dtype=np.int32)), pa.array([annotator_type])
    ).cast(pa.string())
    structs = pa.StructArray.from_arrays(
        [types, begins, ends, results, metadata, embeddings], fields=list(ANNOTATION_ARROW_STRUCT)
    )
    return pa.ListArray.from_arrays(pa.array(row_offsets, type=pa.int32()), structs, type=ANNOTATION_ARROW_TYPE)


def fixed_key_metadata(keys: list[str], values: list[pa.Array]) -> pa.MapArray:
    """A metadata map per annotation with the same ``keys``; ``values[k][i]`` is the value of
    ``keys[k]`` for annotation ``i``. Built with Arrow kernels, no Python loop per annotation.

    Examples
    --------
    >>> m = fixed_key_metadata(["a", "b"], [pa.array(["1", "2"]), pa.array(["x", "y"])])
    >>> m.to_pylist()
    [[('a', '1'), ('b', 'x')], [('a', '2'), ('b', 'y')]]
    """
    if not keys:
        raise ValueError("fixed_key_metadata needs at least one key")
    count, width = len(values[0]), len(keys)
    interleave = np.arange(count * width).reshape(width, count).T.ravel()
    items = pa.concat_arrays([v.cast(pa.string()) for v in values]).take(pa.array(interleave))
    offsets = pa.array(np.arange(0, count * width + 1, width, dtype=np.int32))
    return pa.MapArray.from_arrays(offsets, pa.array(keys * count, type=pa.string()), items)


def vectors_array(vectors: np.ndarray) -> pa.Array:
    """A ``list<float>`` array, one entry per row of a float32 ``[n, dim]`` matrix, no copy per row."""
    count, dim = vectors.shape
    if count * dim >= 2**31:
        raise ValueError(
            f"{count} vectors of {dim} floats exceed one Arrow batch's 2^31 values: lower "
            "spark.sql.execution.arrow.maxRecordsPerBatch"
        )
    offsets = pa.array(np.arange(0, (count + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel()))
