"""docre.utils.memory: the mmap threshold that keeps a long prediction run's memory flat."""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

import pytest

from docre.utils.memory import DEFAULT_MMAP_THRESHOLD, bound_heap, mmap_threshold_from_env


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallopt") and \
            platform.libc_ver()[0] == "glibc"
    except OSError:
        return False


def test_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCRE_MMAP_THRESHOLD", raising=False)
    assert mmap_threshold_from_env() == DEFAULT_MMAP_THRESHOLD == 4 * 1024 * 1024
    monkeypatch.setenv("DOCRE_MMAP_THRESHOLD", "1048576")
    assert mmap_threshold_from_env() == 1048576
    monkeypatch.setenv("DOCRE_MMAP_THRESHOLD", "0")
    assert mmap_threshold_from_env() == 0
    assert bound_heap() is False  # 0: malloc's default is left alone
    for bad in ("4MB", "-1"):
        monkeypatch.setenv("DOCRE_MMAP_THRESHOLD", bad)
        with pytest.raises(ValueError, match="DOCRE_MMAP_THRESHOLD"):
            mmap_threshold_from_env()


@pytest.mark.skipif(not _glibc(), reason="mallopt is glibc's")
def test_bound_heap_sets_the_threshold_on_glibc() -> None:
    assert bound_heap(DEFAULT_MMAP_THRESHOLD) is True


def test_cli_names_a_bad_threshold(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    from docre.cli import main

    monkeypatch.setenv("DOCRE_MMAP_THRESHOLD", "lots")
    docs = tmp_path / "d.json"
    docs.write_text('[{"title": "a", "sents": [["A", "b", "."]], "vertexSet": [[{"name": "A", "pos": [0, 1], "sent_id": 0, "type": "X"}]]}]')
    assert main(["predict", "--model", str(tmp_path / "no_model"), "--data", str(docs), "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "DOCRE_MMAP_THRESHOLD" in err and "lots" in err  # refused before the model is looked for
    assert not (tmp_path / "o.json").exists()
