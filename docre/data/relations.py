"""The relation inventory: relation ids in class order, class 0 the threshold/NA class."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from docre.errors import DataError, DataProblem

NA_RELATION = "Na"


@dataclass
class RelationInventory:
    """Relation ids in class order. ``ids[0]`` is always the NA/threshold class ``"Na"``.

    ``names`` maps a relation id (e.g. ``"P17"``) to a readable name (``"country"``).
    """

    ids: list[str]
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ids or self.ids[0] != NA_RELATION:
            self.ids = [NA_RELATION] + [r for r in self.ids if r != NA_RELATION]
        self._index = {r: i for i, r in enumerate(self.ids)}

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
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(DataProblem(str(path), f"cannot read relation inventory: {exc}")) from exc
        if isinstance(obj, dict) and "ids" in obj and isinstance(obj["ids"], list):
            return cls(list(obj["ids"]), dict(obj.get("names", {})))
        if isinstance(obj, dict) and obj and all(isinstance(v, int) for v in obj.values()):
            ids = [r for r, _ in sorted(obj.items(), key=lambda kv: kv[1])]
            if NA_RELATION not in obj:
                ids = [NA_RELATION] + ids
            elif obj[NA_RELATION] != 0:
                raise DataError(DataProblem(str(path), f"class {NA_RELATION!r} must have id 0", field=NA_RELATION))
            if sorted(obj.values()) != list(range(len(obj))) and NA_RELATION in obj:
                raise DataError(DataProblem(str(path), "relation ids must be 0..n-1 without gaps"))
            return cls(ids)
        if isinstance(obj, dict) and obj and all(isinstance(v, str) for v in obj.values()):
            return cls.from_relations(obj.keys(), obj)
        raise DataError(DataProblem(str(path), "not a rel2id ({id: int}), rel_info ({id: name}) or relations.json file"))

    def to_json(self) -> dict:
        return {"ids": list(self.ids), "names": {r: self.names[r] for r in self.ids if r in self.names}}

    def save(self, path: str | Path) -> None:
        from docre.utils.io import atomic_write_json

        atomic_write_json(path, self.to_json())
