"""Model features: entity markers, subword offsets, ordered entity pairs, multi-hot labels.

ATLOP's input: a marker ``*`` before and after every mention, the document tokenised by the
encoder's tokenizer, ``[CLS] ... [SEP]``. A mention is represented by its opening marker, so
``DocFeatures.mention_pos[m]`` is the position of the token just before the mention's first
word piece. Features are cached on disk keyed by file content + tokenizer + max length.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from docre.data.documents import Document
from docre.data.relations import RelationInventory
from docre.utils.io import atomic_write_text

logger = logging.getLogger(__name__)

FEATURES_VERSION = 2  # 2: sentence starts and per-pair gold evidence
MARKER = "*"


@dataclass
class DocFeatures:
    """Everything the model needs of one document.

    Positions are indices into ``input_ids`` (which start with the CLS/BOS token).
    ``entity_pairs`` lists every ordered pair (h, t), h != t, in :meth:`Document.entity_pairs`
    order; ``labels`` gives, per pair index, its gold class indices (empty: NA), or is None
    for unlabelled documents.
    """

    title: str
    doc_index: int
    input_ids: list[int]
    mention_pos: list[int]  # [M] opening-marker position of each kept mention
    entity_mentions: list[list[int]]  # per entity: indices into mention_pos
    mention_ref: list[tuple[int, int]]  # [M] (entity index, mention index within the entity)
    word_pos: list[int]  # [num_words] first subword of each word (-1: truncated away)
    entity_pairs: list[tuple[int, int]]
    labels: Optional[list[list[int]]] = None
    num_truncated_mentions: int = 0
    num_mentions: int = 0
    sent_pos: list[int] = field(default_factory=list)  # [S] first subword of each sentence (-1: truncated away)
    evidence: Optional[list[list[int]]] = None  # per pair index: gold evidence sentence ids (union over its facts)

    @property
    def num_entities(self) -> int:
        return len(self.entity_mentions)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "DocFeatures":
        obj = dict(obj)
        obj["entity_pairs"] = [tuple(p) for p in obj["entity_pairs"]]
        obj["mention_ref"] = [tuple(p) for p in obj["mention_ref"]]
        return cls(**obj)

    def sentence_spans(self) -> list[tuple[int, int]]:
        """``[start, end)`` subword range of each sentence in ``input_ids`` (``(0, 0)``: truncated
        away); the last sentence ends before the closing special token."""
        n = len(self.input_ids) - 1
        spans = []
        for s, start in enumerate(self.sent_pos):
            nxt = next((p for p in self.sent_pos[s + 1:] if p >= 0), n)
            spans.append((start, nxt) if start >= 0 else (0, 0))
        return spans


def special_token_ids(tokenizer: Any) -> tuple[int, int]:
    """(start, end) special tokens: CLS/SEP for BERT-likes, BOS/EOS for RoBERTa-likes."""
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if start is None or end is None:
        raise ValueError("the tokenizer has neither CLS/SEP nor BOS/EOS tokens")
    return int(start), int(end)


def _marked_words(doc: Document, markers: bool = True
                  ) -> tuple[list[str], list[int], list[list[int]], list[int]]:
    """Words with ``*`` inserted around mentions (``markers = False``: the words alone).

    Returns (pieces, word_piece: piece index of each word, mention_piece: per entity, per
    mention, the piece index of its opening marker, or of its first word without markers,
    sent_piece: the first piece of each sentence, its opening marker included).
    """
    offsets, total = [], 0
    for s in doc.sents:
        offsets.append(total)
        total += len(s)
    starts: dict[int, None] = {}
    ends: dict[int, None] = {}
    for ent in doc.entities:
        for m in ent.mentions:
            starts[offsets[m.sent_id] + m.start] = None
            ends[offsets[m.sent_id] + m.end - 1] = None
    pieces: list[str] = []
    word_piece: list[int] = []
    start_piece: dict[int, int] = {}
    sent_piece: list[int] = []
    w = 0
    for s in doc.sents:
        sent_piece.append(len(pieces))
        for word in s:
            if w in starts:
                start_piece[w] = len(pieces)
                if markers:
                    pieces.append(MARKER)
            word_piece.append(len(pieces))
            pieces.append(word)
            if w in ends and markers:
                pieces.append(MARKER)
            w += 1
    mention_piece = [[start_piece[offsets[m.sent_id] + m.start] for m in ent.mentions] for ent in doc.entities]
    return pieces, word_piece, mention_piece, sent_piece


def featurize_documents(
    docs: Sequence[Document],
    tokenizer: Any,
    relations: RelationInventory,
    max_seq_length: int = 1024,
    batch_size: int = 64,
    progress: bool = False,
    markers: bool = True,
) -> list[DocFeatures]:
    """Tokenise documents with entity markers (fast tokenizer, batched).

    ``max_seq_length`` counts the two special tokens; 0 means no limit. Mentions whose
    marker falls past the cut are dropped and counted in ``num_truncated_mentions``.
    ``markers = False``: no markers; ``mention_pos`` is then each mention's first subword
    (``data.entity_markers``).
    """
    from tqdm.auto import tqdm

    start_id, end_id = special_token_ids(tokenizer)
    out: list[DocFeatures] = []
    bar = tqdm(total=len(docs), desc="features", unit="doc", disable=not progress, leave=False)
    for b in range(0, len(docs), batch_size):
        chunk = docs[b: b + batch_size]
        marked = [_marked_words(d, markers) for d in chunk]
        enc = tokenizer([m[0] for m in marked], is_split_into_words=True, add_special_tokens=False)
        for i, doc in enumerate(chunk):
            pieces, word_piece, mention_piece, sent_piece = marked[i]
            ids = enc["input_ids"][i]
            piece_first = [-1] * (len(pieces) + 1)
            for tok, pid in enumerate(enc.word_ids(i)):
                if pid is not None and piece_first[pid] < 0:
                    piece_first[pid] = tok
            # a piece the tokenizer dropped (e.g. a control character) maps to the next token
            nxt = len(ids)
            for p in range(len(pieces) - 1, -1, -1):
                if piece_first[p] < 0:
                    piece_first[p] = nxt
                else:
                    nxt = piece_first[p]
            limit = len(ids) if max_seq_length <= 0 else min(len(ids), max_seq_length - 2)
            input_ids = [start_id] + ids[:limit] + [end_id]
            word_pos = [piece_first[p] + 1 if piece_first[p] < limit else -1 for p in word_piece]
            sent_pos = [piece_first[p] + 1 if piece_first[p] < limit else -1 for p in sent_piece]
            mention_pos: list[int] = []
            entity_mentions: list[list[int]] = []
            mention_ref: list[tuple[int, int]] = []
            truncated = 0
            for e, ent_pieces in enumerate(mention_piece):
                kept = []
                for k, p in enumerate(ent_pieces):
                    tok = piece_first[p]
                    if tok < limit:
                        kept.append(len(mention_pos))
                        mention_pos.append(tok + 1)
                        mention_ref.append((e, k))
                    else:
                        truncated += 1
                entity_mentions.append(kept)
            pairs = list(doc.entity_pairs())
            labels = evidence = None
            if doc.labels is not None:
                pair_idx = {p: j for j, p in enumerate(pairs)}
                labels = [[] for _ in pairs]
                evidence = [[] for _ in pairs]
                for f in doc.labels:
                    if f.r not in relations:
                        continue
                    c = relations.index(f.r)
                    lab = labels[pair_idx[(f.h, f.t)]]
                    if c not in lab:
                        lab.append(c)
                    evi = evidence[pair_idx[(f.h, f.t)]]
                    evi.extend(e for e in f.evidence if e not in evi)
            out.append(DocFeatures(
                title=doc.title, doc_index=doc.index, input_ids=input_ids, mention_pos=mention_pos,
                entity_mentions=entity_mentions, mention_ref=mention_ref, word_pos=word_pos,
                entity_pairs=pairs, labels=labels, num_truncated_mentions=truncated,
                num_mentions=sum(len(e.mentions) for e in doc.entities), sent_pos=sent_pos, evidence=evidence,
            ))
        bar.update(len(chunk))
    bar.close()
    return out


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of the tokenizer's vocabulary and class (for the feature cache key)."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    vocab = tokenizer.get_vocab()
    h.update(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode())
    h.update(str(getattr(tokenizer, "do_lower_case", "")).encode())
    return h.hexdigest()[:16]


def report_truncation(features: Sequence[DocFeatures], source: str, max_seq_length: int) -> int:
    """Log, once per file, how many mentions fell past ``max_seq_length``; return the count."""
    lost = sum(f.num_truncated_mentions for f in features)
    if lost:
        docs = sum(1 for f in features if f.num_truncated_mentions)
        empty = [f for f in features if any(not m for m in f.entity_mentions) and f.num_truncated_mentions]
        logger.warning(
            "%s: %d mentions in %d documents lie past max_seq_length=%d and are dropped; %d documents have "
            "entities left with no mention (scored from a zero vector). Raise data.max_seq_length or set it "
            "to 0 (sliding windows over the whole document).", source, lost, docs, max_seq_length, len(empty))
    return lost


def load_features(
    docs: Sequence[Document],
    source_bytes_hash: str,
    tokenizer: Any,
    relations: RelationInventory,
    max_seq_length: int,
    cache_dir: Optional[Path],
    progress: bool = False,
    markers: bool = True,
) -> list[DocFeatures]:
    """Features for ``docs``, from the cache when the key matches, else computed and cached."""
    parts: list[Any] = [FEATURES_VERSION, source_bytes_hash, tokenizer_fingerprint(tokenizer), max_seq_length,
                        relations.ids, [d.index for d in docs]]
    if not markers:  # keys of marked features stay as they were
        parts.append("no-markers")
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    path = cache_dir / f"features-{key}.json" if cache_dir is not None else None
    if path is not None and path.exists():
        try:
            return [DocFeatures.from_json(o) for o in json.loads(path.read_text(encoding="utf-8"))]
        except (ValueError, TypeError, KeyError):
            logger.warning("ignoring unreadable feature cache %s", path)
    feats = featurize_documents(docs, tokenizer, relations, max_seq_length, progress=progress, markers=markers)
    if path is not None:
        atomic_write_text(path, json.dumps([f.to_json() for f in feats]))
    return feats


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
