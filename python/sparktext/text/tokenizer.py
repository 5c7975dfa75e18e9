"""Rule-based tokenization on character spans, with Spark NLP's Tokenizer semantics.

Spark-free core behind :class:`sparktext.Tokenizer`. The algorithm is Spark NLP's:

1. *Candidates* are the matches of ``target_pattern`` (default ``\\S+``). Text matched by an
   *exception* pattern is protected: the candidates it touches become one token, untouched.
2. Each candidate is matched against the *rules*, one per infix pattern, each built as
   ``prefix + infix + suffix``; the first rule that matches wins and every non-empty group
   becomes a token. No rule matching leaves the candidate whole.
3. With ``split_chars`` or ``split_pattern``, each group is split further at those
   characters, which are dropped.
4. Tokens shorter than ``min_length`` are dropped (and counted); tokens longer than
   ``max_length`` are cut into pieces of that many characters (Spark NLP drops them).

By default, prefix and suffix are runs of the *context characters*
(``. , ; : ! ? * - ( ) " '``), so ``"(Hello)."`` gives ``(``, ``Hello``, ``).`` and ``I'd``
or ``didn't`` stay whole, as in Spark NLP. Offsets are exact: each token's span slices the
text to the token, whatever the groups of a user's pattern look like.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import re
from typing import Iterable

from sparktext.text.regex_compat import compile_pattern

Span = tuple[int, int]

DEFAULT_CONTEXT_CHARS: tuple[str, ...] = (".", ",", ";", ":", "!", "?", "*", "-", "(", ")", '"', "'")
DEFAULT_TARGET_PATTERN = r"\S+"
DEFAULT_MAX_LENGTH = 99999


@dataclasses.dataclass(frozen=True)
class TokenizerRules:
    """Everything that decides how a text is cut into tokens.

    Field names follow the Spark NLP params they come from; ``None`` means "derive the
    default from ``context_chars``".
    """

    target_pattern: str = DEFAULT_TARGET_PATTERN
    prefix_pattern: str | None = None
    suffix_pattern: str | None = None
    infix_patterns: tuple[str, ...] | None = None
    context_chars: tuple[str, ...] = DEFAULT_CONTEXT_CHARS
    exceptions: tuple[str, ...] = ()
    case_sensitive_exceptions: bool = True
    split_chars: tuple[str, ...] = ()
    split_pattern: str | None = None
    min_length: int = 0
    max_length: int = DEFAULT_MAX_LENGTH

    def __post_init__(self) -> None:
        if self.prefix_pattern is not None and not self.prefix_pattern.startswith("\\A"):
            raise ValueError(f"prefixPattern must begin with \\A, got {self.prefix_pattern!r}")
        if self.suffix_pattern is not None and not self.suffix_pattern.endswith("\\z"):
            raise ValueError(f"suffixPattern must end with \\z, got {self.suffix_pattern!r}")
        for infix in self.infix_patterns or ():
            if "(" not in infix or ")" not in infix:
                raise ValueError(
                    f"infixPatterns must use regex groups (each group becomes a token), got {infix!r}"
                )
        for char in self.context_chars:
            if len(char) != 1:
                raise ValueError(f"contextChars must be single characters, got {char!r}")
        if self.min_length < 0:
            raise ValueError(f"minLength must be >= 0, got {self.min_length}")
        if self.max_length < 1:
            raise ValueError(f"maxLength must be >= 1 (longer tokens are cut to it), got {self.max_length}")
        if self.max_length < self.min_length:
            raise ValueError(f"maxLength ({self.max_length}) must be >= minLength ({self.min_length})")


class RuleTokenizer:
    """A compiled :class:`TokenizerRules`; get one with :func:`get_tokenizer`.

    Examples
    --------
    >>> tokenizer = get_tokenizer(TokenizerRules())
    >>> text = "I'd like to say we didn't expect that. Jane's boyfriend."
    >>> [text[b:e + 1] for b, e in tokenizer.tokenize(text)]
    ["I'd", 'like', 'to', 'say', 'we', "didn't", 'expect', 'that', '.', "Jane's", 'boyfriend', '.']
    """

    def __init__(self, rules: TokenizerRules) -> None:
        self.rules = rules
        self._target = compile_pattern(rules.target_pattern, what="targetPattern")
        context = re.escape("".join(rules.context_chars))
        prefix = rules.prefix_pattern or rf"\A([{context}]*)"
        suffix = rules.suffix_pattern or rf"([{context}]*)\z"
        infixes = rules.infix_patterns or (rf"([^{context}](?:.*[^{context}])*)",)
        self._rules = [compile_pattern(prefix + infix + suffix, what="tokenizer rule") for infix in infixes]
        # With the default rules, a candidate splits into its leading run of context characters,
        # its core (first to last other character) and its trailing run; a candidate of context
        # characters only stays whole. One scan of this alternation finds exactly those pieces,
        # several times faster than a rule match per candidate (equivalence is tested).
        uses_default_rules = (
            rules.target_pattern == DEFAULT_TARGET_PATTERN
            and rules.prefix_pattern is None
            and rules.suffix_pattern is None
            and rules.infix_patterns is None
        )
        self._default_scan = (
            compile_pattern(
                rf"(?<!\S)[{context}]+(?!\S)|(?<!\S)[{context}]+|[^{context}\s](?:\S*[^{context}\s])?|[{context}]+",
                what="default tokenizer rule",
            )
            if uses_default_rules and not rules.exceptions and self._splitter_pattern(rules) is None
            else None
        )
        ignore_case = not rules.case_sensitive_exceptions
        self._exceptions = [compile_pattern(e, ignore_case, what="exception") for e in rules.exceptions]
        splitter = self._splitter_pattern(rules)
        self._splitter = compile_pattern(splitter, what="splitPattern/splitChars") if splitter else None

    @staticmethod
    def _splitter_pattern(rules: TokenizerRules) -> str | None:
        if rules.split_pattern:
            return rules.split_pattern
        if rules.split_chars:
            return "|".join(c if len(c) == 2 and c[0] == "\\" else re.escape(c) for c in rules.split_chars)
        return None

    def tokenize(self, text: str, start: int = 0, stop: int | None = None) -> list[Span]:
        """Token spans of ``text[start:stop]``, as ``(begin, end)`` indices into ``text``."""
        return self.tokenize_counted(text, start, stop)[0]

    def tokenize_counted(self, text: str, start: int = 0, stop: int | None = None) -> tuple[list[Span], int]:
        """Token spans of ``text[start:stop]`` and how many tokens ``min_length`` dropped.

        A token longer than ``max_length`` is not dropped (Spark NLP drops it, and its text
        with it): it is cut into pieces of ``max_length`` characters.

        Examples
        --------
        >>> tokenizer = get_tokenizer(TokenizerRules(min_length=2, max_length=4))
        >>> text = "a abcdefghij ok"
        >>> spans, dropped = tokenizer.tokenize_counted(text)
        >>> [text[b:e + 1] for b, e in spans], dropped
        (['abcd', 'efgh', 'ij', 'ok'], 1)
        """
        stop = len(text) if stop is None else stop
        if self._default_scan is not None:
            pieces = [(m.start(), m.end()) for m in self._default_scan.finditer(text, start, stop)]
        else:
            pieces = []
            for cand_start, cand_stop, protected in self._candidates(text, start, stop):
                if protected:
                    pieces.append((cand_start, cand_stop))
                else:
                    pieces.extend(self._apply_rules(text, cand_start, cand_stop))
        return self._bound_lengths(pieces)

    def _bound_lengths(self, pieces: list[Span]) -> tuple[list[Span], int]:
        """``(start, stop)`` pieces as ``(begin, end)`` spans: empty ones skipped, short ones
        dropped and counted, long ones cut into ``max_length`` characters."""
        min_length, max_length = self.rules.min_length, self.rules.max_length
        spans: list[Span] = []
        dropped = 0
        for piece_start, piece_stop in pieces:
            length = piece_stop - piece_start
            if length <= 0:
                continue
            if length < min_length:
                dropped += 1
            elif length <= max_length:
                spans.append((piece_start, piece_stop - 1))
            else:
                spans.extend(
                    (cut, min(cut + max_length, piece_stop) - 1) for cut in range(piece_start, piece_stop, max_length)
                )
        return spans, dropped

    def _candidates(self, text: str, start: int, stop: int) -> list[tuple[int, int, bool]]:
        """Target-pattern matches, merged across exception matches; flag the protected ones."""
        found = [(m.start(), m.end()) for m in self._target.finditer(text, start, stop) if m.end() > m.start()]
        if not self._exceptions:
            return [(a, b, False) for a, b in found]
        protected = _union_of_overlapping(
            (m.start(), m.end())
            for pattern in self._exceptions
            for m in pattern.finditer(text, start, stop)
            if m.end() > m.start()
        )
        if not protected:
            return [(a, b, False) for a, b in found]
        # The protected spans are disjoint and sorted, so their stops are sorted too: each
        # candidate looks only at the spans from the first one ending after its start, and
        # the whole pass stays linear (a scan of every span per candidate was quadratic).
        protected_stops = [p_stop for _, p_stop in protected]
        merged: list[tuple[int, int, bool]] = []
        for cand_start, cand_stop in found:
            touched = False
            index = bisect.bisect_right(protected_stops, cand_start)
            while index < len(protected) and protected[index][0] < cand_stop:
                p_start, p_stop = protected[index]
                cand_start, cand_stop = min(cand_start, p_start), max(cand_stop, p_stop)
                touched = True
                index += 1
            if touched:
                if merged and merged[-1][2] and merged[-1][1] >= cand_start:
                    prev_start, prev_stop, _ = merged.pop()
                    cand_start, cand_stop = min(prev_start, cand_start), max(prev_stop, cand_stop)
                merged.append((cand_start, cand_stop, True))
            elif merged and merged[-1][2] and merged[-1][1] >= cand_stop:
                continue  # inside a protected span already emitted
            else:
                merged.append((cand_start, cand_stop, False))
        return merged

    def _apply_rules(self, text: str, cand_start: int, cand_stop: int) -> list[Span]:
        groups = self._match_rules(text, cand_start, cand_stop)
        if self._splitter is None:
            return groups
        pieces: list[Span] = []
        for group_start, group_stop in groups:
            pieces.extend(self._split(text, group_start, group_stop))
        return pieces

    def _match_rules(self, text: str, cand_start: int, cand_stop: int) -> list[Span]:
        candidate = text[cand_start:cand_stop]
        for rule in self._rules:
            match = rule.match(candidate)
            if match is None:
                continue
            groups = []
            for index in range(1, (match.re.groups or 0) + 1):
                group_start, group_stop = match.span(index)
                if group_start >= 0 and group_stop > group_start:
                    groups.append((cand_start + group_start, cand_start + group_stop))
            return groups
        return [(cand_start, cand_stop)]

    def _split(self, text: str, start: int, stop: int) -> list[Span]:
        pieces: list[Span] = []
        cursor = start
        assert self._splitter is not None
        for match in self._splitter.finditer(text, start, stop):
            if match.end() == match.start():
                continue
            pieces.append((cursor, match.start()))
            cursor = match.end()
        pieces.append((cursor, stop))
        return pieces


def _union_of_overlapping(spans: Iterable[Span]) -> list[Span]:
    """``(start, stop)`` spans sorted, with overlapping ones joined (touching ones are not).

    Examples
    --------
    >>> _union_of_overlapping([(5, 9), (0, 3), (2, 4), (4, 5)])
    [(0, 4), (4, 5), (5, 9)]
    """
    union: list[Span] = []
    for span_start, span_stop in sorted(spans):
        if union and span_start < union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], span_stop))
        else:
            union.append((span_start, span_stop))
    return union


@functools.lru_cache(maxsize=64)
def get_tokenizer(rules: TokenizerRules) -> RuleTokenizer:
    """The compiled tokenizer for ``rules``, built once per process and reused."""
    return RuleTokenizer(rules)


def tokenize(text: str, rules: TokenizerRules | None = None) -> list[Span]:
    """Token spans of ``text`` under ``rules`` (Spark NLP's defaults when ``None``).

    Examples
    --------
    >>> text = '"Hello," she said (quietly).'
    >>> [text[b:e + 1] for b, e in tokenize(text)]
    ['"', 'Hello', ',"', 'she', 'said', '(', 'quietly', ').']
    """
    return get_tokenizer(rules or TokenizerRules()).tokenize(text)

