"""The BERT engine: token lists in, one float32 vector per token out. No Spark here.

The work follows Hugging Face pipelines' split -- preprocess, forward, postprocess -- and only
``forward`` touches the model:

* preprocess: wordpieces of every token with the model's own fast tokenizer (``word_ids``
  map pieces back to tokens); tokens with no piece (control characters) get ``[UNK]`` so they
  still get a vector; sentences longer than the window are cut into overlapping windows;
* forward: sequences sorted by length (as sentence-transformers' ``encode`` does) so each
  batch pads little, run in batches of ``batch_size`` by one of the engines of
  inference/runtimes.py (OpenVINO, ONNX Runtime or PyTorch), which returns only the vectors
  at the positions a batch's tokens are read from (a :class:`Readout`); a CUDA out-of-memory
  error halves the batch and retries;
* postprocess: each token's pieces pooled (first, mean or last), written into the output
  array at the token's original position.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Sequence as SequenceType

import numpy as np

from sparktext.errors import ModelOutputError
from sparktext.inference.batching import ShapeHistory, batch_policy, plan_batches
from sparktext.inference.device import EngineOptions, cpu_multiplies_bf16, resolve_device, resolve_precision
from sparktext.inference.export import ExportError
from sparktext.inference.runtimes import choose_engine, load_runtime
from sparktext.inference.slots import CoreSlots
from sparktext.inference.windows import Sequence, plan_windows, token_piece_spans
from sparktext.inference.wordpieces import load_wordpieces
from sparktext.pretrained.checkpoint import has_pooler_weights
from sparktext.pretrained.resolve import default_cache_folder

logger = logging.getLogger(__name__)

POOLING_STRATEGIES = ("first", "mean", "last")
SENTENCE_POOLING_STRATEGIES = ("pooler", "mean")
#: Batches a worker runs side by side at most, its own slot's and borrowed ones': each stream
#: keeps its own buffers once used (tens of MB for MiniLM), so on a many-core machine a worker
#: borrows one idle core, not all of them (docs/performance.md, "Lending idle cores").
MAX_SIDE_BY_SIDE = 2


@dataclasses.dataclass
class TokenEmbeddings:
    """The engine's answer for a batch of sentences, tokens flattened in input order."""

    vectors: np.ndarray  # float32 [tokens, hidden]
    piece_ids: np.ndarray  # id of each token's first wordpiece
    is_oov: np.ndarray  # bool: the token had no wordpiece or only [UNK]
    padding_ratio: float  # padded positions / all positions fed to the model


@dataclasses.dataclass
class Readout:
    """Where a batch's vectors are read in the model output: positions ``(rows[i], cols[i])``
    ([CLS] is column 0), pooled into ``tokens`` -- one position per token, or with
    ``lengths``, each token's run of ``lengths[t]`` positions (``mean``). For sentence
    vectors, a "token" is a whole text: its [CLS] (``pooler``) or every position (``mean``)."""

    rows: np.ndarray
    cols: np.ndarray
    tokens: np.ndarray  # each vector's index in the output array (a token's, or a text's)
    lengths: np.ndarray | None = None
    pooler: bool = False  # read the pooler output of ``rows`` instead ([CLS] through dense + tanh)

    @classmethod
    def runs(cls, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray, tokens: np.ndarray) -> "Readout":
        """Token ``t`` pooled from ``lengths[t]`` consecutive positions of row ``rows[t]``,
        from column ``starts[t]`` on (``mean``)."""
        cols = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
        return cls(np.repeat(rows, lengths), cols, tokens, lengths)


@dataclasses.dataclass
class SentenceVectors:
    """The engine's answer for a batch of texts: one vector each, in input order."""

    vectors: np.ndarray  # float32 [texts, hidden]
    truncated: np.ndarray  # bool: the text had more wordpieces than the window and was cut
    padding_ratio: float


