"""The relation inventory: relation ids in class order, class 0 the threshold/NA class."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from docre.errors import DataError, DataProblem

NA_RELATION = "Na"


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def wikidata_names(ids: Iterable[str]) -> dict[str, str]:
    """Wikidata labels of ``ids`` when all of them (the NA class aside) are DocRED's relation
    ids, else nothing (ids of another inventory, e.g. DWIE's or CDR's, keep their own names)."""
    from docre.resources import wikidata_relation_labels

    labels = wikidata_relation_labels()
    rels = [r for r in ids if r != NA_RELATION]
    if not rels or any(r not in labels for r in rels):
        return {}
    return {r: labels[r] for r in rels}


@dataclass
class RelationInventory:
    """Relation ids in class order. ``ids[0]`` is always the NA/threshold class ``"Na"``.

    ``names`` maps a relation id (e.g. ``"P17"``) to a readable name (``"country"``). When every
    relation id is one of DocRED's Wikidata properties, the ids given no name get their Wikidata
    label (:func:`docre.resources.wikidata_relation_labels`), so models and files that carry only
    ids still read ``country``, not ``P17``.
    """

    ids: list[str]
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ids or self.ids[0] != NA_RELATION:
            self.ids = [NA_RELATION] + [r for r in self.ids if r != NA_RELATION]
        self._index = {r: i for i, r in enumerate(self.ids)}
        self.names = {**wikidata_names(self.ids), **self.names}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, rel: object) -> bool:
        return rel in self._index

    @property
    def num_classes(self) -> int:
        """Number of classes including the threshold class 0."""
        return len(self.ids)

    def index(self, rel: str) -> int:
        return self._index[rel]

    def name(self, rel: str) -> str:
        return self.names.get(rel, rel)

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_relations(cls, rels: Iterable[str], names: Optional[dict[str, str]] = None) -> "RelationInventory":
        """Sorted by P-number where ids look like ``P123``, else alphabetically."""
        def key(r: str) -> tuple[int, str]:
            return (int(r[1:]), r) if r[:1] == "P" and r[1:].isdigit() else (10**9, r)

        uniq = sorted({r for r in rels if r != NA_RELATION}, key=key)
        return cls([NA_RELATION] + uniq, dict(names or {}))

    @classmethod
    def from_file(cls, path: str | Path) -> "RelationInventory":
        """Read ``rel2id.json`` (``{"Na": 0, "P17": 1, ...}``), ``rel_info.json``
        (``{"P17": "country", ...}``) or docre's own ``relations.json``
        (``{"ids": [...], "names": {...}}``)."""
        path = Path(path)
        file = str(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise DataError(DataProblem(file, f"cannot read relation inventory: {exc}")) from exc
        if isinstance(obj, dict) and "ids" in obj and isinstance(obj["ids"], list):
            return cls._from_ids(file, obj["ids"], obj.get("names", {}))
        if isinstance(obj, dict) and obj and all(_is_int(v) for v in obj.values()):
            return cls._from_rel2id(file, obj)
        if isinstance(obj, dict) and obj and all(isinstance(v, str) for v in obj.values()):
            return cls.from_relations(obj.keys(), obj)
        raise DataError(DataProblem(file, "not a rel2id ({id: int}), rel_info ({id: name}) or relations.json file"))

    @classmethod
    def _from_ids(cls, file: str, ids: list, names: object) -> "RelationInventory":
        """docre's ``relations.json``: ids in class order (``"Na"``, when listed, first)."""
        for i, r in enumerate(ids):
            if not isinstance(r, str):
                raise DataError(DataProblem(file, f"relation id must be a string, got {r!r}", field=f"ids[{i}]"))
            if r in ids[:i]:
                raise DataError(DataProblem(file, f"relation {r!r} listed twice", field=f"ids[{i}]"))
        if NA_RELATION in ids[1:]:
            raise DataError(DataProblem(file, f"class {NA_RELATION!r} must come first (class 0)",
                                        field=f"ids[{ids.index(NA_RELATION)}]"))
        if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
            raise DataError(DataProblem(file, "must be an object {relation id: name}", field="names"))
        return cls(list(ids), dict(names))

    @classmethod
    def _from_rel2id(cls, file: str, obj: dict) -> "RelationInventory":
        """``rel2id.json``: class ids 0..n-1 (``"Na"`` = 0), or 1..n when ``"Na"`` is left out."""
        ordered = sorted(obj.items(), key=lambda kv: kv[1])
        if NA_RELATION in obj and obj[NA_RELATION] != 0:
            raise DataError(DataProblem(file, f"class {NA_RELATION!r} must have id 0", field=NA_RELATION))
        first = 0 if NA_RELATION in obj or ordered[0][1] == 0 else 1
        for expected, (rel, value) in enumerate(ordered, start=first):
            if value != expected:
                raise DataError(DataProblem(
                    file, f"relation ids must be {first}..{first + len(obj) - 1} without gaps or repeats: "
                          f"id {value} where {expected} was expected", field=rel))
        ids = [r for r, _ in ordered]
        return cls(ids if NA_RELATION in obj else [NA_RELATION] + ids)

    def to_json(self) -> dict:
        return {"ids": list(self.ids), "names": {r: self.names[r] for r in self.ids if r in self.names}}

    def save(self, path: str | Path) -> None:
        from docre.utils.io import atomic_write_json

        atomic_write_json(path, self.to_json())
