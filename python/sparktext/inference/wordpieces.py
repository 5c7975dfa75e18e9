"""The checkpoint's wordpiece tokenizer, as transformers builds it, run by ``tokenizers`` alone.

Which tokenizer a checkpoint folder makes -- the class, its normaliser settings from
``tokenizer_config.json``, special tokens from the class's defaults, a ``vocab.txt`` turned into
a fast tokenizer -- is transformers' ``AutoTokenizer``'s decision, and parity with transformers
means keeping it. But transformers' tokenizer classes import PyTorch wherever it is installed
(``AutoTokenizer`` -> ``configuration_utils`` -> ``modeling_rope_utils``), and a worker that runs
the model with OpenVINO or ONNX Runtime needs nothing else of PyTorch: importing it cost each
such worker seconds and a third of its memory (docs/performance.md, "A model worker without
PyTorch").

So the tokenizer ``AutoTokenizer`` builds is saved once per machine -- its Rust backend (the
``tokenizers.Tokenizer`` that does all the encoding; transformers' ``__call__`` hands our
pre-split words straight to its ``encode_batch``) serialised, with the special-token ids, in
one JSON file -- under a key of the tokenizer files and both libraries' versions, and every later load
reads it with ``tokenizers`` alone. Before it is saved, both encode a probe of hard text (cased,
accented, CJK, emoji, control characters, special-token strings): if a future transformers did
work of its own around the backend, they would differ, nothing is saved, and transformers'
tokenizer is used as it is.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
import os
import sys
from typing import Any, Sequence

import tokenizers

from sparktext.inference.export import ExportError, writable_cache_root
from sparktext.pretrained.checkpoint import derived_key, read_derived, write_derived

logger = logging.getLogger(__name__)

#: Part of the cache key: bump it when what is saved changes.
CACHE_FORMAT = "1"
#: The files ``AutoTokenizer`` reads from a BERT-family folder (checkpoint.py admits only
#: WordPiece model types): the cache key hashes these, present or not.
TOKENIZER_INPUTS = (
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
    "added_tokens.json",
)

#: Words both tokenizers must encode alike before the backend is saved.
PROBE_WORDS = (
    ["Hello", "WORLD", "Straße", "Café", "naïve", "ÉCOLE"],
    ["中文", "字", "日本語", "한국어", "😀", "👩\u200d💻", "🇫🇷"],
    ["\x00", "\u200b", "\t", "a\u0301", "\ufeffx", "x" * 120, "1,234.5", "--", "'s"],
    ["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "<s>", "##ing"],
)
PROBE_TEXTS = tuple(" ".join(words) for words in PROBE_WORDS) + ("[CLS] text [SEP] more [MASK]", "")
#: Mixed case, for asking a normaliser whether it lowercases.
CASE_PROBE = "Hello WORLD"


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    """The ids of the special tokens the engine writes itself."""

    cls: int
    sep: int
    pad: int
    unk: int


class Wordpieces:
    """Encodes pre-split words (with ``word_ids`` mapping each piece back to its word) or whole
    texts, never adding special tokens, truncating or padding: the engine does those.

    Parameters
    ----------
    backend : tokenizers.Tokenizer
        The Rust tokenizer that encodes.
    special : SpecialIds
        [CLS], [SEP], [PAD] and [UNK]'s ids.
    """

    def __init__(self, backend: Any, special: SpecialIds) -> None:
        backend.no_truncation()
        backend.no_padding()
        self.backend = backend
        self.special = special

    def encode_words(self, sentences: Sequence[Sequence[str]]) -> list[tuple[list[int], list[int | None]]]:
        """Each sentence's piece ids and, per piece, the index of its word."""
        encodings = self.backend.encode_batch(list(sentences), is_pretokenized=True, add_special_tokens=False)
        return [(encoding.ids, encoding.word_ids) for encoding in encodings]

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's piece ids."""
        return [e.ids for e in self.backend.encode_batch(list(texts), add_special_tokens=False)]

    @property
    def lowercases(self) -> bool:
        """Whether text is lowercased before it is cut into pieces (an uncased model)."""
        return _normalizer_lowercases(self.backend)


