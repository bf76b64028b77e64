"""Reading documents one at a time: the incremental .json scanner, .jsonl, validation with the
in-memory reader's messages, duplicate titles without holding documents."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from docre.data.reader import read_documents
from docre.data.relations import RelationInventory
from docre.data.stream import _ArrayScanner, iter_documents, iter_raw_documents, scan_documents, validate_stream
from docre.errors import DataError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CORPUS = Path(__file__).resolve().parents[1] / "malformed"
SAMPLE = Path(__file__).resolve().parents[2] / "docre" / "resources" / "sample" / "dev.json"


class CountingReader(io.BytesIO):
    """A binary file that records how many bytes were asked of it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        out = super().read(n)
        self.bytes_read += len(out)
        return out


def _tricky_docs() -> list[dict]:
    """Documents whose text has what a scanner can trip on: escapes, quotes, brackets, non-ASCII."""
    docs = json.loads(FIXTURES.joinpath("docs.json").read_text(encoding="utf-8"))
    docs[0]["sents"][0][0] = 'Mar"el [ { } ] \\ \u00e9\u4e2d\U0001f600'
    docs[1]["extra"] = {"nested": [[1, 2.5e-3, -0], {"a": None, "b": True}], "s": "]},{\"x\": ["}
    return docs


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 1])
def test_scanner_equals_json_load_at_any_block_size(block: int, indent) -> None:
    docs = _tricky_docs()
    data = ("  \n" + json.dumps(docs, indent=indent, ensure_ascii=(block == 7)) + "\n\n").encode("utf-8")
    assert list(_ArrayScanner(io.BytesIO(data), "x.json", block=block)) == json.loads(data)


@pytest.mark.parametrize("text", ["[]", " [ ] ", "[\n]\n", "[1]", "[1, 22 ,333]", '["a", {"b": [1]}]'])
def test_scanner_small_lists(text: str) -> None:
    for block in (1, 2, 1 << 20):
        assert list(_ArrayScanner(io.BytesIO(text.encode()), "x.json", block=block)) == json.loads(text)


def test_scanner_reads_one_block_ahead_not_the_whole_file() -> None:
    """The first document comes out after reading about one block, whatever the file's size."""
    doc = json.loads(FIXTURES.joinpath("docs.json").read_text(encoding="utf-8"))[0]
    docs = [dict(doc, title=f"doc {i}") for i in range(2000)]
    data = json.dumps(docs).encode("utf-8")
    fh = CountingReader(data)
    block = 4096
    it = iter(_ArrayScanner(fh, "big.json", block=block))
    assert next(it)["title"] == "doc 0"
    assert fh.bytes_read <= 2 * block < len(data) // 100
    assert sum(1 for _ in it) == 1999


def test_iter_documents_is_lazy(tmp_path: Path) -> None:
    """Documents before a broken one come out before the error (nothing waits for the whole file)."""
    docs = json.loads(FIXTURES.joinpath("docs.json").read_text(encoding="utf-8"))
    path = tmp_path / "broken_tail.json"
    path.write_text(json.dumps(docs)[:-1] + ', {"title": "X", "sents": [[', encoding="utf-8")
    it = iter_documents(path)
    assert [next(it).title for _ in docs] == [d["title"] for d in docs]
    with pytest.raises(DataError) as info:
        next(it)
    assert info.value.doc_index == len(docs) and "invalid JSON" in str(info.value) and str(path) in str(info.value)


def _error(fn, path: Path) -> tuple:
    try:
        fn(path)
    except DataError as exc:
        return exc.doc_index, exc.title, exc.field, str(exc)
    return None


def test_same_problems_as_the_in_memory_reader(tmp_path: Path) -> None:
    """Every DocRED file of the malformed corpus fails the same way read one document at a time:
    the same document, title and field; JSON-level faults name the file and what is wrong."""
    cases = json.loads(CORPUS.joinpath("cases.json").read_text(encoding="utf-8"))["cases"]
    checked = 0
    for case in cases:
        if case["reader"] != "read_documents" or not case["file"].endswith(".json"):
            continue
        path = CORPUS / case["file"]
        relations = None
        if "relations" in case:
            (tmp_path / "rel2id.json").write_text(json.dumps(case["relations"]), encoding="utf-8")
            relations = RelationInventory.from_file(tmp_path / "rel2id.json")
        want = _error(lambda p: read_documents(p, relations=relations), path)
        got = _error(lambda p: list(iter_documents(p, relations=relations)), path)
        assert want is not None and got is not None, case["file"]
        if want[0] is None:  # file-level: not JSON, not UTF-8, not a list, nested too deeply
            for fragment in case["fragments"]:
                assert fragment in got[3], (case["file"], got)
        else:
            assert got[:3] == want[:3], case["file"]
            assert got[3] == want[3]
        assert str(path) in got[3]
        checked += 1
    assert checked >= 25


