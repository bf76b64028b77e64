"""Write JSON one record at a time: a JSON list (``[...]``) or JSON lines, atomically.

:class:`JsonArrayWriter` writes exactly the bytes ``json.dumps(items, indent=indent,
ensure_ascii=False)`` would (at any nesting level), without holding the items; a reader
sees no difference between a streamed file and one written whole. :func:`open_record_writer`
picks the form from the file name (``.jsonl``/``.ndjson``: one record per line) and writes
to a temporary file renamed onto the target only when the ``with`` block ends without an
exception, so a failure mid-way leaves no output (or the previous file).
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, TextIO, Union

from docre.utils.io import atomic_path

JSONL_SUFFIXES = (".jsonl", ".ndjson")


class JsonArrayWriter:
    """A JSON list written item by item.

    Args:
        fh: a text file open for writing.
        indent: as ``json.dumps``'s ``indent`` (None: one line, ``", "`` between items).
        level: nesting level of the list in the enclosing document (0: the top level); with
            an indent, item lines are indented by ``indent * (level + 1)`` spaces.
        separators: as ``json.dumps``'s (default: json's own default for ``indent``).
    """

    def __init__(self, fh: TextIO, indent: Optional[int] = None, level: int = 0,
                 separators: Optional[tuple[str, str]] = None):
        self.fh, self.indent, self.level = fh, indent, level
        self.separators = separators
        self.count = 0
        self.closed = False

    def _dumps(self, item: Any) -> str:
        return json.dumps(item, indent=self.indent, ensure_ascii=False, separators=self.separators)

    def write(self, item: Any) -> None:
        """Append one item (anything ``json.dumps`` accepts)."""
        text = self._dumps(item)
        if self.indent is None:
            item_sep = self.separators[0] if self.separators else ", "
            self.fh.write(("[" if self.count == 0 else item_sep) + text)
        else:
            pad = "\n" + " " * (self.indent * (self.level + 1))
            self.fh.write(("[" if self.count == 0 else ",") + pad + text.replace("\n", pad))
        self.count += 1

    def close(self) -> None:
        """Close the list (``[]`` when nothing was written). Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.count == 0:
            self.fh.write("[]")
        elif self.indent is None:
            self.fh.write("]")
        else:
            self.fh.write("\n" + " " * (self.indent * self.level) + "]")


class JsonLinesWriter:
    """One compact JSON record per line."""

    def __init__(self, fh: TextIO):
        self.fh = fh
        self.count = 0

    def write(self, item: Any) -> None:
        self.fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        pass


def write_object_streaming(fh: TextIO, fields: dict[str, Any], key: str, items: Iterable[Any],
                           indent: Optional[int] = 2) -> int:
    """Write ``{**fields, key: list(items)}`` as ``json.dumps(..., indent=indent,
    ensure_ascii=False)`` would, streaming ``items``; return how many were written."""
    if indent is None:
        raise ValueError("write_object_streaming needs an indent")
    pad = "\n" + " " * indent
    fh.write("{")
    for k, v in fields.items():
        fh.write(pad + json.dumps(k, ensure_ascii=False) + ": "
                 + json.dumps(v, indent=indent, ensure_ascii=False).replace("\n", pad) + ",")
    fh.write(pad + json.dumps(key, ensure_ascii=False) + ": ")
    array = JsonArrayWriter(fh, indent, level=1)
    for item in items:
        array.write(item)
    array.close()
    fh.write("\n}")
    return array.count


def is_jsonl_path(path: Union[str, Path]) -> bool:
    """True for ``.jsonl`` / ``.ndjson`` names."""
    return Path(path).suffix.lower() in JSONL_SUFFIXES


@contextlib.contextmanager
def open_record_writer(path: Union[str, Path], indent: Optional[int] = 2,
                       separators: Optional[tuple[str, str]] = None) -> Iterator[Union[JsonArrayWriter, JsonLinesWriter]]:
    """A writer of records into ``path``: JSON lines for ``.jsonl``/``.ndjson``, else a JSON
    list (``indent``, ``separators`` as ``json.dumps``; a final newline). Written to a temporary
    file beside ``path`` and renamed at the end; on an exception nothing is left behind."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            writer: Union[JsonArrayWriter, JsonLinesWriter]
            writer = JsonLinesWriter(fh) if is_jsonl_path(path) else JsonArrayWriter(fh, indent, 0, separators)
            yield writer
            if isinstance(writer, JsonArrayWriter):
                writer.close()
                fh.write("\n")


__all__ = ["JsonArrayWriter", "JsonLinesWriter", "open_record_writer", "write_object_streaming", "is_jsonl_path", "JSONL_SUFFIXES"]
