"""CDR/GDA ``.data`` reader: a hand-written sample converts to exact DocRED dicts."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from data_prep import convert_biomed
from docre.data import documents_from_json, read_documents
from docre.data.biomed import biomed_relations, parse_biomed_lines, read_biomed_file
from docre.errors import DataError, DocreError


def arg(concept: str, names: list[str], typ: str, spans: list[tuple[int, int]], sent_ids: list[int]) -> list[str]:
    """The six fields of one pair argument (global token offsets)."""
    return [
        concept, "|".join(names), typ,
        ":".join(str(s) for s, _ in spans), ":".join(str(e) for _, e in spans), ":".join(map(str, sent_ids)),
    ]


def pair(label: str, direction: str, cross: str, closest: tuple[str, str], a1: list[str], a2: list[str]) -> list[str]:
    return [label, direction, cross, *closest, *a1, *a2]


def line(pmid: str, sents: list[str], *pairs: list[str]) -> str:
    return "\t".join([pmid, "|".join(sents)] + [f for p in pairs for f in p])


# Document 1: sentence 0 has tokens 0-5, sentence 1 tokens 6-16.
CISPLATIN = arg("D002945", ["Cisplatin", "cisplatin"], "Chemical", [(0, 1), (15, 16)], [0, 1])
NEPHRO = arg("D007674", ["nephrotoxicity", "renal damage"], "Disease", [(2, 3), (11, 13)], [0, 1])
THIO = arg("D013874", ["sodium thiosulfate"], "Chemical", [(8, 10)], [1])
LINE1 = line(
    "100001",
    ["Cisplatin induced nephrotoxicity in rats .",
     "Treatment with sodium thiosulfate reduced renal damage caused by cisplatin ."],
    pair("1:CID:2", "L2R", "NON-CROSS", ("0-1", "2-3"), CISPLATIN, NEPHRO),
    pair("1:NR:2", "R2L", "NON-CROSS", ("8-10", "11-13"), THIO, NEPHRO),
)

# Document 2: sentence 0 has tokens 0-4, sentence 1 tokens 5-14.
HALO = arg("D006220", ["Haloperidol"], "Chemical", [(0, 1)], [0])
DYSK = arg("D004409", ["dyskinesia"], "Disease", [(3, 4)], [0])
MOVEMENT = arg("D009069", ["movement disorder"], "Disease", [(6, 8)], [1])
LITHIUM = arg("D008094", ["lithium"], "Chemical", [(9, 10)], [1])
LINE2 = line(
    "100002",
    ["Haloperidol - associated dyskinesia .",
     "A movement disorder followed lithium exposure in one patient ."],
    pair("1:CID:2", "L2R", "NON-CROSS", ("0-1", "3-4"), HALO, DYSK),
    pair("not_include", "L2R", "CROSS", ("0-1", "6-8"), HALO, MOVEMENT),
    pair("1:CID:2", "R2L", "NON-CROSS", ("9-10", "6-8"), LITHIUM, MOVEMENT),
)

EXPECTED = [
    {
        "title": "100001",
        "sents": [
            ["Cisplatin", "induced", "nephrotoxicity", "in", "rats", "."],
            ["Treatment", "with", "sodium", "thiosulfate", "reduced", "renal", "damage", "caused", "by", "cisplatin", "."],
        ],
        "vertexSet": [
            [{"name": "Cisplatin", "sent_id": 0, "pos": [0, 1], "type": "Chemical"},
             {"name": "cisplatin", "sent_id": 1, "pos": [9, 10], "type": "Chemical"}],
            [{"name": "nephrotoxicity", "sent_id": 0, "pos": [2, 3], "type": "Disease"},
             {"name": "renal damage", "sent_id": 1, "pos": [5, 7], "type": "Disease"}],
            [{"name": "sodium thiosulfate", "sent_id": 1, "pos": [2, 4], "type": "Chemical"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "CID", "evidence": []}],
        "entity_ids": ["D002945", "D007674", "D013874"],
        "excluded_pairs": [],
    },
    {
        "title": "100002",
        "sents": [
            ["Haloperidol", "-", "associated", "dyskinesia", "."],
            ["A", "movement", "disorder", "followed", "lithium", "exposure", "in", "one", "patient", "."],
        ],
        "vertexSet": [
            [{"name": "Haloperidol", "sent_id": 0, "pos": [0, 1], "type": "Chemical"}],
            [{"name": "dyskinesia", "sent_id": 0, "pos": [3, 4], "type": "Disease"}],
            [{"name": "movement disorder", "sent_id": 1, "pos": [1, 3], "type": "Disease"}],
            [{"name": "lithium", "sent_id": 1, "pos": [4, 5], "type": "Chemical"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "CID", "evidence": []}, {"h": 3, "t": 2, "r": "CID", "evidence": []}],
        "entity_ids": ["D006220", "D004409", "D009069", "D008094"],
        "excluded_pairs": [[0, 2]],
    },
]


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.data"
    path.write_text(LINE1 + "\n" + LINE2 + "\n", encoding="utf-8")
    return path


def error_for(lines: list[str], corpus: str | None = "cdr") -> DataError:
    with pytest.raises(DataError) as info:
        parse_biomed_lines(lines, corpus, source="bad.data")
    return info.value


# ------------------------------------------------------------------- conversion
def test_sample_converts_to_exact_docred_dicts(sample_file: Path) -> None:
    assert read_biomed_file(sample_file) == EXPECTED
    assert read_biomed_file(sample_file, corpus="cdr") == EXPECTED


def test_mention_spans_point_at_the_mention_text(sample_file: Path) -> None:
    docs = read_biomed_file(sample_file)
    n = 0
    for doc in docs:
        for entity in doc["vertexSet"]:
            for m in entity:
                start, end = m["pos"]
                assert " ".join(doc["sents"][m["sent_id"]][start:end]) == m["name"]
                n += 1
    assert n == 9


def test_reader_dispatches_data_files(sample_file: Path) -> None:
    docs = read_documents(sample_file, relations=biomed_relations("cdr"), require_labels=True)
    assert [d.title for d in docs] == ["100001", "100002"]
    assert [(f.h, f.t, f.r) for f in docs[1].labels] == [(0, 1, "CID"), (3, 2, "CID")]
    assert docs[0].entities[1].names == {"nephrotoxicity", "renal damage"}
    assert docs[1].extra == {"entity_ids": EXPECTED[1]["entity_ids"], "excluded_pairs": [[0, 2]]}


def test_reversed_label_swaps_head_and_tail() -> None:
    flipped = LINE1.replace("1:CID:2", "2:CID:1")
    docs, corpus = parse_biomed_lines([flipped])
    assert corpus is not None and corpus.name == "cdr"
    assert docs[0]["labels"] == [{"h": 1, "t": 0, "r": "CID", "evidence": []}]


def test_gda_detected_from_entity_types() -> None:
    gene = arg("7124", ["TNF"], "Gene", [(0, 1)], [0])
    disease = arg("D003924", ["type 2 diabetes"], "Disease", [(4, 7)], [0])
    text = ["TNF variants and risk of type 2 diabetes ."]
    docs, corpus = parse_biomed_lines([line("200001", text, pair("1:GDA:2", "L2R", "NON-CROSS", ("0-1", "4-7"), gene, disease))])
    assert corpus is not None and corpus.name == "gda"
    assert docs[0]["labels"] == [{"h": 0, "t": 1, "r": "GDA", "evidence": []}]
    assert docs[0]["vertexSet"][0] == [{"name": "TNF", "sent_id": 0, "pos": [0, 1], "type": "Gene"}]
    documents_from_json(docs, relations=biomed_relations("gda"))


def test_blank_lines_and_crlf_are_tolerated() -> None:
    docs, _ = parse_biomed_lines(["", LINE1 + "\r\n", "   ", LINE2])
    assert docs == EXPECTED


def test_relations() -> None:
    cdr, gda = biomed_relations("CDR"), biomed_relations("gda")
    assert cdr.ids == ["Na", "CID"] and gda.ids == ["Na", "GDA"]
    assert cdr.name("CID") == "chemical-induced disease"
    assert gda.name("GDA") == "gene-disease association"
    with pytest.raises(DocreError, match="unknown biomedical corpus"):
        biomed_relations("bc5")


# ----------------------------------------------------------------------- errors
def test_wrong_field_count_names_line_and_field() -> None:
    short = LINE2.rsplit("\t", 1)[0]  # drop the last field of the last pair
    err = error_for([LINE1, short])
    assert err.doc_index == 1 and err.title == "100002" and err.field == "fields"
    assert "line 2" in str(err) and "field fields" in str(err)
    assert "got 52" in str(err) and "16 fields" in str(err)


def test_non_integer_span_names_column_and_field() -> None:
    bad = LINE1.replace("\t0:15\t", "\t0:x15\t", 1)
    err = error_for([bad])
    assert err.field == "pair[0].arg1.starts" and err.doc_index == 0 and err.title == "100001"
    assert "line 1, column 11" in str(err) and "'x15' is not an integer" in str(err)


def test_span_outside_document() -> None:
    bad = line("9", ["a b c"], pair("1:CID:2", "L2R", "NON-CROSS", ("0-1", "2-4"),
                                    arg("C1", ["a"], "Chemical", [(0, 1)], [0]),
                                    arg("D1", ["c d"], "Disease", [(2, 4)], [0])))
    err = error_for([bad])
    assert err.field == "pair[0].arg2.starts" and "outside the document (3 tokens)" in str(err)


def test_span_across_sentences_and_wrong_sentence_id() -> None:
    chem = arg("C1", ["a"], "Chemical", [(0, 1)], [0])
    across = line("9", ["a b", "c d"], pair("1:NR:2", "L2R", "NON-CROSS", ("0-1", "1-3"), chem,
                                            arg("D1", ["b c"], "Disease", [(1, 3)], [0])))
    assert "crosses the end of sentence 0" in str(error_for([across]))
    wrong_sid = line("9", ["a b", "c d"], pair("1:NR:2", "L2R", "NON-CROSS", ("0-1", "2-3"), chem,
                                               arg("D1", ["c"], "Disease", [(2, 3)], [0])))
    err = error_for([wrong_sid])
    assert err.field == "pair[0].arg2.sent_ids" and "lies in sentence 1" in str(err)


def test_mention_count_mismatch() -> None:
    bad = LINE1.replace("Cisplatin|cisplatin", "Cisplatin", 1)
    err = error_for([bad])
    assert err.field == "pair[0].arg1.starts" and "2 values for 1 mention names" in str(err)


def test_bad_label_duplicate_pmid_wrong_corpus_and_inconsistent_entity() -> None:
    assert error_for([LINE1.replace("1:CID:2", "CID", 1)]).field == "pair[0].label"
    err = error_for([LINE1, LINE1])
    assert err.field == "pmid" and "already used on line 1" in str(err) and err.doc_index == 1
    err = error_for([LINE1], corpus="gda")
    assert "relation 'CID' is not used by GDA" in str(err)
    other_nephro = arg("D007674", ["nephrotoxicity", "kidney damage"], "Disease", [(2, 3), (11, 13)], [0, 1])
    err = error_for([line("100001", ["a b c d e f", "g h i j k l m n o p q"],
                          pair("1:CID:2", "L2R", "NON-CROSS", ("0-1", "2-3"), CISPLATIN, NEPHRO),
                          pair("1:NR:2", "R2L", "NON-CROSS", ("8-10", "11-13"), THIO, other_nephro))])
    assert err.field == "pair[1].arg2.id" and "described differently" in str(err)


def test_undetectable_corpus() -> None:
    d1 = arg("D1", ["x"], "Disease", [(0, 1)], [0])
    d2 = arg("D2", ["y"], "Disease", [(1, 2)], [0])
    with pytest.raises(DataError, match="cannot tell whether this is CDR or GDA"):
        parse_biomed_lines([line("9", ["x y"], pair("1:NR:2", "L2R", "NON-CROSS", ("0-1", "1-2"), d1, d2))])


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.data"
    path.write_bytes(LINE1.encode("utf-8") + b"\n\xff\n")
    with pytest.raises(DataError, match=r"not valid UTF-8 \(line 2"):
        read_biomed_file(path)
    with pytest.raises(DataError, match="cannot read file"):
        read_biomed_file(tmp_path / "missing.data")


# ------------------------------------------------------------------ convert CLI
def test_convert_cli_writes_docred_json_and_rel2id(sample_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out" / "train.json"
    assert convert_biomed.main([str(sample_file), str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == EXPECTED
    assert json.loads((out.parent / "rel2id.json").read_text(encoding="utf-8")) == {"Na": 0, "CID": 1}
    assert "2 documents, 7 entities (9 mentions), 3 CID facts, 1 excluded pairs (CDR)" in capsys.readouterr().out
    # same folder, same corpus: fine; a GDA conversion there would clash with rel2id.json
    assert convert_biomed.main([str(sample_file), str(out.parent / "dev.json"), "--corpus", "cdr"]) == 0
    gda = tmp_path / "gda.data"
    gda.write_text(line("1", ["TNF diabetes"], pair("1:GDA:2", "L2R", "NON-CROSS", ("0-1", "1-2"),
                                                    arg("7124", ["TNF"], "Gene", [(0, 1)], [0]),
                                                    arg("D003924", ["diabetes"], "Disease", [(1, 2)], [0]))),
                   encoding="utf-8")
    with pytest.raises(DocreError, match="already exists with different contents"):
        convert_biomed.convert(gda, out.parent / "gda.json")
    assert not (out.parent / "gda.json").exists()
    assert convert_biomed.convert(gda, tmp_path / "gda" / "train.json")["facts"] == 1


def test_convert_cli_reports_bad_input_with_exit_code_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.data"
    bad.write_text(LINE1.rsplit("\t", 1)[0] + "\n", encoding="utf-8")
    out = tmp_path / "bad.json"
    assert convert_biomed.main([str(bad), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 1" in err and "field fields" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "rel2id.json").exists()


# -------------------------------------------------------------- real CDR files
DATA_DIR = os.environ.get("DOCRE_DATA_DIR")


@pytest.mark.skipif(not DATA_DIR, reason="set DOCRE_DATA_DIR to a folder holding cdr/train_filter.data and cdr/dev_filter.data")
@pytest.mark.parametrize("name, entities, facts", [("train_filter.data", 3432, 1038), ("dev_filter.data", 3371, 1012)])
def test_real_cdr_files_convert_and_validate(name: str, entities: int, facts: int) -> None:
    path = Path(DATA_DIR) / "cdr" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    docs = read_documents(path, relations=biomed_relations("cdr"), require_labels=True)
    assert len(docs) == 500
    assert sum(len(d.entities) for d in docs) == entities
    assert sum(len(d.labels) for d in docs) == facts
    assert {e.type for d in docs for e in d.entities} == {"Chemical", "Disease"}
