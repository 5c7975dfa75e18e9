"""Named models: the catalog, where their files are found, and checks on checkpoint folders.

>>> from sparktext.pretrained import find_model
>>> find_model("bert_large_cased", "en").dimension
1024
"""

from sparktext.pretrained.catalog import CATALOG, ModelEntry, find_model, list_models, showPublicModels
from sparktext.pretrained.checkpoint import convert_to_safetensors, read_checkpoint_config
from sparktext.pretrained.resolve import ResolvedModel, default_cache_folder, package_folder, resolve_pretrained

__all__ = [
    "CATALOG",
    "ModelEntry",
    "ResolvedModel",
    "convert_to_safetensors",
    "default_cache_folder",
    "find_model",
    "list_models",
    "package_folder",
    "read_checkpoint_config",
    "resolve_pretrained",
    "showPublicModels",
]