class BertEngine:
    """A loaded model and tokenizer on one device. Build through :func:`get_engine`.

    Parameters
    ----------
    model_path : str
        A Hugging Face checkpoint folder (config, safetensors weights, tokenizer files).
    options : EngineOptions, optional
        Device, precision, engine, threads and the export cache (see inference/device.py);
        default: the defaults of each.
    """

    def __init__(self, model_path: str, options: EngineOptions | None = None) -> None:
        started = time.perf_counter()
        if not os.path.isdir(model_path):
            raise FileNotFoundError(
                f"model folder {model_path!r} does not exist on this machine (deleted or moved after the "
                "stage was built? on a cluster, is it shipped? see docs/pretrained.md)"
            )
        options = options or EngineOptions()
        self.model_path = model_path
        self.device = resolve_device(options.device, options.gpus)
        self.precision = resolve_precision(options.precision, self.device)
        cache_root = options.cache_root or default_cache_folder()
        # The fast (Rust) tokenizer: batched, and it maps every piece back to its word. Sequences
        # longer than the model takes are cut into windows (or, for sentence vectors, truncated)
        # here, never by the tokenizer.
        self.wordpieces = load_wordpieces(model_path, cache_root)
        with open(os.path.join(model_path, "config.json"), encoding="utf-8") as handle:
            config = json.load(handle)
        self.hidden_size = int(config.get("hidden_size", config.get("dim", 0)))
        self.max_positions = int(config.get("max_position_embeddings", 512))
        # A checkpoint saved from a masked-LM head has no pooler: transformers would fill it
        # with random weights, fine for token vectors, wrong for pooler sentence vectors.
        self.has_trained_pooler = has_pooler_weights(model_path)
        special = self.wordpieces.special
        self.cls_id, self.sep_id, self.pad_id, self.unk_id = special.cls, special.sep, special.pad, special.unk
        self.engine = choose_engine(options.engine, self.device, self.precision)
        threads = options.cpu_threads()
        # Cores of idle task slots can be borrowed where the runtime runs requests side by side.
        slots = options.task_slots() if self.engine == "openvino" and self.device == "cpu" else 1
        self.core_slots = CoreSlots(options.core_group or "default", slots) if slots > 1 else None
        self.side_by_side = min(slots, MAX_SIDE_BY_SIDE)
        try:
            self.runtime = load_runtime(
                self.engine, model_path, self.device, self.precision, threads, cache_root, self.side_by_side
            )
        except ExportError as error:
            if options.engine != "auto":
                raise
            logger.warning("%s; running it with PyTorch instead", error)
            self.engine = "torch"
            self.runtime = load_runtime("torch", model_path, self.device, self.precision, threads, cache_root)
            self.core_slots, self.side_by_side = None, 1
        if self.device == "cpu" and self.precision == "bf16":
            self.precision = self._bf16_on_this_cpu()
        self.recent_shapes = ShapeHistory()  # what the batch plan reuses (inference/batching.py)
        logger.info(
            "loaded %s on %s (%s, %s) in %.1f s", model_path, self.device, self.engine, self.precision,
            time.perf_counter() - started,
        )

    def _bf16_on_this_cpu(self) -> str:
        """The precision a bf16 request runs in on this CPU, with a warning where bf16 buys
        no speed: a CPU without bf16 instructions."""
        if self.engine == "openvino" and self.runtime.precision == "fp32":
            logger.warning(
                "precision 'bf16': this CPU has no bf16 instructions (AVX-512 BF16, AMX), so OpenVINO computes "
                "in fp32: the vectors are fp32's, at fp32's speed (precision 'fp32' says so)"
            )
            return "fp32"  # and batches are planned as for fp32, which is what runs
        if self.engine == "torch" and cpu_multiplies_bf16() is False:
            logger.warning(
                "precision 'bf16': this CPU has no bf16 instructions (AVX-512 BF16, AMX, Arm BF16), and PyTorch "
                "emulates them, several times slower than fp32: use precision 'fp32' (or install openvino)"
            )
        return "bf16"

    # -- preprocess ---------------------------------------------------------------------------
    def preprocess(
        self, sentences: SequenceType[SequenceType[str]], max_length: int, lowercase: bool = False
    ) -> tuple[list[Sequence], np.ndarray, np.ndarray]:
        """Sequences for the model, plus each token's first piece id and OOV flag.

        Most sentences fit one window and each of their tokens has 1 to ``window`` pieces:
        those are cut from one array of the whole chunk's pieces by a few numpy calls for all
        of them, because a dozen numpy calls per sentence cost more than a small model's
        forward pass of a short sentence. The others (a token without pieces or with more
        than a window of them, a sentence longer than a window) go through
        :meth:`_preprocess_sentence`, which gives the same result for any sentence.
        """
        window = min(max_length, self.max_positions) - 2  # room for [CLS] and [SEP]
        if window < 1:
            raise ValueError(f"maxSentenceLength must leave room for [CLS] and [SEP], got {max_length}")
        words = [[w.lower() for w in s] if lowercase else list(s) for s in sentences]
        encoded = self.wordpieces.encode_words(words)
        counts = [len(sentence) for sentence in words]
        piece_counts = [len(piece_ids) for piece_ids, _ in encoded]
        total_tokens, total_pieces = sum(counts), sum(piece_counts)
        first_ids = np.zeros(total_tokens, dtype=np.int64)
        oov = np.zeros(total_tokens, dtype=bool)
        token_offsets = np.cumsum([0] + counts)
        piece_offsets = np.cumsum([0] + piece_counts)

        flat_ids = np.fromiter(itertools.chain.from_iterable(ids for ids, _ in encoded), np.int64, total_pieces)
        # float: a piece of no word (None; only special tokens have one) becomes NaN.
        flat_words = np.array(list(itertools.chain.from_iterable(w for _, w in encoded)), dtype=np.float64)
        # Each piece's token as a number over the whole chunk, in piece order: one search finds
        # every token's span. Should the tokenizer ever give a piece of no word or pieces out
        # of word order, every sentence takes the one-by-one path.
        piece_tokens = flat_words + np.repeat(token_offsets[:-1], piece_counts)
        in_order = not np.isnan(piece_tokens).any() and bool(np.all(np.diff(piece_tokens) >= 0))
        slow = np.ones(len(words), dtype=bool)
        if in_order:
            numbers = np.arange(total_tokens)
            starts, stops = token_piece_spans(piece_tokens, total_tokens)
            lengths = stops - starts
            slow = np.asarray(piece_counts) > window
            slow[np.repeat(np.arange(len(words)), counts)[(lengths < 1) | (lengths > window)]] = True
            if total_pieces:
                first_ids = flat_ids.take(starts, mode="clip")  # a piece-less token's is replaced below
            oov = self._all_unknown(flat_ids, starts, stops)
            token_pieces = np.repeat(piece_offsets[:-1], counts)
            local_starts, local_stops = starts - token_pieces, stops - token_pieces
        sequences: list[Sequence] = []
        for number, is_slow in enumerate(slow.tolist()):
            count = counts[number]
            if count == 0:
                continue
            first, stop = int(token_offsets[number]), int(token_offsets[number + 1])
            if is_slow:
                planned, sentence_first_ids, sentence_oov = self._preprocess_sentence(encoded[number], count, first, window)
                sequences.extend(planned)
                first_ids[first:stop] = sentence_first_ids
                oov[first:stop] = sentence_oov
            else:
                piece_start = int(piece_offsets[number])
                sequences.append(Sequence(
                    flat_ids[piece_start : piece_start + piece_counts[number]], numbers[first:stop],
                    local_starts[first:stop], local_stops[first:stop],
                ))
        return sequences, first_ids, oov

    def _preprocess_sentence(
        self, encoding: tuple[list[int], list[int | None]], count: int, first_token: int, window: int
    ) -> tuple[list[Sequence], np.ndarray, np.ndarray]:
        """One sentence's sequences (numbered from ``first_token``), and its tokens' first
        piece ids and OOV flags, from its pieces and their word ids: any sentence."""
        piece_ids, word_ids = encoding
        ids = np.asarray(piece_ids, dtype=np.int64)
        starts, stops = token_piece_spans(word_ids, count)
        ids, starts, stops = self._normalise_pieces(ids, starts, stops, window)
        return plan_windows(ids, starts, stops, first_token, window), ids[starts], self._all_unknown(ids, starts, stops)

    def _all_unknown(self, ids: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Whether every piece of each token (``ids[start:stop]``) is [UNK]: its OOV flag.
        One cumulative sum for all tokens: a numpy call per token was much slower."""
        unk_before = np.concatenate([[0], np.cumsum(ids == self.unk_id)])
        return unk_before[stops] - unk_before[starts] == stops - starts

    def _normalise_pieces(
        self, ids: np.ndarray, starts: np.ndarray, stops: np.ndarray, window: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Give piece-less tokens one [UNK] and cap any token at ``window`` pieces, so every
        token has pieces and fits in a window. Returns contiguous ids and spans."""
        lengths = stops - starts
        if np.all(lengths >= 1) and np.all(lengths <= window):
            return ids, starts, stops
        pieces = []
        for a, b in zip(starts, stops):
            pieces.append(ids[a : min(b, a + window)] if b > a else np.array([self.unk_id], dtype=np.int64))
        new_lengths = np.array([len(p) for p in pieces])
        new_stops = np.cumsum(new_lengths)
        return np.concatenate(pieces), new_stops - new_lengths, new_stops

    # -- forward -----------------------------------------------------------------------------
    def forward(self, batch: SequenceType[np.ndarray], read: Readout, length: int | None = None) -> np.ndarray:
        """The last hidden state at ``read``'s positions (or the pooler output of its rows),
        float32 ``[len(read.rows), hidden]``, for one batch of wordpiece id arrays, each
        wrapped in [CLS] ... [SEP] and padded to ``length`` positions (default: the longest)."""
        input_ids, mask = self.padded(batch, length)
        return self.runtime.run(input_ids, mask, read.rows, read.cols, read.pooler)

    def padded(self, batch: SequenceType[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The model's inputs for a batch: ids wrapped in [CLS] ... [SEP], padded to ``length``
        positions (default: the longest), and the attention mask."""
        longest = length or max(len(ids) for ids in batch) + 2
        self.recent_shapes.add((len(batch), longest))
        input_ids = np.full((len(batch), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), longest), dtype=np.int64)
        for row, ids in enumerate(batch):
            length = len(ids)
            input_ids[row, 0] = self.cls_id
            input_ids[row, 1 : length + 1] = ids
            input_ids[row, length + 1] = self.sep_id
            mask[row, : length + 2] = 1
        return input_ids, mask

    @property
    def default_batch_size(self) -> int:
        """The batch size ``batchSize`` 0 means on this engine's device and precision."""
        return batch_policy(0, self.device, self.precision, self.engine).max_sequences

    def forward_sorted(
        self,
        pieces: SequenceType[np.ndarray],
        batch_size: int,
        readout: Callable[[list[int]], Readout],
        consume: Callable[[list[int], Any, Readout], None],
    ) -> float:
        """Run every piece-id array through the model, longest first, in batches cut by
        :func:`plan_batches`; ``consume(indices, vectors, read)`` gets each batch's input
        positions, the vectors at the positions ``readout(indices)`` names, and that readout.
        Where the engine may borrow the cores of idle task slots (:class:`CoreSlots`), the next
        batches run side by side, one per borrowed core; ``consume`` still gets them in order.
        A CUDA out-of-memory error halves the batch and retries; vectors that are not all
        finite raise :class:`~sparktext.errors.ModelOutputError` (a vector of NaN is no answer).
        Returns the padding ratio (padded positions / all positions computed)."""
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]), reverse=True)
        lengths = [len(pieces[i]) + 2 for i in order]  # + [CLS] and [SEP]
        padded = real = 0
        policy = batch_policy(batch_size, self.device, self.precision, self.engine)
        plan = plan_batches(lengths, policy, self.recent_shapes.shapes(), self.max_positions)

        def prepared(start: int, stop: int) -> tuple[list[int], Readout, int]:
            indices = order[start:stop]
            return indices, readout(indices), policy.padded_length(lengths[start], self.max_positions)

        with self.core_slots.own() if self.core_slots else contextlib.nullcontext():
            while plan:
                # Idle task slots lend their cores for one round: their batches run side by side.
                most = min(len(plan), self.side_by_side) - 1
                borrowed = self.core_slots.borrow(most) if self.core_slots and most > 0 else []
                wave, plan = plan[: 1 + len(borrowed)], plan[1 + len(borrowed) :]
                jobs = [prepared(start, stop) for start, stop in wave]
                try:
                    results = self._run_side_by_side(pieces, jobs)
                except RuntimeError as error:  # torch's OutOfMemoryError is one; others re-raise
                    # Only a GPU runs out of memory, and a GPU borrows no slots: one batch to halve.
                    (start, stop) = wave[0]
                    if len(wave) > 1 or not _is_out_of_memory(error) or stop - start == 1:
                        raise
                    policy = dataclasses.replace(policy, max_sequences=max(1, (stop - start) // 2))
                    logger.warning("CUDA out of memory with batch size %d; retrying with %d", stop - start, policy.max_sequences)
                    _free_cuda_cache()
                    replanned = plan_batches(lengths[start:], policy, self.recent_shapes.shapes(), self.max_positions)
                    plan = [(start + a, start + b) for a, b in replanned]
                    continue
                finally:
                    CoreSlots.give_back(borrowed)
                for (start, stop), (indices, read, length), vectors in zip(wave, jobs, results):
                    if not np.isfinite(vectors).all():
                        raise ModelOutputError(
                            f"{self.model_path} computed NaN or infinite vectors ({self.engine}, {self.precision}, "
                            f"{self.device}): its weights hold non-finite numbers, or {self.precision} overflowed "
                            "(try precision 'fp32')"
                        )
                    consume(indices, vectors, read)
                    real += sum(lengths[start:stop])
                    padded += length * len(indices)
        return 1 - real / padded if padded else 0.0

    def _run_side_by_side(
        self, pieces: SequenceType[np.ndarray], jobs: list[tuple[list[int], Readout, int]]
    ) -> list[np.ndarray]:
        """The vectors of each ``(indices, readout, padded length)`` batch: one batch through
        :meth:`forward`, several at once on the runtime's streams."""
        if len(jobs) == 1:
            indices, read, length = jobs[0]
            return [self.forward([pieces[i] for i in indices], read, length)]
        return self.runtime.run_many([
            (*self.padded([pieces[i] for i in indices], length), read.rows, read.cols, read.pooler)
            for indices, read, length in jobs
        ])

    # -- postprocess -------------------------------------------------------------------------
    @staticmethod
    def readout(batch: list[Sequence], pooling: str) -> Readout:
        """The positions of a batch's model output that its tokens' vectors are pooled from."""
        rows = np.concatenate([np.full(len(s.token_index), r) for r, s in enumerate(batch)])
        tokens = np.concatenate([s.token_index for s in batch])
        starts = np.concatenate([s.piece_start for s in batch]) + 1  # +1: [CLS] comes first
        stops = np.concatenate([s.piece_stop for s in batch]) + 1
        if pooling == "first":
            return Readout(rows, starts, tokens)
        if pooling == "last":
            return Readout(rows, stops - 1, tokens)
        return Readout.runs(rows, starts, stops - starts, tokens)

    @staticmethod
    def postprocess(vectors: np.ndarray, read: Readout, out: np.ndarray) -> None:
        """Pool the vectors read at ``read``'s positions into one per token and write each
        into ``out`` at its index."""
        if read.lengths is not None:  # mean: sum each token's run of positions, divide
            starts = np.cumsum(read.lengths) - read.lengths
            vectors = np.add.reduceat(vectors, starts, axis=0) / read.lengths[:, None].astype(np.float32)
        out[read.tokens] = vectors

    # -- all three ---------------------------------------------------------------------------
    def embed(
        self,
        sentences: SequenceType[SequenceType[str]],
        *,
        batch_size: int = 0,
        max_length: int = 128,
        pooling: str = "first",
        lowercase: bool = False,
    ) -> TokenEmbeddings:
        """One vector per token of every sentence, in input order (tested against
        transformers' own BertModel in ``tests/test_inference.py``)."""
        if pooling not in POOLING_STRATEGIES:
            raise ValueError(f"poolingStrategy must be one of {list(POOLING_STRATEGIES)}, got {pooling!r}")
        sequences, piece_ids, is_oov = self.preprocess(sentences, max_length, lowercase)
        out = np.zeros((len(piece_ids), self.hidden_size), dtype=np.float32)

        def readout(indices: list[int]) -> Readout:
            return self.readout([sequences[i] for i in indices], pooling)

        def consume(indices: list[int], vectors, read: Readout) -> None:
            self.postprocess(vectors, read, out)

        ratio = self.forward_sorted([s.piece_ids for s in sequences], batch_size, readout, consume)
        return TokenEmbeddings(out, piece_ids, is_oov, ratio)

    def embed_sentences(
        self,
        texts: SequenceType[str],
        *,
        batch_size: int = 0,
        max_length: int = 128,
        pooling: str = "pooler",
        lowercase: bool = False,
    ) -> SentenceVectors:
        """One vector per text: BERT's pooler output ([CLS] through its dense+tanh layer, as
        Spark NLP's BertSentenceEmbeddings) or the mean of every position's hidden state
        ([CLS] and [SEP] included, as sentence-transformers pools). Texts longer than
        ``max_length`` wordpieces are cut there and flagged in ``truncated``."""
        if pooling not in SENTENCE_POOLING_STRATEGIES:
            raise ValueError(f"poolingStrategy must be one of {list(SENTENCE_POOLING_STRATEGIES)}, got {pooling!r}")
        if pooling == "pooler" and not self.has_trained_pooler:
            raise ValueError(
                f"{self.model_path}: the checkpoint has no pooler weights (transformers would make up random "
                "ones); use poolingStrategy 'mean'"
            )
        window = min(max_length, self.max_positions) - 2  # room for [CLS] and [SEP]
        if window < 1:
            raise ValueError(f"maxSentenceLength must leave room for [CLS] and [SEP], got {max_length}")
        texts = [t.lower() for t in texts] if lowercase else list(texts)
        encoded = self.wordpieces.encode_texts(texts)
        truncated = np.array([len(ids) > window for ids in encoded], dtype=bool)
        pieces = [np.asarray(ids[:window], dtype=np.int64) for ids in encoded]
        out = np.zeros((len(texts), self.hidden_size), dtype=np.float32)

        def readout(indices: list[int]) -> Readout:
            rows = np.arange(len(indices))
            if pooling == "pooler":  # [CLS] through the model's pooler
                return Readout(rows, np.zeros(len(indices), dtype=np.int64), np.asarray(indices), pooler=True)
            lengths = np.array([len(pieces[i]) + 2 for i in indices])  # every position, [CLS] and [SEP] too
            return Readout.runs(rows, np.zeros(len(indices), dtype=np.int64), lengths, np.asarray(indices))

        def consume(indices: list[int], vectors, read: Readout) -> None:
            self.postprocess(vectors, read, out)

        ratio = self.forward_sorted(pieces, batch_size, readout, consume)
        return SentenceVectors(out, truncated, ratio)


def _is_out_of_memory(error: BaseException) -> bool:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    return "out of memory" in str(error).lower()


def _free_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _folder_state(model_path: str) -> tuple:
    """Names, sizes and modification times of the folder's files: a folder replaced at the
    same path is another model, and gets an engine of its own."""
    try:
        names = sorted(os.listdir(model_path))
    except OSError:
        return ()
    state = []
    for name in names:
        try:
            status = os.stat(os.path.join(model_path, name))
        except OSError:
            continue
        state.append((name, status.st_size, status.st_mtime_ns))
    return tuple(state)


EngineKey = tuple  # (model_path, options, folder state)
_ENGINES: dict[EngineKey, BertEngine] = {}
_LOCK = threading.Lock()
_LOADS: collections.Counter[EngineKey] = collections.Counter()


def get_engine(model_path: str, options: EngineOptions | None = None) -> BertEngine:
    """The engine for this model and these options: loaded once per process, then reused by
    every batch, task and job that this Python worker runs (while the model folder's files
    stay the same)."""
    options = options or EngineOptions()
    key = (model_path, options, _folder_state(model_path))
    loaded = _ENGINES.get(key)
    if loaded is not None:
        return loaded
    with _LOCK:
        loaded = _ENGINES.get(key)
        if loaded is None:
            loaded = BertEngine(model_path, options)
            for old in [k for k in _ENGINES if k[:2] == key[:2]]:  # the folder's previous contents
                del _ENGINES[old]
            _ENGINES[key] = loaded
            _LOADS[key] += 1
    return loaded


def load_count(model_path: str | None = None, **option_values: str) -> int:
    """How many engines this process loaded, of ``model_path`` and the option values given
    (``device="auto"``, ...; all when none): the tests use it to prove that workers reuse
    their model."""
    return sum(
        n for (path, options, _), n in _LOADS.items()
        if (model_path is None or path == model_path)
        and all(getattr(options, name) == value for name, value in option_values.items())
    )


def clear_engines() -> None:
    """Forget every loaded engine (frees their memory once nothing else holds them)."""
    _ENGINES.clear()
