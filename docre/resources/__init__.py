"""Package data: the bundled synthetic sample (``sample:train.json`` in configs) and the
Wikidata labels of DocRED's relation ids."""
from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Optional

SAMPLE_PREFIX = "sample:"


def sample_path(name: str) -> Path:
    """Path of a file of the bundled sample (train.json, dev.json, test.json, relations.json)."""
    return Path(str(resources.files("docre.resources").joinpath("sample", name)))


def resolve_data_path(path: Optional[str]) -> Optional[str]:
    """Resolve ``sample:NAME`` to the bundled sample file; other paths are returned as they are."""
    if path and path.startswith(SAMPLE_PREFIX):
        return str(sample_path(path[len(SAMPLE_PREFIX):]))
    return path


@functools.lru_cache(maxsize=1)
def wikidata_relation_labels() -> dict[str, str]:
    """English labels of the 96 Wikidata properties that are DocRED's and Re-DocRED's relation
    ids (``{"P17": "country", "P131": "located in the administrative territorial entity", ...}``)."""
    text = resources.files("docre.resources").joinpath("wikidata_relations.json").read_text(encoding="utf-8")
    return dict(json.loads(text)["labels"])
