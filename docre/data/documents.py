"""Typed DocRED-format documents.

A DocRED document is ``{"title", "sents", "vertexSet", "labels"?}``; ``vertexSet`` is a
list of entities, each a list of mentions ``{"name", "sent_id", "pos": [start, end), "type"}``,
and ``labels`` a list of facts ``{"h", "t", "r", "evidence"}`` over entity indices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional


@dataclass(frozen=True)
class Mention:
    """One mention: word span ``[start, end)`` inside sentence ``sent_id``; ``char_span``
    ``[begin, end)`` into the original text when the document came from raw text.

    Entity linking (all optional): ``link`` is the entity's knowledge-base title (Wikipedia), or None
    for an entity outside the knowledge base (NIL); ``has_link`` says whether the input gave a
    ``"link"`` at all (``"link": null`` is a NIL annotation, a missing key is no annotation);
    ``candidates`` are ``(title, prior)`` pairs (None: not given); ``link_score`` is a linker's
    confidence in ``link``."""

    name: str
    sent_id: int
    start: int
    end: int
    type: str = ""
    char_span: Optional[tuple[int, int]] = None
    link: Optional[str] = None
    has_link: bool = False
    candidates: Optional[tuple[tuple[str, float], ...]] = None
    link_score: Optional[float] = None

    @property
    def pos(self) -> tuple[int, int]:
        return (self.start, self.end)


def mention_json(m: Mention) -> dict[str, Any]:
    """A mention in DocRED format (``char_span`` only when known)."""
    out: dict[str, Any] = {"name": m.name, "sent_id": m.sent_id, "pos": [m.start, m.end], "type": m.type}
    if m.char_span is not None:
        out["char_span"] = list(m.char_span)
    if m.has_link:
        out["link"] = m.link
    if m.link_score is not None:
        out["link_score"] = m.link_score
    if m.candidates is not None:
        out["candidates"] = [[t, p] for t, p in m.candidates]
    return out


@dataclass(frozen=True)
class Entity:
    """An entity: its mentions in document order of appearance in ``vertexSet``."""

    mentions: tuple[Mention, ...]

    @property
    def type(self) -> str:
        return self.mentions[0].type if self.mentions else ""

    @property
    def name(self) -> str:
        """A display name: the longest mention text."""
        return max((m.name for m in self.mentions), key=len) if self.mentions else ""

    @property
    def names(self) -> set[str]:
        return {m.name for m in self.mentions}

    @property
    def sent_ids(self) -> set[int]:
        return {m.sent_id for m in self.mentions}


@dataclass(frozen=True)
class Fact:
    """A gold relation triple (head entity index, relation id, tail entity index)."""

    h: int
    t: int
    r: str
    evidence: tuple[int, ...] = ()


@dataclass
class Document:
    """A validated DocRED-format document.

    ``labels`` is ``None`` for unlabelled documents (e.g. the DocRED test set) and a
    (possibly empty) list for labelled ones.
    """

    title: str
    sents: list[list[str]]
    entities: list[Entity]
    labels: Optional[list[Fact]] = None
    index: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def num_words(self) -> int:
        return sum(len(s) for s in self.sents)

    def entity_pairs(self) -> Iterator[tuple[int, int]]:
        """All ordered entity pairs (h, t), h != t, in the canonical order."""
        n = len(self.entities)
        for h in range(n):
            for t in range(n):
                if h != t:
                    yield h, t

    def to_json(self) -> dict[str, Any]:
        """The document back in DocRED format."""
        out: dict[str, Any] = {
            "title": self.title,
            "sents": self.sents,
            "vertexSet": [
                [mention_json(m) for m in e.mentions]
                for e in self.entities
            ],
        }
        if self.labels is not None:
            out["labels"] = [
                {"h": f.h, "t": f.t, "r": f.r, "evidence": list(f.evidence)} for f in self.labels
            ]
        return out
