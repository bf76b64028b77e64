"""Writing JSON one record at a time: the same bytes as json.dumps, atomically."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from docre.utils.jsonstream import JsonArrayWriter, open_record_writer, write_object_streaming

ITEMS = [{"title": "Ünïcode \u2028 \"q\"", "sents": [["a", "b"]], "vertexSet": [], "n": [1.5, None, True]},
         [], {}, "s", 3, {"nested": {"deep": [[1, [2, {"x": []}]]]}}]


@pytest.mark.parametrize("indent", [None, 0, 2, 4])
@pytest.mark.parametrize("n", [0, 1, len(ITEMS)])
@pytest.mark.parametrize("separators", [None, (",", ":")])
def test_array_writer_writes_what_json_dumps_writes(indent, n, separators) -> None:
    for level, wrap in ((0, lambda x: x), (1, lambda x: {"k": x}), (2, lambda x: {"a": {"k": x}})):
        fh = io.StringIO()
        w = JsonArrayWriter(fh, indent, level, separators)
        for item in ITEMS[:n]:
            w.write(item)
        w.close()
        w.close()  # idempotent
        whole = json.dumps(wrap(ITEMS[:n]), indent=indent, ensure_ascii=False, separators=separators)
        assert fh.getvalue() in whole and w.count == n
        if level == 0:
            assert fh.getvalue() == whole


@pytest.mark.parametrize("n", [0, 1, 3])
def test_object_with_a_streamed_list(n: int) -> None:
    head = {"schema_version": 1, "meta": {"model": "m", "filters": {"only": None}}, "aggregate": {"documents": n}}
    fh = io.StringIO()
    assert write_object_streaming(fh, head, "documents", iter(ITEMS[:n])) == n
    assert fh.getvalue() == json.dumps({**head, "documents": ITEMS[:n]}, indent=2, ensure_ascii=False)


def test_record_writer_json_and_jsonl(tmp_path: Path) -> None:
    with open_record_writer(tmp_path / "out.json") as w:
        for item in ITEMS:
            w.write(item)
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == json.dumps(ITEMS, indent=2, ensure_ascii=False) + "\n"
    with open_record_writer(tmp_path / "out.jsonl") as w:
        for item in ITEMS:
            w.write(item)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").rstrip("\n").split("\n")  # not splitlines: U+2028
    assert [json.loads(line) for line in lines] == ITEMS
    with open_record_writer(tmp_path / "empty.json") as w:
        pass
    assert json.loads((tmp_path / "empty.json").read_text()) == []


def test_a_failure_midway_leaves_no_output_and_keeps_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with open_record_writer(out) as w:
            w.write(ITEMS[0])
            raise RuntimeError("the model failed on document 2")
    assert list(tmp_path.iterdir()) == []
    out.write_text("previous", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with open_record_writer(out) as w:
            w.write(ITEMS[0])
            raise RuntimeError("again")
    assert out.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
