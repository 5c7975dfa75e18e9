"""Wordpiece alignment and windowing: from tokens to the sequences the model sees.

Every token reaches the model with all of its wordpieces. A sentence longer than the model's
window is cut into overlapping windows at token boundaries, and each token takes its vector
from the window where it has the most context on both sides.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Sequence:
    """One model input: wordpiece ids (without [CLS]/[SEP]) and the tokens it embeds.

    ``token_index`` are global token numbers in the batch; ``piece_start``/``piece_stop``
    are each token's pieces, as positions in ``piece_ids`` (stop exclusive).
    """

    piece_ids: np.ndarray
    token_index: np.ndarray
    piece_start: np.ndarray
    piece_stop: np.ndarray


def token_piece_spans(word_ids: list[int | None] | np.ndarray, num_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """First and stop piece position of each token from a fast tokenizer's ``word_ids`` (a
    list, None for a piece of no word, or an array already in order).

    Tokens with no piece get ``start == stop``.

    Examples
    --------
    >>> token_piece_spans([0, 1, 1, 3], 4)
    (array([0, 1, 3, 3]), array([1, 3, 3, 4]))
    """
    if isinstance(word_ids, np.ndarray):
        words = word_ids
    else:
        words = np.array([-1 if w is None else w for w in word_ids], dtype=np.int64)
    tokens = np.arange(num_tokens)
    starts = np.searchsorted(words, tokens, side="left")
    stops = np.searchsorted(words, tokens, side="right")
    return starts, stops


def plan_windows(
    piece_ids: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    first_token: int,
    window: int,
) -> list[Sequence]:
    """Cut one sentence into sequences of at most ``window`` pieces.

    ``starts``/``stops`` must cover ``piece_ids`` contiguously, each token at least one piece
    and at most ``window`` pieces. A sentence that fits is one sequence; a longer one gets
    windows that start at token boundaries and advance by about half a window.

    Examples
    --------
    >>> ids = np.arange(10)
    >>> starts, stops = np.arange(10), np.arange(1, 11)
    >>> [w.token_index.tolist() for w in plan_windows(ids, starts, stops, 0, 4)]
    [[0, 1, 2], [3, 4], [5, 6], [7, 8, 9]]
    """
    total = len(piece_ids)
    tokens = np.arange(len(starts)) + first_token
    if total <= window:
        return [Sequence(piece_ids, tokens, starts, stops)]
    spans: list[tuple[int, int]] = []  # windows as [first piece, stop piece)
    begin = 0
    while True:
        end = min(begin + window, total)
        if end < total:
            # Move the end back to a token boundary so no token is cut.
            cut = int(np.searchsorted(starts, end, side="right")) - 1
            if starts[cut] > begin:
                end = int(starts[cut])
        spans.append((begin, end))
        if end >= total:
            break
        target = begin + max(1, (end - begin) // 2)
        next_token = int(np.searchsorted(starts, target, side="left"))
        next_begin = int(starts[min(next_token, len(starts) - 1)])
        begin = next_begin if next_begin > begin else end
    # Each token goes to the window where the smaller of its left and right context is largest.
    best_window = np.full(len(starts), -1)
    best_context = np.full(len(starts), -1)
    # Each window looks only at the tokens that start inside it (tokens are in piece order), so
    # the work is linear in the sentence's length, not windows x tokens.
    first_inside = np.searchsorted(starts, [w_begin for w_begin, _ in spans], side="left")
    stop_inside = np.searchsorted(starts, [w_end for _, w_end in spans], side="left")
    for number, (w_begin, w_end) in enumerate(spans):
        lo, hi = int(first_inside[number]), int(stop_inside[number])
        context = np.minimum(starts[lo:hi] - w_begin, w_end - stops[lo:hi])
        better = (stops[lo:hi] <= w_end) & (context > best_context[lo:hi])
        best_window[lo:hi][better] = number
        best_context[lo:hi][better] = context[better]
    sequences = []
    for number, (w_begin, w_end) in enumerate(spans):
        lo, hi = int(first_inside[number]), int(stop_inside[number])
        chosen = lo + np.nonzero(best_window[lo:hi] == number)[0]
        if len(chosen) == 0:
            continue
        sequences.append(
            Sequence(piece_ids[w_begin:w_end], tokens[chosen], starts[chosen] - w_begin, stops[chosen] - w_begin)
        )
    return sequences
