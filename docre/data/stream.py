"""Read DocRED-format documents one at a time, in bounded memory.

A ``.json`` file (a JSON list of documents) is read incrementally: a small scanner finds where
each element of the top-level list ends (tracking strings and bracket depth, never building the
whole list) and Python's own ``json`` parses that one element, so what is accepted and the
messages of a bad element are those of :func:`docre.data.reader.read_documents`. ``.jsonl``
(one document per line; blank lines are skipped) is read line by line, and CDR/GDA ``.data``
files (small) are read whole. Every document is validated as the in-memory reader does
(:class:`docre.data.reader._DocValidator`), and duplicate titles are caught by remembering
titles only, never documents.

    for doc in iter_documents("docred_distant.json"):   # one Document at a time
        ...
    n = scan_documents("docred_distant.json")          # validate everything, count (no documents kept)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Union

from docre.data.documents import Document
from docre.data.reader import EMPTY_FILE, _DocValidator
from docre.data.relations import RelationInventory
from docre.errors import DataError, DataProblem
from docre.utils.jsonstream import JSONL_SUFFIXES

READ_BLOCK = 1 << 20  # bytes read from the file at a time
_WS = " \t\r\n"
_CUT_MARGIN = 16  # a parse error this close to the end of the buffer may just need more input


def is_jsonl(path: Union[str, Path]) -> bool:
    """``.jsonl`` / ``.ndjson``: one document per line."""
    return Path(path).suffix.lower() in JSONL_SUFFIXES


class _ArrayScanner:
    """Yields the elements of a top-level JSON array read from a binary file, one at a time.

    Each element is parsed by ``json``'s C scanner (``raw_decode``) from a text buffer that
    holds the current element and at most one more read block. An element cut by the end of
    the buffer fails to parse; more is read and the parse retried, and a failure that more
    data does not move is a real error in the file.
    """

    def __init__(self, fh: BinaryIO, file: str, block: int = READ_BLOCK):
        import codecs

        self.fh, self.file, self.block = fh, file, block
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0  # parse position in buf
        self.eof = False
        self.line = 1  # line number at buf[0]
        self.line_start = 0  # offset in buf where that line starts (negative: before buf)

    # ------------------------------------------------------------------ buffer
    def _more(self) -> bool:
        """Read and decode another block; False at the end of the file."""
        if self.eof:
            return False
        data = self.fh.read(self.block)
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            line = self.line + self.buf.count("\n") + data[: max(0, exc.start)].count(b"\n")
            raise DataError(DataProblem(self.file, f"not valid UTF-8 (line {line})")) from exc
        if not data:
            self.eof = True
        self.buf += text
        return bool(data)

    def _drop_before(self, pos: int) -> None:
        """Forget ``buf[:pos]`` (already parsed), keeping line numbers right."""
        if pos <= 0:
            return
        n = self.buf.count("\n", 0, pos)
        if n:
            self.line += n
            self.line_start = self.buf.rfind("\n", 0, pos) + 1
        self.line_start -= pos
        self.buf = self.buf[pos:]
        self.pos -= pos

    def _where(self, pos: int) -> tuple[int, int]:
        """(line, column) of ``buf[pos]``, 1-based."""
        n = self.buf.count("\n", 0, pos)
        if n:
            return self.line + n, pos - self.buf.rfind("\n", 0, pos)
        return self.line, pos - self.line_start + 1

    def _error(self, pos: int, msg: str, index: Optional[int] = None) -> DataError:
        line, col = self._where(pos)
        return DataError(DataProblem(self.file, f"invalid JSON at line {line} column {col}: {msg}", index))

    def _skip_ws(self) -> bool:
        """Advance past whitespace; False at the end of the file."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return True
            self._drop_before(self.pos)
            if not self._more():
                return False

    def _element(self, index: int) -> Any:
        """Parse the element at ``pos`` (reading more as needed) and move past it."""
        while True:
            try:
                obj, end = self.json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # input cut by the end of the buffer fails there (or in a string still open there)
                cut = exc.pos >= len(self.buf) - _CUT_MARGIN or exc.msg.startswith("Unterminated string")
                if cut and self._more():
                    continue
                raise self._error(exc.pos, exc.msg, index) from exc
            except RecursionError as exc:
                raise DataError(DataProblem(self.file, "JSON nested too deeply to be DocRED documents", index)) from exc
            if end == len(self.buf) and not self.eof and not isinstance(obj, (dict, list, str)):
                # a bare number at the end of the buffer may continue in the next block
                self._more()
                continue
            self.pos = end
            return obj

    def __iter__(self) -> Iterator[Any]:
        if not self._skip_ws():
            raise DataError(DataProblem(self.file, EMPTY_FILE))
        c = self.buf[self.pos]
        if c == "\ufeff":
            raise self._error(self.pos, "the file starts with a UTF-8 byte order mark; save it without one")
        if c != "[":
            kind = {"{": "dict", '"': "str", "t": "bool", "f": "bool", "n": "NoneType"}.get(
                c, "a number" if c in "-0123456789" else None)
            if kind is None:
                raise self._error(self.pos, "expected '[' (a JSON list of documents)")
            raise DataError(DataProblem(self.file, f"top level must be a JSON list of documents, got {kind}"))
        self.pos += 1
        index = 0
        if not self._skip_ws():
            raise self._error(self.pos, "the file ends before the list is closed with ']'", index)
        if self.buf[self.pos] == "]":
            self.pos += 1
        else:
            while True:
                if self.pos > self.block:  # forget what was parsed (not per element: that copies the buffer)
                    self._drop_before(self.pos)
                yield self._element(index)
                index += 1
                if not self._skip_ws():
                    raise self._error(self.pos, "the file ends before the list is closed with ']'", index)
                c = self.buf[self.pos]
                if c == "]":
                    self.pos += 1
                    break
                if c != ",":
                    raise self._error(self.pos, "expected ',' or ']' after a document", index)
                self.pos += 1
                if not self._skip_ws():
                    raise self._error(self.pos, "the file ends before the list is closed with ']'", index)
        if self._skip_ws():
            raise self._error(self.pos, "extra data after the list of documents")


