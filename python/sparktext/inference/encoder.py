"""A lean forward pass for encoders laid out as BERT, computing only what a vector is read from.

transformers' ``BertModel.forward`` computes every position of every layer and returns the
whole last hidden state; a token vector is then read from one position of it (the token's
first or last wordpiece) or a few (``mean``). :class:`BertLayoutEncoder` runs the same
modules' weights through the same kernels (``torch.nn.functional.linear``, layer norm,
``scaled_dot_product_attention``, the model's own activation), and differs in three ways:

* **the last layer only where read**: every position's keys and values still feed the
  attention (each read position attends to all of them), but the attention's output
  projection and the feed-forward block -- two thirds of a layer's arithmetic -- run only at
  the read positions. [CLS], [SEP] and, with ``first`` or ``last``, a word's other pieces:
  about 27% of MiniLM's positions on EWT web text are never computed there;
* **no padding in the linear layers**: the real positions of a batch are packed into one
  matrix for every projection and feed-forward product, and spread out to the padded layout
  only for the attention kernel;
* **query, key and value in one matrix product** (their weights concatenated; the model's
  three weights become views of that one matrix, so no memory is added), and no per-layer
  Python plumbing (transformers' feed-forward chunking inspects a signature per layer call).

Each position's arithmetic is the row-for-row same as the model's, and the vectors equal
transformers' (``tests/test_inference.py`` compares with a separately loaded model; on
MiniLM fp32 they come out bit-identical). Measured on MiniLM fp32, one thread, half of EWT dev
in ~230-sentence chunks, 6 interleaved rounds: 5.71 s against 6.02 s for transformers' forward
with only the last feed-forward block cut to the read positions (1.04x, 1.02-1.09x per round);
bert-base-sized: 1.03x.

No library does this for BERT on CPU: transformers has no partial last layer, and torch's
fused encoder kernels are private API. :func:`build` accepts a model only if every layer has
BERT's module layout (BERT, RoBERTa, ELECTRA and their copies in transformers) and a probe
batch gives the model's own vectors; anything else (DistilBERT, decoders, relative position
attention) is left to the model's own forward, computed in full.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _Layer:
    """One encoder layer's weights, in the order the forward pass uses them."""

    qkv_weight: torch.Tensor  # [3 * hidden, hidden]: query, key, value stacked
    qkv_bias: torch.Tensor
    heads: int
    head_size: int
    scaling: float
    attention_output: torch.nn.Linear
    attention_norm: torch.nn.LayerNorm
    intermediate: torch.nn.Linear
    activation: Any
    output: torch.nn.Linear
    output_norm: torch.nn.LayerNorm


