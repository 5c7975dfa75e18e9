"""The exceptions sparktext raises, so callers can catch ours apart from everything else."""

from __future__ import annotations


class SparktextError(Exception):
    """Base class of every error sparktext raises on purpose."""


class SchemaError(SparktextError, ValueError):
    """A stage's input columns are missing or do not hold what the stage expects."""


class PatternError(SparktextError, ValueError):
    """A user-given regular expression does not compile."""


class JavaNotFoundError(SparktextError, RuntimeError):
    """No Java runtime was found to start Spark with."""


class ModelFileError(SparktextError, ValueError):
    """A model file is corrupt, truncated, of an unsupported architecture, or unsafe to load."""


class ModelNotFoundError(SparktextError, FileNotFoundError):
    """A named model was found nowhere sparktext looked; the message lists every place."""


class ModelOutputError(SparktextError, RuntimeError):
    """A model computed vectors that are not finite numbers (NaN or infinity)."""
