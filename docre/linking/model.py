"""The linker: a bi-encoder on the shared (frozen) document encoder, plus a small scorer.

For an entity e with mentions m and candidate titles c (:mod:`docre.linking.features`):

- mention embedding y_m: the mean of the document encoder's last hidden states over m's subwords
  (ELQ's mention vector; documents longer than a window go through the encoder's sliding windows);
- title embedding x_c: the mean of the same encoder's hidden states over the title's tokens (the title's
  words, and its type where the training data gives one); cached by title string;
- bi-encoder scores: s(m, c) = (A y_m) . (B x_c) / sqrt(k) with learned projections A, B, and the
  frozen encoder's cosine cos(y_m, x_c); each aggregated over e's mentions by max and mean;
- candidate score: an MLP over the candidate features (priors, alias table, string and type
  agreement) and the four aggregated bi-encoder scores; NIL score: an MLP over the NIL features
  (the learned threshold: NIL wins when no candidate scores above it);
- p(option | e) = softmax over [NIL, candidates]; the loss is its cross-entropy with the gold option.

The encoder is frozen (its outputs are cached per document and per title, so that training after the
first epoch costs only the scorer); only A, B and the two MLPs learn.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from docre.config import Config
from docre.data.relations import RelationInventory
from docre.linking.aliases import AliasTable
from docre.linking.features import CANDIDATE_FEATURES, IGNORE, NIL_FEATURES, LinkFeatures
from docre.models.batch import Batch, HeadOutput
from docre.models.encoder import DocumentEncoder
from docre.models.model import DocREModel, document_encoder, load_encoder_module

#: aggregated bi-encoder scores added to the candidate features: cos max/mean, projected max/mean
N_BIENCODER = 4


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` ``[N, L, d]`` over the positions where ``mask`` ``[N, L]`` is 1 -> ``[N, d]``."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def span_means(hidden: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` ``[L, d]`` over each span ``[starts[i], ends[i])`` -> ``[S, d]`` (cumulative sums)."""
    csum = torch.cat([hidden.new_zeros(1, hidden.size(1)), hidden.cumsum(0)])  # [L+1, d]
    width = (ends - starts).clamp(min=1).unsqueeze(1).to(hidden.dtype)
    return (csum[ends] - csum[starts]) / width


def _doc_key_from_json(key: list) -> tuple:
    """A document cache key (title, input ids, span starts, span ends) back from its JSON form."""
    ids, starts, ends, title = key
    return (title, tuple(ids), tuple(starts), tuple(ends))