def _iter_jsonl(fh: BinaryIO, file: str) -> Iterator[Any]:
    index = 0
    for lineno, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(DataProblem(file, f"not valid UTF-8 (line {lineno})", index)) from exc
        try:
            yield json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(DataProblem(file, f"invalid JSON at line {lineno} column {exc.colno}: {exc.msg}",
                                        index)) from exc
        except RecursionError as exc:
            raise DataError(DataProblem(file, "JSON nested too deeply to be DocRED documents", index)) from exc
        index += 1


def iter_raw_documents(path: Union[str, Path]) -> Iterator[Any]:
    """The raw (unvalidated) elements of a document file, one at a time, in file order.

    ``.jsonl``/``.ndjson``: one JSON document per line; ``.data``: CDR/GDA (read whole);
    anything else: a JSON list, read incrementally.

    Raises:
        DataError: the file cannot be read, or is not valid JSON (naming the line, column and
            the index of the document being read).
    """
    path = Path(path)
    if path.suffix == ".data":
        from docre.data.biomed import read_biomed_file  # noqa: WPS433 (optional format)

        yield from read_biomed_file(path)
        return
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(DataProblem(str(path), f"cannot read file: {exc.strerror or exc}")) from exc
    with fh:
        yield from (_iter_jsonl(fh, str(path)) if is_jsonl(path) else _ArrayScanner(fh, str(path)))


class TitleRegistry:
    """Remembers the titles seen so far (not the documents) to reject a duplicate title."""

    def __init__(self, file: str):
        self.file = file
        self.first: dict[str, int] = {}

    def check(self, title: str, index: int) -> None:
        """Raise :class:`DataError` when ``title`` was used by an earlier document."""
        first = self.first.setdefault(title, index)
        if first != index:
            raise DataError(DataProblem(self.file, f"duplicate title (first used by document {first})", index, title,
                                        "title"))


def validate_stream(raw: Iterable[Any], source: str, relations: Optional[RelationInventory] = None,
                    require_labels: bool = False) -> Iterator[Document]:
    """Validate raw document dicts (or pass :class:`Document` objects through) one at a time.

    ``Document`` objects keep their own ``index``; dicts get their position in ``raw``.

    Raises:
        DataError: at the first document with a problem, naming ``source``, the document's index
            and title, and the field (a duplicate title: field ``title``).
    """
    titles = TitleRegistry(source)
    for i, item in enumerate(raw):
        if isinstance(item, Document):
            doc = item
        else:
            v = _DocValidator(source, i, item, relations)
            doc = v.run()
            if v.problems:
                raise DataError(v.problems)
        titles.check(doc.title, doc.index)
        if require_labels and doc.labels is None:
            raise DataError(DataProblem(source, "training data needs 'labels'", doc.index, doc.title, "labels"))
        yield doc


def iter_documents(path: Union[str, Path], relations: Optional[RelationInventory] = None,
                   require_labels: bool = False) -> Iterator[Document]:
    """Validated documents of a file, one at a time (``.json``, ``.jsonl``, ``.data``)."""
    return validate_stream(iter_raw_documents(path), str(path), relations, require_labels)


def scan_documents(path: Union[str, Path], relations: Optional[RelationInventory] = None,
                   require_labels: bool = False, on_document: Optional[Callable[[int], Any]] = None) -> int:
    """Validate a whole file without keeping its documents; return how many it holds.

    A first pass before a long prediction run: a bad document deep in a big file stops the run
    before any model work, and the count gives the progress bar its total. ``on_document(1)``
    is called after each document (a progress counter).
    """
    n = 0
    for _ in iter_documents(path, relations, require_labels):
        n += 1
        if on_document is not None:
            on_document(1)
    return n


__all__ = ["iter_raw_documents", "iter_documents", "validate_stream", "scan_documents", "TitleRegistry", "is_jsonl"]
