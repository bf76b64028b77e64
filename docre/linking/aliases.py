"""The alias table: surface form -> knowledge-base titles with priors, counted from training data.

Each mention of a training document whose entity carries a ``link`` adds one count to
``(surface form, title)`` (NIL counts as the empty title ``""``). The prior of a title for a surface
form is its share of that form's counts, ``p(title | form)``; the share of NIL, ``p(NIL | form)``, is
a feature of the NIL score. The table also counts how often each title is the gold link of an entity
(``title_count``) and the entity types linked to it (``title_type``: the most frequent).

A training document's own counts must not help to link it (the scorer would learn to trust the
table more than it deserves on new documents): :meth:`AliasTable.without` gives the table minus one
document's contribution (leave one document out).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from docre.data.documents import Document
from docre.errors import ModelDirError
from docre.utils.io import atomic_write_json

#: the key NIL is counted under
NIL = ""
ALIAS_FILE = "aliases.json"
_SPACE = re.compile(r"\s+")


def surface_form(name: str) -> str:
    """The key a mention's text is looked up under: lower case, single spaces, no leading 'the '."""
    s = _SPACE.sub(" ", name.strip().lower())
    return s[4:] if s.startswith("the ") and len(s) > 4 else s


def title_text(title: str) -> str:
    """A Wikipedia title as words: ``Washington,_D.C.`` -> ``Washington, D.C.``."""
    return title.replace("_", " ")


