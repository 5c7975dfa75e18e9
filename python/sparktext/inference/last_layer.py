"""Computing the model's last layer only where a token vector is read.

A token takes its vector from one position of the last layer's output (its first or last
wordpiece), or a few (``mean``). [CLS], [SEP], padding and, with ``first`` or ``last``, a
word's other pieces are computed and thrown away: on EWT web text about 27% of the
positions MiniLM computes. Their keys and values still matter -- every kept position attends
to all of them -- so the last layer's attention runs over every position, and only its
feed-forward block (two thirds of a layer's arithmetic) is cut to the kept positions. Earlier
layers are untouched: every position there feeds the next layer. The kept positions' vectors
are the same arithmetic as the full layer's, row by row (tests/test_inference.py compares with
transformers' own model); measured on MiniLM fp32, one thread, half of EWT dev: 5.95 s
against 6.22 s (4%); a 12-layer model saves about half that share.

No library does this: transformers computes every position of every layer. It relies on
the layer layout that BERT and its relatives share in transformers (``encoder.layer[i]`` with
``attention`` and ``feed_forward_chunk``); :func:`attach` checks the result against the
model's own layer once at load time and leaves any other model as it is.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

import torch

logger = logging.getLogger(__name__)


class LastLayerAtPositions(torch.nn.Module):
    """Stands in for the model's last encoder layer. Inside :meth:`positions`, the
    feed-forward block runs only at the given (row, column) positions and every other
    position of the output is zero; outside, it is the original layer."""

    def __init__(self, layer: torch.nn.Module, returns_tuple: bool = False) -> None:
        super().__init__()
        self.layer = layer
        self.returns_tuple = returns_tuple
        # Per thread: one engine may serve several threads at once (a LightPipeline in a server).
        self._kept = threading.local()

    @contextlib.contextmanager
    def positions(self, rows: torch.Tensor, cols: torch.Tensor) -> Iterator[None]:
        """Compute only ``(rows[i], cols[i])`` in forward passes run inside this block."""
        self._kept.value = (rows, cols)
        try:
            yield
        finally:
            self._kept.value = None

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs):
        kept = getattr(self._kept, "value", None)
        if kept is None:
            return self.layer(hidden_states, *args, **kwargs)
        rows, cols = kept
        # Both the layer and its attention take (hidden_states, attention_mask, ...) in the
        # same order, in transformers 4 and 5; the attention returns a tuple, output first.
        attended = self.layer.attention(hidden_states, *args, **kwargs)[0]
        output = torch.zeros_like(attended)
        output[rows, cols] = self.layer.feed_forward_chunk(attended[rows, cols])
        return (output,) if self.returns_tuple else output


def attach(model: torch.nn.Module, cls_id: int, sep_id: int, pad_id: int) -> LastLayerAtPositions | None:
    """Put a :class:`LastLayerAtPositions` in place of ``model``'s last encoder layer, if the
    model has BERT's layer layout and a probe sentence gives the same vectors both ways.
    Returns it, or None (the model left as it was)."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        return None
    last = layers[-1]
    if not (hasattr(last, "attention") and hasattr(last, "feed_forward_chunk")) or getattr(last, "is_decoder", False):
        return None
    returned: list[bool] = []
    hook = last.register_forward_hook(lambda module, inputs, output: returned.append(isinstance(output, tuple)))
    wrapper = LastLayerAtPositions(last)
    layers[-1] = wrapper
    device = next(model.parameters()).device
    vocab = int(getattr(model.config, "vocab_size", 100))
    ids = torch.tensor([[cls_id, 7 % vocab, 11 % vocab, 13 % vocab, sep_id], [cls_id, 17 % vocab, sep_id, pad_id, pad_id]])
    mask = (torch.arange(5)[None, :] < torch.tensor([[5], [3]])).long()
    rows, cols = torch.tensor([0, 0, 1]), torch.tensor([1, 3, 1])
    try:
        with torch.inference_mode():
            full = model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            wrapper.returns_tuple = returned[0]
            with wrapper.positions(rows.to(device), cols.to(device)):
                partial = model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        expected, got = full[rows, cols].float(), partial[rows, cols].float()
        same = bool(torch.allclose(got, expected, rtol=1e-2, atol=1e-2 * float(expected.abs().max())))
    except (RuntimeError, TypeError, ValueError, IndexError, AttributeError) as error:
        logger.info("last layer computed in full: %s (%s)", type(model).__name__, error)
        same = False
    finally:
        hook.remove()
    if not same:
        layers[-1] = last
        return None
    return wrapper
