"""DocumentAssembler's ``cleanupMode``s: ordered regex replacements, in Java regex syntax so
that Spark SQL (on the executors) and Python (in LightPipeline) apply the same ones."""

from __future__ import annotations

# Java's \s, spelled out so that Spark SQL (Java regex) and Python agree on it.
_SPACE = r"[ \t\n\x0B\f\r]"
# Java String.trim(): every character up to U+0020 at either end.
_TRIM = r"^[\x00-\x20]+|[\x00-\x20]+(?![\s\S])"
# "Stringified" line breaks and tabs: the two characters backslash-n, backslash-t, ...
_LITERAL_BREAK = r"(?:\\r)?\\n|\\t"

#: cleanupMode -> ordered (pattern, replacement, trim first) steps, in Java regex syntax.
CLEANUP_MODES: dict[str, tuple[tuple[str, str], ...]] = {
    "disabled": (),
    # newlines and tabs (all of Java's \s) into spaces, one for one: offsets keep their places
    "inplace": ((_SPACE, " "),),
    "inplace_full": ((rf"{_SPACE}|{_LITERAL_BREAK}", " "),),
    # trim, then every run of whitespace to one space
    "shrink": ((_TRIM, ""), (rf"{_SPACE}+", " ")),
    "shrink_full": ((_TRIM, ""), (rf"(?:{_SPACE}|{_LITERAL_BREAK})+", " ")),
    # each line break (CRLF counts once) and each tab to one space
    "each": ((r"\r\n|[\n\r\t]", " "),),
    "each_full": ((rf"\r\n|[\n\r\t]|{_LITERAL_BREAK}", " "),),
    # trim, then delete stringified line breaks and tabs
    "delete_full": ((_TRIM, ""), (_LITERAL_BREAK, "")),
}
