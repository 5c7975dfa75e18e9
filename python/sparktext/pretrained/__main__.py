"""``python -m sparktext.pretrained``: print the catalog of named models and the cache folder."""

from sparktext.pretrained import default_cache_folder, showPublicModels

print(showPublicModels())
print(f"\ncache folder: {default_cache_folder()}")