class LinkScorer(nn.Module):
    """Projections A, B (bi-encoder) and the candidate / NIL MLPs."""

    def __init__(self, hidden_size: int, proj_size: int, mlp_size: int):
        super().__init__()
        self.mention_proj = nn.Linear(hidden_size, proj_size)  # A
        self.title_proj = nn.Linear(hidden_size, proj_size)  # B
        self.scale = 1.0 / math.sqrt(proj_size)
        n_in = len(CANDIDATE_FEATURES) + N_BIENCODER
        self.candidate_mlp = nn.Sequential(nn.Linear(n_in, mlp_size), nn.GELU(), nn.Linear(mlp_size, 1))
        self.nil_mlp = nn.Sequential(nn.Linear(len(NIL_FEATURES), mlp_size), nn.GELU(), nn.Linear(mlp_size, 1))

    def forward(self, mentions: torch.Tensor, mention_mask: torch.Tensor, titles: torch.Tensor,
                cand_feats: torch.Tensor, cand_mask: torch.Tensor, nil_feats: torch.Tensor) -> torch.Tensor:
        """Option logits of a document's entities.

        Args:
            mentions: ``[E, M, d]`` mention embeddings (padded), mention_mask ``[E, M]``;
            titles: ``[E, C, d]`` candidate title embeddings (padded), cand_mask ``[E, C]``;
            cand_feats: ``[E, C, F]``; nil_feats: ``[E, G]``.
        Returns:
            ``[E, 1 + C]``: NIL, then the candidates (padding: -inf).
        """
        mm = mention_mask.unsqueeze(2).to(mentions.dtype)  # [E, M, 1]
        n_m = mm.sum(1).clamp(min=1.0)  # [E, 1]
        cos = torch.einsum("emd,ecd->emc", nn.functional.normalize(mentions, dim=-1),
                           nn.functional.normalize(titles, dim=-1))  # [E, M, C]
        proj = torch.einsum("emk,eck->emc", self.mention_proj(mentions), self.title_proj(titles)) * self.scale
        neg = torch.finfo(cos.dtype).min

        def agg(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            best = s.masked_fill(mm == 0, neg).amax(1)  # [E, C]
            best = torch.where(mm.sum(1) > 0, best, torch.zeros_like(best))  # no kept mention: 0
            return best, (s * mm).sum(1) / n_m

        feats = torch.cat([cand_feats, *[x.unsqueeze(-1) for x in (*agg(cos), *agg(proj))]], dim=-1)  # [E, C, F+4]
        scores = self.candidate_mlp(feats).squeeze(-1).masked_fill(~cand_mask, float("-inf"))  # [E, C]
        return torch.cat([self.nil_mlp(nil_feats), scores], dim=1)


class LinkerModel(DocREModel):
    """Encoder (frozen) + :class:`LinkScorer`; saves and loads as a model directory with ``aliases.json``.

    ``forward(batch)`` returns a :class:`HeadOutput` whose ``logits`` are, per document, the ``[E, 1 + C]``
    option logits of its entities, and the cross-entropy loss over entities with a usable gold option.
    """

    def __init__(self, encoder: DocumentEncoder, head: nn.Module, config: Config, relations: RelationInventory):
        super().__init__(encoder, head, config, relations)
        self.aliases = AliasTable()
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self._doc_cache: dict[Any, torch.Tensor] = {}
        self._title_cache: dict[str, torch.Tensor] = {}

    @classmethod
    def build(cls, config: Config, relations: RelationInventory, tokenizer: Any,
              encoder_module: Optional[nn.Module] = None, encoder_config: Any = None) -> "LinkerModel":
        mc, lc = config.model, config.linker
        if encoder_module is None:
            encoder_module = load_encoder_module(mc, encoder_config)
        encoder = document_encoder(mc, tokenizer, encoder_module)
        head = LinkScorer(encoder.hidden_size, lc.proj_size, lc.hidden_size)
        return cls(encoder, head, config, relations)

    def train(self, mode: bool = True) -> "LinkerModel":
        """The frozen encoder stays in eval mode (no dropout: its cached outputs stay valid)."""
        super().train(mode)
        self.encoder.eval()
        return self

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"encoder": list(self.encoder.parameters()), "new": list(self.head.parameters())}

    # ------------------------------------------------------------------ encoding (cached)
    @torch.no_grad()
    def _mention_embeddings(self, feats: list[LinkFeatures]) -> list[torch.Tensor]:
        """Per document, ``[S, d]`` span means of its kept mentions (cached by input and spans)."""
        device = next(self.head.parameters()).device
        keys = [(f.title, tuple(f.input_ids), tuple(f.span_start), tuple(f.span_end)) for f in feats]
        todo = [i for i, k in enumerate(keys) if k not in self._doc_cache]
        if todo:
            ids = [torch.tensor(feats[i].input_ids, dtype=torch.long) for i in todo]
            empty = [torch.zeros(0, dtype=torch.long) for _ in todo]
            encoded = self.encoder(ids, empty)
            for i, enc in zip(todo, encoded):
                f = feats[i]
                starts = torch.tensor(f.span_start, dtype=torch.long, device=enc.hidden.device)
                ends = torch.tensor(f.span_end, dtype=torch.long, device=enc.hidden.device)
                self._doc_cache[keys[i]] = span_means(enc.hidden.float(), starts, ends).cpu()
        return [self._doc_cache[k].to(device) for k in keys]

    @torch.no_grad()
    def _title_embeddings(self, feats: list[LinkFeatures]) -> None:
        """Encode the batch's title strings not in the cache (``linker.title_batch_size`` at a time)."""
        todo: dict[str, list[int]] = {}
        for f in feats:
            for k, ids in f.title_ids.items():
                if k not in self._title_cache:
                    todo[k] = ids
        if not todo:
            return
        device = next(self.encoder.parameters()).device
        keys = sorted(todo, key=lambda k: len(todo[k]))
        bs = self.config.linker.title_batch_size
        for s in range(0, len(keys), bs):
            chunk = keys[s: s + bs]
            width = max(len(todo[k]) for k in chunk)
            ids = torch.full((len(chunk), width), self.encoder.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, k in enumerate(chunk):
                ids[i, : len(todo[k])] = torch.tensor(todo[k])
                mask[i, : len(todo[k])] = 1
            out = self.encoder.model(input_ids=ids.to(device), attention_mask=mask.to(device), return_dict=True)
            pooled = masked_mean(out.last_hidden_state.float(), mask.to(device)).cpu()  # [n, d]
            for k, v in zip(chunk, pooled):
                self._title_cache[k] = v

    def clear_cache(self) -> None:
        """Forget the cached document and title encodings."""
        self._doc_cache.clear()
        self._title_cache.clear()

    # ------------------------------------------------------------------ the encodings on disk
    def encoder_fingerprint(self) -> str:
        """Identifies the frozen encoder's outputs: its config and a hash of its weights."""
        import hashlib
        import json as _json

        h = hashlib.sha256(_json.dumps(self.encoder.model.config.to_dict(), sort_keys=True, default=str).encode())
        for name, t in sorted(self.encoder.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().float().cpu().contiguous().numpy().tobytes()[:4096])
        return h.hexdigest()[:16]

    def load_encodings(self, path: Path) -> int:
        """Fill the caches from a file written by :meth:`save_encodings` (same encoder only). Returns entries read."""
        from safetensors.torch import load_file

        if not path.is_file():
            return 0
        try:
            state = load_file(str(path))
        except Exception:  # a damaged cache is only a cache: encode again
            return 0
        import json as _json

        meta = _json.loads(path.with_suffix(".json").read_text(encoding="utf-8")) \
            if path.with_suffix(".json").is_file() else {}
        if meta.get("fingerprint") != self.encoder_fingerprint():
            return 0
        docs, titles = meta.get("docs", []), meta.get("titles", [])
        for i, key in enumerate(docs):
            self._doc_cache[_doc_key_from_json(key)] = state[f"d{i}"]
        if titles:
            for key, row in zip(titles, state["titles"]):
                self._title_cache[key] = row
        self._saved_sizes = (len(self._doc_cache), len(self._title_cache))
        return len(docs) + len(titles)

    def save_encodings(self, path: Path) -> bool:
        """Write the caches (safetensors + a JSON index) when they grew since the last save/load."""
        from safetensors.torch import save_file

        from docre.utils.io import atomic_path, atomic_write_json

        sizes = (len(self._doc_cache), len(self._title_cache))
        if sizes == getattr(self, "_saved_sizes", (0, 0)):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        docs = list(self._doc_cache)
        titles = list(self._title_cache)
        state = {f"d{i}": self._doc_cache[k].contiguous() for i, k in enumerate(docs)}
        if titles:
            state["titles"] = torch.stack([self._title_cache[k] for k in titles]).contiguous()
        with atomic_path(path) as tmp:
            save_file(state, str(tmp))
        atomic_write_json(path.with_suffix(".json"), {"fingerprint": self.encoder_fingerprint(),
                                                      "docs": [list(map(list, k[1:])) + [k[0]] for k in docs],
                                                      "titles": titles}, indent=None)
        self._saved_sizes = sizes
        return True

    # ------------------------------------------------------------------ forward
    def _forward(self, batch: Batch, phase: str, return_details: bool) -> HeadOutput:
        feats: list[LinkFeatures] = batch.features  # type: ignore[assignment]
        device = next(self.head.parameters()).device
        todo = [f for f in feats if "_scorer_inputs" not in f.__dict__]
        encoded = dict(zip(map(id, todo), self._mention_embeddings(todo))) if todo else {}
        if todo:
            self._title_embeddings(todo)
        logits, losses = [], []
        for f in feats:
            sp = encoded.get(id(f))
            n_ent = len(f.cand_titles)
            if n_ent == 0:
                logits.append(torch.zeros(0, 1, device=device))
                continue
            mentions, mmask, titles, cmask, cfeat, nfeat = self._inputs(f, sp, device)
            out = self.head(mentions, mmask, titles, cfeat, cmask, nfeat)  # [E, 1 + C]
            logits.append(out)
            gold = torch.tensor(f.gold, dtype=torch.long, device=device)
            if bool((gold != IGNORE).any()):
                losses.append(nn.functional.cross_entropy(out, gold, ignore_index=IGNORE, reduction="sum"))
        n_gold = sum(int(sum(g != IGNORE for g in f.gold)) for f in feats)
        loss = None
        if losses:
            loss = torch.stack(losses).sum() / max(1, n_gold)
        elif self.training:
            loss = sum(p.sum() * 0.0 for p in self.head.parameters())
        stats = {"entities": float(n_gold)}
        terms = {"theta": (loss, n_gold)} if loss is not None else {}
        return HeadOutput(logits=logits, loss=loss, stats=stats, loss_terms=terms)

    def _inputs(self, f: LinkFeatures, spans: Optional[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, ...]:
        """A document's padded scorer inputs (the encoder is frozen: built once per feature object and kept on it).

        Returns mentions ``[E, M, d]``, mention mask ``[E, M]``, titles ``[E, C, d]``, candidate mask
        ``[E, C]``, candidate features ``[E, C, F]`` and NIL features ``[E, G]``.
        """
        kept = f.__dict__.get("_scorer_inputs")
        if kept is not None and kept[0].device == device:
            return kept
        if spans is None:  # kept for another device
            spans = self._mention_embeddings([f])[0]
            self._title_embeddings([f])
        d = self.encoder.hidden_size
        n_ent = len(f.cand_titles)
        per_ent: list[list[int]] = [[] for _ in range(n_ent)]
        for s, e in enumerate(f.span_entity):
            per_ent[e].append(s)
        n_m = max(1, max(len(x) for x in per_ent))
        n_c = max(1, max(len(x) for x in f.cand_titles))
        mentions = torch.zeros(n_ent, n_m, d)
        mmask = torch.zeros(n_ent, n_m, dtype=torch.bool)
        titles = torch.zeros(n_ent, n_c, d)
        cmask = torch.zeros(n_ent, n_c, dtype=torch.bool)
        cfeat = torch.zeros(n_ent, n_c, len(CANDIDATE_FEATURES))
        spans = spans.cpu()
        for e in range(n_ent):
            if per_ent[e]:
                mentions[e, : len(per_ent[e])] = spans[per_ent[e]]
                mmask[e, : len(per_ent[e])] = True
            k = len(f.cand_keys[e])
            if k:
                titles[e, :k] = torch.stack([self._title_cache[t] for t in f.cand_keys[e]])
                cmask[e, :k] = True
                cfeat[e, :k] = torch.tensor(f.cand_feats[e])
        nfeat = torch.tensor(f.nil_feats, dtype=torch.float)
        kept = tuple(t.to(device) for t in (mentions, mmask, titles, cmask, cfeat, nfeat))
        f.__dict__["_scorer_inputs"] = kept
        return kept

    # ------------------------------------------------------------------ saving
    def save(self, directory: str | Path, tokenizer: Any, metrics: Optional[dict] = None) -> None:
        """A model directory (:meth:`DocREModel.save`) plus the alias table (``aliases.json``)."""
        super().save(directory, tokenizer, metrics)
        self.aliases.save(directory)

    def load_assets(self, directory: str | Path) -> None:
        """Read the alias table of a model directory (called by :meth:`DocREModel.load`)."""
        self.aliases = AliasTable.load(directory)
