"""Plain text into sentences and words with character offsets (spaCy's rule-based English
tokenizer and sentencizer: no model download, no network).

Everything that reads raw text (``docre extract``, ``docre data import``) goes through
:func:`tokenize_text`, so a word's ``[start, end)`` character span always slices the input
text exactly, and spans given in characters (annotation tools) map to DocRED word spans
with :meth:`TokenizedText.word_span`.
"""
from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass(frozen=True)
class Word:
    """One word: its text and its character span ``[start, end)`` in the input text."""

    text: str
    start: int
    end: int


@dataclass
class TokenizedText:
    """A text cut into sentences of words (whitespace is never a word).

    ``sents[i][j]`` is word j of sentence i; ``text[w.start:w.end] == w.text`` for every word.
    """

    text: str
    sents: list[list[Word]]
    _cache: Optional[tuple[list[int], list[int], list[tuple[int, int]]]] = field(default=None, repr=False,
                                                                                 compare=False)

    @property
    def words(self) -> list[list[str]]:
        """DocRED ``sents``: the words' texts."""
        return [[w.text for w in s] for s in self.sents]

    def char_span(self, sent_id: int, start: int, end: int) -> tuple[int, int]:
        """Character span ``[begin, end)`` of the word span ``[start, end)`` of a sentence."""
        sent = self.sents[sent_id]
        return sent[start].start, sent[end - 1].end

    def word_span(self, begin: int, end: int) -> Optional[tuple[int, int, int]]:
        """The words covering characters ``[begin, end)`` as ``(sent_id, start, end)``.

        A word counts when it overlaps the span. None when no word does (the span is all
        whitespace) or the words lie in two sentences (a span across a sentence boundary).
        """
        starts, ends, where = self._index()
        first = bisect.bisect_right(ends, begin)  # first word ending after begin
        last = bisect.bisect_left(starts, end) - 1  # last word starting before end
        if first > last:
            return None
        (s0, j0), (s1, j1) = where[first], where[last]
        if s0 != s1:
            return None
        return s0, j0, j1 + 1

    def _index(self) -> tuple[list[int], list[int], list[tuple[int, int]]]:
        """Word starts, ends and (sentence, word) positions in text order (built once)."""
        if self._cache is None:
            where = [(i, j) for i, s in enumerate(self.sents) for j in range(len(s))]
            self._cache = ([self.sents[i][j].start for i, j in where], [self.sents[i][j].end for i, j in where], where)
        return self._cache


@functools.lru_cache(maxsize=1)
def _english() -> Any:
    try:
        import spacy
    except ImportError as exc:  # pragma: no cover - spacy is a dependency
        from docre.errors import ConfigError

        raise ConfigError("reading plain text needs spaCy: pip install spacy") from exc
    nlp = spacy.blank("en")  # rule-based tokenizer only; nothing downloaded
    nlp.add_pipe("sentencizer")
    return nlp


def tokenize_text(text: str, newline_breaks: bool = True) -> TokenizedText:
    """Sentences and words of ``text``.

    Args:
        text: any string (empty gives no sentences).
        newline_breaks: a line break also ends a sentence (titles, list items and
            paragraphs seldom end with a full stop).

    Returns:
        :class:`TokenizedText`; sentences without words are dropped.
    """
    nlp = _english()
    sents: list[list[Word]] = []
    nlp.max_length = max(nlp.max_length, len(text) + 1)
    doc = nlp(text)
    for sent in doc.sents:
        current: list[Word] = []
        for tok in sent:
            if tok.is_space or not tok.text.strip():
                if newline_breaks and "\n" in tok.text and current:
                    sents.append(current)
                    current = []
                continue
            current.append(Word(tok.text, tok.idx, tok.idx + len(tok.text)))
        if current:
            sents.append(current)
    return TokenizedText(text=text, sents=sents)
