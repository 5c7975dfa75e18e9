"""Compile the Java-flavoured regular expressions that Spark NLP users write.

Spark NLP's params (``targetPattern``, ``infixPatterns``, ``customBounds``...) are Java
regular expressions: ``\\p{L}`` classes, ``\\z`` for the very end, possessive quantifiers.
Python's ``re`` knows none of these; the ``regex`` package (the engine behind Hugging Face's
tokenizers' Python fallbacks) knows the first and the last, so we use it and translate only
``\\z``, which ``regex`` spells ``\\Z``.
"""

from __future__ import annotations

import functools

import regex

from sparktext.errors import PatternError


def translate_java_pattern(pattern: str) -> str:
    """Rewrite the Java-only escapes of ``pattern`` for the ``regex`` package.

    Examples
    --------
    >>> translate_java_pattern(r"([a-z]*)\\z")
    '([a-z]*)\\\\Z'
    >>> translate_java_pattern(r"a\\\\z")  # an escaped backslash followed by a plain z
    'a\\\\\\\\z'
    """
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            out.append("\\Z" if escaped == "z" else char + escaped)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str, ignore_case: bool = False, what: str = "pattern") -> regex.Pattern:
    """Compile a Java-style pattern, or raise :class:`PatternError` naming ``what`` it was."""
    flags = regex.V0 | (regex.IGNORECASE if ignore_case else 0)
    try:
        return regex.compile(translate_java_pattern(pattern), flags)
    except regex.error as error:
        raise PatternError(f"{what} {pattern!r} is not a valid regular expression: {error}") from error
