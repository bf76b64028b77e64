"""Package data: the bundled synthetic sample (``sample:train.json`` in configs)."""
from __future__ import annotations

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