@dataclass
class AliasTable:
    """Counts from training documents (see the module docstring)."""

    forms: dict[str, Counter] = field(default_factory=dict)  # surface form -> title ("" = NIL) -> count
    title_count: Counter = field(default_factory=Counter)  # title -> entities linked to it
    title_types: dict[str, Counter] = field(default_factory=dict)  # title -> entity type -> count
    type_links: dict[str, Counter] = field(default_factory=dict)  # entity type -> {"nil": n, "linked": n}
    # the training mentions' own candidate lists: surface form -> title -> summed prior, and the number of
    # mentions of the form that had candidates (their mean prior is the form's dictionary prior)
    dictionary: dict[str, Counter] = field(default_factory=dict)
    dictionary_mentions: Counter = field(default_factory=Counter)

    @classmethod
    def from_documents(cls, docs: Iterable[Document]) -> "AliasTable":
        table = cls()
        for doc in docs:
            table.add(doc)
        return table

    def add(self, doc: Document, sign: int = 1) -> None:
        """Count ``doc``'s linked mentions and its mentions' candidates (``sign = -1``: remove them again)."""
        for ent in doc.entities:
            for m in ent.mentions:
                if m.candidates:
                    form = surface_form(m.name)
                    self.dictionary_mentions[form] += sign
                    d = self.dictionary.setdefault(form, Counter())
                    for t, p in m.candidates:
                        d[t] += sign * p
            annotated = [m for m in ent.mentions if m.has_link]
            if not annotated:
                continue
            link = annotated[0].link or NIL
            self.type_links.setdefault(ent.type, Counter())["nil" if link == NIL else "linked"] += sign
            for m in annotated:
                c = self.forms.setdefault(surface_form(m.name), Counter())
                c[link] += sign
            if link != NIL:
                self.title_count[link] += sign
                if ent.type:
                    self.title_types.setdefault(link, Counter())[ent.type] += sign

    def without(self, doc: Document) -> "AliasTable":
        """This table minus ``doc``'s counts (a copy of the entries ``doc`` touches; the rest shared)."""
        own = AliasTable.from_documents([doc])
        forms = dict(self.forms)
        for k, c in own.forms.items():
            forms[k] = +(self.forms.get(k, Counter()) - c)
        title_count = self.title_count.copy()
        title_count.subtract(own.title_count)
        title_types = dict(self.title_types)
        for t, c in own.title_types.items():
            title_types[t] = +(self.title_types.get(t, Counter()) - c)
        type_links = dict(self.type_links)
        for t, c in own.type_links.items():
            type_links[t] = +(self.type_links.get(t, Counter()) - c)
        dictionary = dict(self.dictionary)
        for k, c in own.dictionary.items():
            left = self.dictionary.get(k, Counter()).copy()
            left.subtract(c)
            dictionary[k] = Counter({t: v for t, v in left.items() if v > 1e-9})
        dictionary_mentions = self.dictionary_mentions.copy()
        dictionary_mentions.subtract(own.dictionary_mentions)
        return AliasTable(forms, +title_count, title_types, type_links, dictionary, +dictionary_mentions)

    # ------------------------------------------------------------------ lookups
    def priors(self, name: str) -> dict[str, float]:
        """``p(title | form)`` of every title (and ``""`` for NIL) seen with ``name``'s surface form."""
        c = self.forms.get(surface_form(name))
        if not c:
            return {}
        total = sum(c.values())
        return {t: n / total for t, n in c.items() if n > 0}

    def dictionary_priors(self, name: str) -> dict[str, float]:
        """The mean prior of each title among the training mentions' candidates for ``name``'s surface form."""
        form = surface_form(name)
        n = self.dictionary_mentions.get(form, 0)
        if n <= 0:
            return {}
        return {t: v / n for t, v in self.dictionary.get(form, {}).items() if v > 0}

    def candidates(self, name: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` titles most likely for ``name``'s surface form, from the training data: its gold links
        (their share of the form's links) and its mentions' candidate lists (their mean prior); each with the
        larger of the two as its prior."""
        scores = {t: p for t, p in self.priors(name).items() if t != NIL}
        for t, p in self.dictionary_priors(name).items():
            scores[t] = max(scores.get(t, 0.0), p)
        return sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:k]

    def type_of(self, title: str) -> Optional[str]:
        """The entity type most often linked to ``title`` in training (None: never linked)."""
        c = self.title_types.get(title)
        if not c:
            return None
        return max(sorted(c), key=lambda t: c[t])

    def nil_rate(self, entity_type: str) -> float:
        """The share of NIL among training entities of ``entity_type`` (0.5 when the type was not seen)."""
        c = self.type_links.get(entity_type)
        total = sum(c.values()) if c else 0
        return c["nil"] / total if total else 0.5

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict[str, Any]:
        return {"forms": {k: dict(c) for k, c in sorted(self.forms.items()) if c},
                "title_count": dict(sorted(self.title_count.items())),
                "title_types": {t: dict(c) for t, c in sorted(self.title_types.items()) if c},
                "type_links": {t: dict(c) for t, c in sorted(self.type_links.items()) if c},
                "dictionary": {k: {t: round(v, 6) for t, v in c.items()} for k, c in sorted(self.dictionary.items()) if c},
                "dictionary_mentions": dict(sorted((k, n) for k, n in self.dictionary_mentions.items() if n > 0))}

    def save(self, directory: str | Path) -> None:
        atomic_write_json(Path(directory) / ALIAS_FILE, self.to_json(), indent=None)

    @classmethod
    def load(cls, directory: str | Path) -> "AliasTable":
        """Read ``aliases.json`` from a model directory.

        Raises:
            ModelDirError: the file is missing or not an alias table.
        """
        path = Path(directory) / ALIAS_FILE
        if not path.is_file():
            raise ModelDirError(f"{path}: missing (the linker's alias table; not a complete linker model directory)")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            forms = {str(k): Counter({str(t): int(n) for t, n in c.items()}) for k, c in raw["forms"].items()}
            title_count = Counter({str(t): int(n) for t, n in raw["title_count"].items()})
            title_types = {str(t): Counter({str(k): int(n) for k, n in c.items()})
                           for t, c in raw["title_types"].items()}
            type_links = {str(t): Counter({str(k): int(n) for k, n in c.items()})
                          for t, c in raw["type_links"].items()}
            dictionary = {str(k): Counter({str(t): float(v) for t, v in c.items()})
                          for k, c in raw["dictionary"].items()}
            dictionary_mentions = Counter({str(k): int(n) for k, n in raw["dictionary_mentions"].items()})
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ModelDirError(f"{path}: not an alias table ({exc})") from exc
        return cls(forms, title_count, title_types, type_links, dictionary, dictionary_mentions)