class TransformersWordpieces(Wordpieces):
    """transformers' tokenizer itself, where its backend alone would encode differently."""

    def __init__(self, tokenizer: Any, special: SpecialIds) -> None:
        self.tokenizer = tokenizer
        self.special = special

    def encode_words(self, sentences: Sequence[Sequence[str]]) -> list[tuple[list[int], list[int | None]]]:
        if not sentences:
            return []
        encoded = self.tokenizer(
            [list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False,
            return_attention_mask=False, return_token_type_ids=False,
        )
        return [(encoded["input_ids"][n], encoded.word_ids(n)) for n in range(len(sentences))]

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tokenizer(
            list(texts), add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False
        )["input_ids"]

    @property
    def lowercases(self) -> bool:
        return _normalizer_lowercases(self.tokenizer.backend_tokenizer)


def load_wordpieces(model_path: str, cache_root: str) -> Wordpieces:
    """``model_path``'s tokenizer: from this machine's cache when it has one, else built by
    transformers' ``AutoTokenizer`` and saved there."""
    key = derived_key(model_path, TOKENIZER_INPUTS, ("transformers", "tokenizers"), CACHE_FORMAT)
    try:
        path = os.path.join(writable_cache_root(cache_root), "tokenizer", f"{key}.json")
    except ExportError as error:  # no writable folder: build it every time, as transformers would
        logger.debug("no tokenizer cache: %s", error)
        path = None
    cached = read_derived(path) if path else None
    if cached is not None:
        backend = tokenizers.Tokenizer.from_str(cached["backend"])
        backend.encode_special_tokens = bool(cached["encode_special_tokens"])
        return Wordpieces(backend, SpecialIds(**cached["special_ids"]))

    tokenizer = _transformers_tokenizer(model_path)
    special = SpecialIds(
        cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id,
        pad=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0, unk=tokenizer.unk_token_id,
    )
    reference = TransformersWordpieces(tokenizer, special)
    serialized = tokenizer.backend_tokenizer.to_str()
    encode_special = bool(tokenizer.backend_tokenizer.encode_special_tokens)
    backend = tokenizers.Tokenizer.from_str(serialized)
    backend.encode_special_tokens = encode_special
    wordpieces = Wordpieces(backend, special)
    if not _encodes_alike(wordpieces, reference):
        logger.warning(
            "%s: the tokenizer's backend alone encodes differently from transformers %s; using transformers' "
            "tokenizer (its import costs each worker PyTorch's memory)", model_path,
            importlib.metadata.version("transformers"),
        )
        return reference
    if path:
        write_derived(path, {
            "backend": serialized, "special_ids": dataclasses.asdict(special), "encode_special_tokens": encode_special,
        })
    return wordpieces


def _transformers_tokenizer(model_path: str) -> Any:
    from transformers import AutoTokenizer

    from sparktext.inference.runtimes import quiet_transformers

    quiet_transformers()
    # trust_remote_code=False, explicitly: a checkpoint's own Python code never runs here;
    # local_files_only: an executor never reaches for the hub (the driver resolved the model).
    tokenizer = AutoTokenizer.from_pretrained(model_path, use_fast=True, trust_remote_code=False, local_files_only=True)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{model_path}: no fast tokenizer (tokenizer.json or vocab.txt) could be built")
    # Long sequences are cut into windows by the engine: transformers' "Token indices sequence
    # length is longer than the specified maximum ... will result in indexing errors" would be false.
    tokenizer.model_max_length = sys.maxsize
    return tokenizer


def _normalizer_lowercases(backend: Any) -> bool:
    # Asked of the normaliser transformers built, not read from the folder's files: which file
    # decides (tokenizer_config.json's do_lower_case, tokenizer.json's normaliser, or the class
    # default when neither says) is transformers' choice, and it has changed between versions.
    normalizer = backend.normalizer
    return normalizer is not None and normalizer.normalize_str(CASE_PROBE) == CASE_PROBE.lower()


def _encodes_alike(candidate: Wordpieces, reference: Wordpieces) -> bool:
    return (
        candidate.encode_words(PROBE_WORDS) == reference.encode_words(PROBE_WORDS)
        and candidate.encode_texts(PROBE_TEXTS) == reference.encode_texts(PROBE_TEXTS)
    )
