"""``python -m sparktext.pretrained``: the command line's ``sparktext models`` (the catalog of
named models and the cache folder)."""

import sys

from sparktext.cli import main

sys.exit(main(["models"]))
