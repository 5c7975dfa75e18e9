"""Named models: where their files come from (for now, packages that ship a model)."""

from sparktext.pretrained.packages import PACKAGED_MODELS, packaged_model_folder

__all__ = ["PACKAGED_MODELS", "packaged_model_folder"]