class BertLayoutEncoder:
    """The vectors of a BERT-layout model's last layer at given positions.

    Build through :func:`build`, which checks the model first.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A BERT-family base model (``embeddings``, ``encoder.layer``), in eval mode.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.embeddings = model.embeddings
        # ELECTRA's small models embed in a narrower width and project up to the hidden size.
        self.embeddings_project = getattr(model, "embeddings_project", None)
        self.layers = [_fuse(layer) for layer in model.encoder.layer]

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        """The last hidden state at positions ``(rows[i], cols[i])``: ``[len(rows), hidden]``.

        ``input_ids`` and ``attention_mask`` are ``[batch, length]``, padding marked 0 in the
        mask; the positions read must be real (mask 1). Run under ``torch.inference_mode()``.
        """
        batch, length = input_ids.shape
        hidden = self.embeddings(input_ids=input_ids)
        if self.embeddings_project is not None:
            hidden = self.embeddings_project(hidden)
        width = hidden.shape[-1]
        hidden = hidden.reshape(batch * length, width)
        real_mask = attention_mask.reshape(-1).bool()
        read_padded = rows * length + cols  # the read positions in the padded [batch * length] layout
        if bool(real_mask.all()):
            real = None
            read_packed = read_padded
        else:
            real = real_mask.nonzero().squeeze(1)
            hidden = hidden.index_select(0, real)
            read_packed = (torch.cumsum(real_mask, 0) - 1)[read_padded]
        keep = attention_mask.bool()[:, None, None, :]  # [batch, 1, 1, keys]: True where a key is real
        last = len(self.layers) - 1
        for number, layer in enumerate(self.layers):
            qkv = F.linear(hidden, layer.qkv_weight, layer.qkv_bias)
            if real is not None:
                # Zeros, not empty memory, at the padding: masked keys get weight 0, and 0 * NaN is NaN.
                padded = qkv.new_zeros((batch * length, qkv.shape[-1]))
                qkv = padded.index_copy_(0, real, qkv)
            query, key, value = qkv.view(batch, length, 3, layer.heads, layer.head_size).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(query, key, value, attn_mask=keep, scale=layer.scaling)
            attended = attended.transpose(1, 2).reshape(batch * length, width)
            if number == last:
                attended = attended.index_select(0, read_padded)
                hidden = hidden.index_select(0, read_packed)
            elif real is not None:
                attended = attended.index_select(0, real)
            hidden = _add_and_norm(layer.attention_output(attended), hidden, layer.attention_norm)
            feed_forward = layer.output(layer.activation(layer.intermediate(hidden)))
            hidden = _add_and_norm(feed_forward, hidden, layer.output_norm)
        return hidden


def _add_and_norm(update: torch.Tensor, residual: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(update + residual, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _fuse(layer: torch.nn.Module) -> _Layer:
    """Stack a layer's query, key and value weights into one matrix; the model's own three
    weights become views of it, so the model computes as before and no memory is added."""
    attention = layer.attention.self
    projections = (attention.query, attention.key, attention.value)
    weight = torch.cat([p.weight.detach() for p in projections])
    bias = torch.cat([p.bias.detach() for p in projections])
    width = attention.query.weight.shape[0]
    for index, projection in enumerate(projections):
        projection.weight.data = weight[index * width : (index + 1) * width]
        projection.bias.data = bias[index * width : (index + 1) * width]
    return _Layer(
        qkv_weight=weight,
        qkv_bias=bias,
        heads=int(attention.num_attention_heads),
        head_size=int(attention.attention_head_size),
        scaling=float(attention.scaling),
        attention_output=layer.attention.output.dense,
        attention_norm=layer.attention.output.LayerNorm,
        intermediate=layer.intermediate.dense,
        activation=layer.intermediate.intermediate_act_fn,
        output=layer.output.dense,
        output_norm=layer.output.LayerNorm,
    )


def _has_bert_layout(model: torch.nn.Module) -> bool:
    """Embeddings and a stack of encoder layers, bidirectional, absolute positions. The
    modules inside each layer are read by :func:`_fuse`, which fails (and :func:`build`
    falls back) where one is missing."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if getattr(model, "embeddings", None) is None or not isinstance(layers, torch.nn.ModuleList) or not layers:
        return False
    config = model.config
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return False
    return getattr(config, "position_embedding_type", "absolute") == "absolute"


def build(model: torch.nn.Module, cls_id: int, sep_id: int, pad_id: int) -> BertLayoutEncoder | None:
    """A :class:`BertLayoutEncoder` for ``model``, or None (log line at INFO) where the model is
    not laid out as BERT or a probe batch -- one row padded, pieces read from both rows -- does
    not give the model's own last hidden state within float tolerance of its dtype."""
    if not _has_bert_layout(model):
        logger.info("%s is not laid out as BERT: computed by its own forward pass, in full", type(model).__name__)
        return None
    device = next(model.parameters()).device
    vocab = int(getattr(model.config, "vocab_size", 100))
    ids = torch.tensor([[cls_id, 7 % vocab, 11 % vocab, 13 % vocab, sep_id], [cls_id, 17 % vocab, sep_id, pad_id, pad_id]])
    mask = (torch.arange(5)[None, :] < torch.tensor([[5], [3]])).long()
    rows, cols = torch.tensor([0, 0, 0, 1, 1]), torch.tensor([1, 3, 4, 0, 1])
    ids, mask, rows, cols = (t.to(device) for t in (ids, mask, rows, cols))
    try:
        encoder = BertLayoutEncoder(model)
        with torch.inference_mode():
            expected = model(input_ids=ids, attention_mask=mask).last_hidden_state[rows, cols].float()
            got = encoder(ids, mask, rows, cols).float()
    except (RuntimeError, TypeError, ValueError, IndexError, AttributeError) as error:
        logger.info("%s computed by its own forward pass, in full: %s", type(model).__name__, error)
        return None
    tolerance = 1e-4 if next(model.parameters()).dtype == torch.float32 else 2e-2
    if got.shape != expected.shape or not torch.allclose(got, expected, rtol=0, atol=tolerance * float(expected.abs().max())):
        logger.info("%s computed by its own forward pass, in full: the probe batch differs", type(model).__name__)
        return None
    return encoder
