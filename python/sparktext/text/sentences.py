"""Rule-based English sentence boundary detection on character spans.

Spark-free core behind :class:`sparktext.SentenceDetector`. It takes a text and returns
``(begin, end)`` spans, ``end`` inclusive, that slice the text exactly, with surrounding
whitespace left out.

The rules follow the ideas of the pragmatic segmenter (the one Spark NLP's detector and pysbd
port), written from scratch as a single left-to-right scan so that a long document costs one
pass of a compiled regular expression:

* a blank line always ends a sentence (paragraphs);
* ``.``, ``!``, ``?`` and ``…`` runs, with any closing quotes or brackets after them, end a
  sentence when whitespace and a plausible sentence start follow;
* a period does not end a sentence after a known abbreviation (``Dr.``, ``e.g.``), a single
  initial (``J. Smith``), or inside numbers, e-mail addresses and URLs (no whitespace follows);
* with ``detect_lists``, a line that starts with a bullet or an enumerator (``1.``, ``a)``)
  starts a new sentence, and a single line break before a capitalised line does too when the
  previous line has no closing punctuation (headings, signatures, list items).

Why not a library: pysbd (the pragmatic segmenter's Python port) scores lower on UD
English-EWT's gold sentences and is many times slower; blingfire is fast but scores lower
still. These rules score higher than both and run faster than pysbd by far (figures in
docs/performance.md, from ``benchmarks/bench_text_stages.py``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Sequence

from sparktext.text.regex_compat import compile_pattern

Span = tuple[int, int]

# Abbreviations after which a period almost never ends a sentence: titles before names and
# words that announce something to follow. Compared case-insensitively, without the period.
NON_TERMINAL_ABBREVIATIONS = frozenset(
    """
    mr mrs ms mx dr drs prof rev hon sr jr st mt ft gen col lt capt cpt sgt maj adm cmdr gov sen rep
    pres supt det insp messrs mme mlle
    e.g i.e cf vs viz approx appt dept est al ca ibid incl esp
    """.split()
)

# Abbreviations that stand before a number ("No. 5", "Jan. 12", "ext. 3") and only there: "Sun."
# or "no." before a capitalised word end a sentence like any other word.
NUMBER_ABBREVIATIONS = frozenset(
    """
    no nos vol vols pp p ch sec art fig figs ext tel ph fax apt rm
    jan feb mar apr jun jul aug sep sept oct nov dec
    mon tue tues wed thu thur thurs fri sat sun
    """.split()
)

# Abbreviations that often close a sentence ("... and so on etc. Then ..."): they end one
# only when the next word looks like a sentence start and is not itself part of a name.
TERMINAL_ABBREVIATIONS = frozenset(
    """
    etc inc ltd pvt co corp llc plc bros assn univ a.m p.m am pm u.s u.k u.n e.u
    """.split()
)

# Words that begin sentences far more often than they continue a name or an abbreviation:
# after "of X." or "in the U.S." one of these means a new sentence has started.
SENTENCE_STARTERS = frozenset(
    """
    a an the i it he she we they you this that these those there here so but and or if when
    then what why how who where my our your his her their its in on at as for after before
    however also please thanks thank yes no not
    """.split()
)
_NEXT_WORD = re.compile(r"[\w']+")
# Characters that may close a sentence after its final punctuation.
_CLOSERS = "\"'”’»)]}"
# Characters that may open a sentence before its first word.
_OPENERS = "\"'“‘«([{¿¡*-•–—"

_LIST_ITEM = r"(?:[-*•·‣◦▪–—]|\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)])[ \t]+"

# One scan finds every candidate boundary:
#   group "para": a blank line (two line breaks with only spaces between);
#   group "line": a single line break;
#   group "punct": terminal punctuation plus closers, followed by whitespace;
#   group "informal": an emoticon or a greeting/sign-off comma before a capitalised word.
_CANDIDATES = re.compile(
    # The lookahead names every character an alternative can start with, so the engine skips
    # straight to those: without it the scan is several times slower.
    r"(?=[\r\n.!?…:;=8,])(?:"
    r"(?P<para>(?:\r?\n|\r)(?:[ \t\f\v]*(?:\r?\n|\r))+\s*)"
    r"|(?P<line>(?:\r?\n|\r)[ \t]*)"
    # A run of terminal punctuation is tried from its first character only (the lookbehinds):
    # a failed try from inside the run could not succeed either, and retrying at every one of
    # its characters made a run of 40,000 periods quadratic.
    r"|(?P<punct>(?:\.(?: \.)+|(?<![.!?])[.!?]++|(?<!…)…++)[" + re.escape(_CLOSERS) + r"]*+)(?=\s)"
    # An emoticon, or the comma of an e-mail greeting or sign-off ("Regards,"), before a
    # capitalised word: informal text ends sentences with these instead of a period.
    r"|(?P<informal>(?:[:;=8]-?[)(\]\[DPpO3/]+|,)(?=[ \t]+[\"'(]*[A-Z])))"
)
_GREETING_BEFORE_COMMA = re.compile(
    r"(?:^|\W)(?:(?:(?:best|kind|kindest|warm|warmest)\s+)?(?:regards|thanks|cheers|sincerely|hi|hello|hey)"
    r"|dear\s+\w+)$",
    re.IGNORECASE,
)
_WORD_BEFORE = re.compile(r"([^\s\"'“‘(\[{]*)$")
_LIST_START = re.compile(_LIST_ITEM)


def _previous_word(text: str, end: int) -> str:
    """The run of non-space characters that ends at ``end`` (exclusive), openers stripped."""
    start = max(0, end - 40)
    match = _WORD_BEFORE.search(text, start, end)
    return match.group(1) if match else ""


def _next_char(text: str, position: int) -> str:
    """The first character at or after ``position`` that is not an opener or a space."""
    limit = min(len(text), position + 8)
    while position < limit and (text[position] in _OPENERS or text[position].isspace()):
        position += 1
    return text[position] if position < len(text) else ""


def _period_ends_sentence(text: str, punct_start: int, after: int, use_abbreviations: bool) -> bool:
    """Decide whether a lone period at ``punct_start`` ends the sentence.

    ``after`` is the index of the first character of the next word (past the whitespace).
    """
    word = _previous_word(text, punct_start)
    next_char = _next_char(text, after)
    if not next_char:
        return True
    if not use_abbreviations:
        return not next_char.islower()
    key = word.lower()
    if key in NON_TERMINAL_ABBREVIATIONS:
        return False
    if key in NUMBER_ABBREVIATIONS and next_char.isdigit():
        return False
    if key in TERMINAL_ABBREVIATIONS or _looks_like_initials(word):
        # "J. Smith", "U.S. Army", "Inc. (CPS)": a name goes on unless a word that starts
        # sentences follows ("... in the U.S. The next day").
        return _next_word_starts_sentence(text, after)
    if next_char.islower():
        # Informal text often starts sentences in lower case ("it broke. then we ..."); a
        # one-letter word before the period is more likely an abbreviation.
        return len(word) >= 2 and "." not in word
    return True


def _looks_like_initials(word: str) -> bool:
    """A capital initial ("J"), or letters joined by periods ("U.S", "e.g", "Ph.D")."""
    if len(word) == 1:
        return word.isalpha() and word.isupper()
    parts = word.split(".")
    return len(parts) > 1 and all(0 < len(p) <= 2 and p.isalpha() for p in parts)


def _next_word_starts_sentence(text: str, after: int) -> bool:
    next_word = _NEXT_WORD.match(text, after)
    if next_word is None:
        return False
    word = next_word.group()
    return word[0].isupper() and word.lower() in SENTENCE_STARTERS


def split_sentences(
    text: str,
    *,
    use_abbreviations: bool = True,
    detect_lists: bool = True,
) -> list[Span]:
    """Split ``text`` into sentence spans.

    Parameters
    ----------
    text : str
        The text to split. Any Unicode string, of any length.
    use_abbreviations : bool, default True
        Keep sentences together across known abbreviations and initials.
    detect_lists : bool, default True
        Start a new sentence at list items and at line breaks before capitalised lines.

    Returns
    -------
    list of (int, int)
        ``(begin, end)`` of each sentence, ``end`` inclusive; ``text[begin:end + 1]`` is the
        sentence with no surrounding whitespace. Whitespace-only text gives no sentence.

    Examples
    --------
    >>> text = "Dr. Smith arrived at 5 p.m. on Monday. He was late! Was he?"
    >>> [text[b:e + 1] for b, e in split_sentences(text)]
    ['Dr. Smith arrived at 5 p.m. on Monday.', 'He was late!', 'Was he?']
    """
    breaks: list[int] = []  # indices where a new sentence may start (after whitespace)
    for match in _CANDIDATES.finditer(text):
        kind = match.lastgroup
        end = match.end()
        if kind == "para":
            breaks.append(end)
            continue
        if kind == "line":
            if detect_lists and _line_break_ends_sentence(text, match.start(), end):
                breaks.append(end)
            continue
        after = end
        while after < len(text) and text[after].isspace():
            after += 1
        if kind == "informal":
            if _informal_break(text, match.start(), match.group("informal")):
                breaks.append(after)
            continue
        punct = match.group("punct")
        if after >= len(text):
            continue
        core = punct.rstrip(_CLOSERS)
        if core == ".":
            if not _period_ends_sentence(text, match.start(), after, use_abbreviations):
                continue
        elif " " in core:
            # A spaced ellipsis (". . .") marks words left out of a quotation.
            continue
        elif core.startswith(".") or core.startswith("…"):
            # An ellipsis ends a sentence only before a capitalised word.
            if not _next_char(text, after).isupper():
                continue
        breaks.append(after)
    return _spans_between(text, breaks)


def _informal_break(text: str, start: int, matched: str) -> bool:
    """An emoticon standing alone, or a comma closing a greeting or sign-off."""
    if matched == ",":
        return _GREETING_BEFORE_COMMA.search(text, max(0, start - 30), start) is not None
    return start == 0 or text[start - 1].isspace()


def _line_break_ends_sentence(text: str, break_start: int, next_start: int) -> bool:
    """A single line break ends a sentence before a list item or a capitalised line that
    follows a line with no continuation mark (heading, signature, address line)."""
    if next_start >= len(text):
        return False
    if _LIST_START.match(text, next_start):
        return True
    while break_start > 0 and text[break_start - 1] in " \t":
        break_start -= 1
    previous = text[break_start - 1] if break_start > 0 else ""
    if not previous or previous in ",;:-–—&(" or previous.islower():
        return False
    following = _next_char(text, next_start)
    return following.isupper() or following.isdigit()


def _spans_between(text: str, breaks: Iterable[int]) -> list[Span]:
    """Turn break positions into whitespace-trimmed, non-empty spans."""
    spans: list[Span] = []
    start = 0
    for stop in list(breaks) + [len(text)]:
        piece_begin, piece_end = _trim(text, start, stop)
        if piece_begin < piece_end:
            spans.append((piece_begin, piece_end - 1))
        start = stop
    return spans


def _trim(text: str, start: int, stop: int) -> tuple[int, int]:
    while start < stop and text[start].isspace():
        start += 1
    while stop > start and text[stop - 1].isspace():
        stop -= 1
    return start, stop


def apply_custom_bounds(
    text: str,
    spans: Sequence[Span],
    bounds: Sequence[str],
    strategy: str,
    bounds_only: bool,
) -> list[Span]:
    """Split spans further at user-given boundary patterns (``customBounds``).

    Parameters
    ----------
    text : str
        The text the spans index.
    spans : sequence of (int, int)
        Sentences found so far (ignored when ``bounds_only``: the whole text is one piece).
    bounds : sequence of str
        Regular expressions; each match is a boundary.
    strategy : {"none", "prepend", "append"}
        Where the matched boundary text goes: dropped (``none``), to the start of the next
        sentence (``prepend``) or to the end of the previous one (``append``).
    bounds_only : bool
        Use only the custom bounds, not the rules.

    Examples
    --------
    >>> text = "one;two;three"
    >>> [text[b:e + 1] for b, e in apply_custom_bounds(text, [(0, 12)], [";"], "append", False)]
    ['one;', 'two;', 'three']
    """
    if not bounds:
        return list(spans) if not bounds_only else _spans_between(text, [])
    pattern = compile_pattern("|".join(f"(?:{b})" for b in bounds), what="customBounds")
    pieces = [(0, len(text))] if bounds_only else [(b, e + 1) for b, e in spans]
    result: list[Span] = []
    for piece_start, piece_stop in pieces:
        cursor = piece_start
        for match in pattern.finditer(text, piece_start, piece_stop):
            if match.end() == match.start():
                continue
            if strategy == "append":
                cut_end, next_start = match.end(), match.end()
            elif strategy == "prepend":
                cut_end, next_start = match.start(), match.start()
            else:
                cut_end, next_start = match.start(), match.end()
            result.extend(_spans_between_range(text, cursor, cut_end))
            cursor = next_start
        result.extend(_spans_between_range(text, cursor, piece_stop))
    return result


def _spans_between_range(text: str, start: int, stop: int) -> list[Span]:
    begin, end = _trim(text, start, stop)
    return [(begin, end - 1)] if begin < end else []


def limit_length(text: str, spans: Sequence[Span], split_length: int) -> list[Span]:
    """Cut sentences longer than ``split_length`` characters, at whitespace where possible.

    Examples
    --------
    >>> text = "aaaa bbbb cccc"
    >>> [text[b:e + 1] for b, e in limit_length(text, [(0, 13)], 9)]
    ['aaaa bbbb', 'cccc']
    """
    result: list[Span] = []
    for begin, end in spans:
        while end - begin + 1 > split_length:
            limit = begin + split_length  # exclusive
            cut = text.rfind(" ", begin + 1, limit + 1)
            if cut <= begin:
                cut = limit
            piece = _spans_between_range(text, begin, cut)
            result.extend(piece)
            begin, stop = _trim(text, cut, end + 1)
            end = stop - 1
            if begin > end:
                break
        if begin <= end:
            result.append((begin, end))
    return result


CUSTOM_BOUNDS_STRATEGIES = ("none", "prepend", "append")


@dataclasses.dataclass(frozen=True)
class SentenceRules:
    """Every setting of the SentenceDetector, named after its Spark NLP param."""

    use_abbreviations: bool = True
    detect_lists: bool = True
    custom_bounds: tuple[str, ...] = ()
    use_custom_bounds_only: bool = False
    custom_bounds_strategy: str = "none"
    split_length: int | None = None
    min_length: int = 0
    max_length: int = 99999

    def __post_init__(self) -> None:
        if self.custom_bounds_strategy not in CUSTOM_BOUNDS_STRATEGIES:
            raise ValueError(
                f"customBoundsStrategy must be one of {list(CUSTOM_BOUNDS_STRATEGIES)}, "
                f"got {self.custom_bounds_strategy!r}"
            )
        if self.split_length is not None and self.split_length < 1:
            raise ValueError(f"splitLength must be >= 1, got {self.split_length}")
        if self.max_length < 1:
            raise ValueError(f"maxLength must be >= 1 (longer sentences are cut to it), got {self.max_length}")
        for bound in self.custom_bounds:
            compile_pattern(bound, what="customBounds pattern")


def sentence_spans(text: str, rules: SentenceRules = SentenceRules()) -> list[Span]:
    """Sentence spans of ``text`` under every rule of :class:`SentenceRules`.

    Examples
    --------
    >>> text = "First one. Second one here."
    >>> [text[b:e + 1] for b, e in sentence_spans(text, SentenceRules(min_length=11))]
    ['Second one here.']
    """
    return sentence_spans_counted(text, rules)[0]


def sentence_spans_counted(text: str, rules: SentenceRules = SentenceRules()) -> tuple[list[Span], int]:
    """Sentence spans of ``text`` and how many sentences ``min_length`` dropped.

    A sentence longer than ``max_length`` is not dropped (Spark NLP drops it, losing its text
    without a word): it is cut into pieces of at most ``max_length`` characters, at spaces
    where there are any, as ``split_length`` does.

    Examples
    --------
    >>> text = "Short. " + "word " * 5
    >>> spans, dropped = sentence_spans_counted(text, SentenceRules(min_length=7, max_length=10))
    >>> [text[b:e + 1] for b, e in spans], dropped
    (['word word', 'word word', 'word'], 1)
    """
    if rules.use_custom_bounds_only and rules.custom_bounds:
        spans: list[Span] = []
    else:
        spans = split_sentences(text, use_abbreviations=rules.use_abbreviations, detect_lists=rules.detect_lists)
    if rules.custom_bounds:
        spans = apply_custom_bounds(
            text, spans, rules.custom_bounds, rules.custom_bounds_strategy, rules.use_custom_bounds_only
        )
    if rules.split_length is not None:
        spans = limit_length(text, spans, rules.split_length)
    kept: list[Span] = []
    dropped = 0
    for begin, end in spans:
        length = end - begin + 1
        if length > rules.max_length:
            kept.extend(limit_length(text, [(begin, end)], rules.max_length))
        elif length < rules.min_length:
            dropped += 1
        else:
            kept.append((begin, end))
    return kept, dropped
