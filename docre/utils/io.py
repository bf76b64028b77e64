"""Atomic file output: write to a temporary file beside the target, then rename.

A process killed mid-write leaves the previous file (or nothing), never a
truncated one.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

PathLike = Union[str, os.PathLike]


STDOUT = "-"


def is_stdout(path: PathLike) -> bool:
    """Whether an output path is ``-``: standard output."""
    return str(path) == STDOUT


def _file_mode() -> int:
    """The mode a new file gets under the current umask (0644 under the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched. The file gets
    the mode of a normally created file (whatever wrote the temporary path). ``path`` ``-``
    means standard output: the bytes written go there once the block succeeds.
    """
    if is_stdout(path):
        fd, tmp = tempfile.mkstemp(prefix=".docre-stdout.", suffix=".tmp")
        os.close(fd)
        try:
            yield Path(tmp)
            sys.stdout.flush()
            with open(tmp, "rb") as src:
                shutil.copyfileobj(src, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _file_mode())  # mkstemp (and some writers, e.g. safetensors) create 0600
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def read_text_file(path: PathLike) -> str:
    """Read a UTF-8 text file; unreadable or non-UTF-8 files raise a DataError naming the file."""
    from docre.errors import DataError, DataProblem

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(DataProblem(str(path), f"cannot read file: {exc.strerror or exc}")) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(DataProblem(str(path), f"not valid UTF-8 (line {line}, byte offset {exc.start})")) from exc