def test_invalid_json_names_line_column_and_document(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n{"title": "a"},\n{"title": "b" "sents": []}\n]', encoding="utf-8")
    with pytest.raises(DataError) as info:
        list(iter_raw_documents(path))
    assert info.value.doc_index == 1
    assert "invalid JSON at line 3 column 15: Expecting ',' delimiter" in str(info.value)


@pytest.mark.parametrize("text,fragment", [
    ('{"title": "a"}', "top level must be a JSON list of documents, got dict"),
    ("", "the file is empty"),
    ("[{}, ]", "Expecting value"),
    ("[{} {}]", "expected ',' or ']' after a document"),
    ("[{}] x", "extra data after the list of documents"),
    ("[{}", "the file ends before the list is closed"),
    ('\ufeff[{}]', "byte order mark"),
])
def test_structural_errors(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        list(iter_raw_documents(path))
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_jsonl_reads_like_json_and_skips_blank_lines(tmp_path: Path) -> None:
    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))
    path = tmp_path / "sample.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in docs[:5]) + "\n\n   \n" + json.dumps(docs[5]) + "\n",
                    encoding="utf-8")
    assert list(iter_raw_documents(path)) == docs[:6]
    assert [d.to_json() for d in iter_documents(path)] == [d.to_json() for d in read_documents(SAMPLE)[:6]]
    assert [d.index for d in iter_documents(path)] == list(range(6))
    # the in-memory reader takes .jsonl too
    assert [d.to_json() for d in read_documents(path)] == [d.to_json() for d in read_documents(SAMPLE)[:6]]


def test_jsonl_errors_name_the_line_and_document(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps(json.loads(SAMPLE.read_text(encoding="utf-8"))[0])
    path.write_text(good + "\n\n" + '{"title": "b", }' + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        list(iter_documents(path))
    assert info.value.doc_index == 1 and "invalid JSON at line 3 column" in str(info.value)


def test_duplicate_title_found_without_holding_documents(tmp_path: Path) -> None:
    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))
    docs.append(dict(docs[3]))  # document 20 repeats document 3's title
    path = tmp_path / "dup.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in docs), encoding="utf-8")
    with pytest.raises(DataError) as info:
        scan_documents(path)
    exc = info.value
    assert (exc.doc_index, exc.title, exc.field) == (20, docs[3]["title"], "title")
    assert "first used by document 3" in str(exc)


def test_scan_counts_and_checks_labels(tmp_path: Path) -> None:
    assert scan_documents(SAMPLE) == 20
    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))
    del docs[4]["labels"]
    path = tmp_path / "unlabelled.json"
    path.write_text(json.dumps(docs), encoding="utf-8")
    assert scan_documents(path) == 20
    with pytest.raises(DataError) as info:
        scan_documents(path, require_labels=True)
    assert (info.value.doc_index, info.value.field) == (4, "labels")


def test_validate_stream_over_dicts_and_documents() -> None:
    raw = json.loads(SAMPLE.read_text(encoding="utf-8"))[:3]
    docs = list(validate_stream(iter(raw), "<documents>"))
    assert [d.title for d in docs] == [r["title"] for r in raw] and [d.index for d in docs] == [0, 1, 2]
    assert list(validate_stream(docs, "<documents>")) == docs  # Document objects pass through
    bad = raw + [{"title": "x", "sents": [["a"]], "vertexSet": [[{"name": "a", "sent_id": 0, "pos": [0, 2]}]]}]
    it = validate_stream(iter(bad), "<documents>")
    assert len([next(it) for _ in range(3)]) == 3
    with pytest.raises(DataError) as info:
        next(it)
    assert (info.value.file, info.value.doc_index, info.value.title, info.value.field) == \
        ("<documents>", 3, "x", "vertexSet[0][0].pos")
