"""The whole model: encoder + a registered head; saving and loading model directories.

A model directory holds ``config.json`` (resolved config + docre version),
``model.safetensors``, ``relations.json``, ``encoder/config.json`` (the encoder's
architecture), ``tokenizer/`` and, after training, ``metrics.json``. Loading needs no
network and no pickle.
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any, ContextManager, Optional

import torch
from torch import nn

from docre import __version__
from docre.config import Config, config_from_dict
from docre.data.features import file_hash, special_token_ids
from docre.data.relations import RelationInventory
from docre.errors import ConfigError, DocreError, ModelDirError
from docre.models.batch import Batch, HeadOutput
from docre.models.encoder import DocumentEncoder, load_pretrained_encoder, resolve_encoder_path
from docre.models.heads.registry import build_head
from docre.models.precision import autocast_for
from docre.utils.io import atomic_path, atomic_write_json

logger = logging.getLogger(__name__)

_CHECK_KEYS = ("weights_sha256", "relations_sha256", "num_classes")
MODEL_FILES = ("config.json", "model.safetensors", "relations.json", "encoder/config.json", "tokenizer")


def load_encoder_module(model_cfg: Any, encoder_config: Any = None) -> nn.Module:
    """The pretrained encoder ``model.encoder`` names (or one built from ``encoder_config``, no weights)."""
    return load_pretrained_encoder(resolve_encoder_path(model_cfg.encoder), model_cfg.attention,
                                   attention_dropout=model_cfg.attention_dropout, from_config=encoder_config)


def document_encoder(model_cfg: Any, tokenizer: Any, module: nn.Module) -> DocumentEncoder:
    """``module`` as a :class:`DocumentEncoder` (special tokens of ``tokenizer``, windows of ``model``)."""
    start, end = special_token_ids(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return DocumentEncoder(module, start, end, pad, model_cfg.window, model_cfg.window_stride, model_cfg.attention)


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, use_fast=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load tokenizer {path!r}: {exc}") from exc
    if not getattr(tok, "is_fast", False):
        raise ConfigError(f"tokenizer {path!r} has no fast (Rust) version; docre needs word offsets")
    tok.model_max_length = 10**9  # documents are windowed by docre, not truncated by the tokenizer
    return tok


class DocREModel(nn.Module):
    """Encoder + relation head.

    ``forward(batch, phase)`` returns a :class:`HeadOutput` (per-document entity-pair
    logits, the loss of ``phase`` when the batch has labels, scalars to log).
    """

    def __init__(self, encoder: DocumentEncoder, head: nn.Module, config: Config, relations: RelationInventory):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.config = config
        self.relations = relations
        #: precision of prediction in eval mode (:mod:`docre.models.precision`); training: accelerate's
        self.inference_precision = "fp32"

    def precision_scope(self) -> ContextManager:
        """Autocast for ``inference_precision`` in eval mode; nothing in training or at fp32."""
        if self.training:
            return contextlib.nullcontext()
        return autocast_for(self.inference_precision, next(self.parameters()).device)

    @property
    def supports_evidence(self) -> bool:
        """Whether ``forward(..., return_evidence=True)`` gives evidence inputs (relation models)."""
        return self.config.model.task == "relation"

    def forward(self, batch: Batch, phase: str = "joint", return_details: bool = False,
                return_evidence: bool = False) -> HeadOutput:
        """:meth:`_forward` in the prediction precision (:meth:`precision_scope`).

        ``return_evidence``: ``HeadOutput.evidence`` holds, per document, what the evidence scores
        read (:mod:`docre.evidence.attach`): ``mention_att`` ``[M, heads, L]`` and the head's own."""
        with self.precision_scope():
            if return_evidence:
                return self._forward(batch, phase, return_details, return_evidence=True)
            return self._forward(batch, phase, return_details)

    def _forward(self, batch: Batch, phase: str, return_details: bool, return_evidence: bool = False) -> HeadOutput:
        needs_grad = getattr(self.head, "encoder_needs_grad", lambda p: True)(phase)
        with torch.set_grad_enabled(torch.is_grad_enabled() and needs_grad):
            encoded = self.encoder(batch.input_ids, batch.mention_pos)
        kwargs = {"return_evidence": True} if return_evidence else {}
        out = self.head(encoded, batch, phase=phase, return_details=return_details, **kwargs)
        if return_evidence:
            out.evidence = [{**(own or {}), "mention_att": enc.query_att}
                            for own, enc in zip(out.evidence or [None] * len(encoded), encoded)]
        weight = self.config.train.evidence_weight
        if (weight > 0 and self.training and needs_grad and out.loss is not None and batch.has_labels
                and phase not in ("e", "eval")):
            self._add_evidence_loss(out, encoded, batch, weight)
        return out

    @staticmethod
    def _add_evidence_loss(out: HeadOutput, encoded: list, batch: Batch, weight: float) -> None:
        """``loss += weight * L_evidence`` (:mod:`docre.evidence.loss`), logged as ``loss_evidence``."""
        from docre.evidence.loss import evidence_loss

        l_evi, n = evidence_loss([enc.query_att for enc in encoded], batch.features)
        if l_evi is None:
            return
        out.loss = out.loss + weight * l_evi
        out.loss_terms["evidence"] = (weight * l_evi, n)
        out.stats["loss_evidence"] = float(l_evi.detach())

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by learning-rate group: 'encoder' (pretrained), 'new' (head), and any
        head-specific groups the head declares (e.g. KMGRE's 'omega')."""
        groups: dict[str, list[nn.Parameter]] = {"encoder": list(self.encoder.parameters())}
        head_groups = self.head.parameter_groups() if hasattr(self.head, "parameter_groups") else {
            "new": list(self.head.parameters())}
        groups.update(head_groups)
        return groups

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, config: Config, relations: RelationInventory, tokenizer: Any,
              encoder_module: Optional[nn.Module] = None, encoder_config: Any = None) -> "DocREModel":
        """Build from a config: the encoder's pretrained weights (or ``encoder_module`` /
        an untrained model from ``encoder_config``) and a fresh head.

        ``model.task = end_to_end`` builds a :class:`docre.e2e.model.JointModel` (this model
        plus mention detection and coreference), which saves and loads the same way."""
        if config.model.task == "end_to_end" and cls is DocREModel:
            from docre.e2e.model import JointModel

            return JointModel.build(config, relations, tokenizer, encoder_module, encoder_config)
        if config.model.task == "linker" and cls is DocREModel:
            from docre.linking.model import LinkerModel

            return LinkerModel.build(config, relations, tokenizer, encoder_module, encoder_config)
        mc = config.model
        if encoder_module is None:
            encoder_module = load_encoder_module(mc, encoder_config)

        def make_encoder(module: nn.Module) -> DocumentEncoder:
            return document_encoder(mc, tokenizer, module)

        encoder = make_encoder(encoder_module)

        def encoder_factory() -> DocumentEncoder:
            """A second encoder of the same architecture (KMGRE key_encoder='separate')."""
            if encoder_config is not None:
                module = load_pretrained_encoder("", mc.attention, from_config=encoder_module.config,
                                                 attention_dropout=mc.attention_dropout)
            else:
                module = load_pretrained_encoder(resolve_encoder_path(mc.encoder), mc.attention,
                                                 attention_dropout=mc.attention_dropout)
            return make_encoder(module)

        head = build_head(mc.head, hidden_size=encoder.hidden_size, num_heads=encoder.num_heads,
                          num_classes=relations.num_classes, model_cfg=mc, kmgre_cfg=config.kmgre,
                          encoder_factory=encoder_factory, relation_loss=config.train.loss)
        return cls(encoder, head, config, relations)

    # ------------------------------------------------------------------ saving
    def save(self, directory: str | Path, tokenizer: Any, metrics: Optional[dict] = None) -> None:
        """Write a self-contained model directory (safetensors + JSON; no pickle)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file(state, str(tmp), metadata={"docre_version": __version__})
        self.relations.save(directory / "relations.json")
        cfg = self.config.to_dict()
        cfg["docre_version"] = __version__
        cfg["weights_sha256"] = file_hash(directory / "model.safetensors")
        cfg["relations_sha256"] = file_hash(directory / "relations.json")
        cfg["num_classes"] = self.relations.num_classes
        atomic_write_json(directory / "config.json", cfg)
        enc_cfg = self.encoder.model.config.to_dict()
        atomic_write_json(directory / "encoder" / "config.json", enc_cfg)
        tokenizer.save_pretrained(str(directory / "tokenizer"))
        if metrics is not None:
            atomic_write_json(directory / "metrics.json", metrics)

    @classmethod
    def load(cls, directory: str | Path, device: Optional[str | torch.device] = None) -> tuple["DocREModel", Any]:
        """Load a model directory; returns (model in eval mode, tokenizer).

        Raises:
            ModelDirError: a file is missing, the weights were altered, or config, relation
                inventory and weights disagree.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from transformers import AutoConfig

        directory = Path(directory)
        if not directory.is_dir():
            raise ModelDirError(f"{directory}: not a model directory")
        for name in MODEL_FILES:
            if not (directory / name).exists():
                raise ModelDirError(f"{directory}: missing {name} (not a complete docre model directory)")
        for name in ("config.json", "model.safetensors", "relations.json", "encoder/config.json"):
            if not (directory / name).is_file():
                raise ModelDirError(f"{directory / name}: not a file")
        try:
            raw_cfg = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ModelDirError(f"{directory / 'config.json'}: not valid JSON: {exc}") from exc
        if not isinstance(raw_cfg, dict):
            raise ModelDirError(f"{directory / 'config.json'}: must be a JSON object")
        try:
            config = config_from_dict({k: v for k, v in raw_cfg.items() if k not in _CHECK_KEYS},
                                      str(directory / "config.json"))
        except DocreError as exc:
            raise ModelDirError(str(exc)) from exc
        try:
            relations = RelationInventory.from_file(directory / "relations.json")
        except DocreError as exc:
            raise ModelDirError(str(exc)) from exc
        if raw_cfg.get("num_classes", relations.num_classes) != relations.num_classes:
            raise ModelDirError(f"{directory / 'relations.json'}: {relations.num_classes} classes but the model "
                                f"was trained with {raw_cfg.get('num_classes')}")
        for key, name, what in (("weights_sha256", "model.safetensors", "the weights"),
                                ("relations_sha256", "relations.json", "the relation inventory")):
            expected = raw_cfg.get(key)
            if not isinstance(expected, str):
                raise ModelDirError(f"{directory / 'config.json'}: no {key} (not written by docre, or edited)")
            if file_hash(directory / name) != expected:
                raise ModelDirError(f"{directory / name}: checksum differs from config.json ({what} were altered "
                                    "or belong to another model)")
        try:
            tokenizer = load_tokenizer(str(directory / "tokenizer"))
        except DocreError as exc:
            raise ModelDirError(f"{directory / 'tokenizer'}: {exc}") from exc
        try:
            enc_cfg = AutoConfig.for_model(**json.loads((directory / "encoder" / "config.json").read_text()))
            model = cls.build(config, relations, tokenizer, encoder_config=enc_cfg)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ModelDirError(f"{directory / 'encoder/config.json'}: cannot build the encoder: {exc}") from exc
        try:
            state = load_file(str(directory / "model.safetensors"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelDirError(f"{directory / 'model.safetensors'}: cannot read weights: {exc}") from exc
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatch
            raise ModelDirError(f"{directory}: weights do not match the config/relations: {exc}") from exc
        if missing or unexpected:
            raise ModelDirError(
                f"{directory}: weights do not match the config (missing {len(missing)}: {missing[:3]}, "
                f"unexpected {len(unexpected)}: {unexpected[:3]})")
        load_assets = getattr(model, "load_assets", None)  # files beside the weights (the linker's alias table)
        if load_assets is not None:
            load_assets(directory)
        if device is not None:
            model.to(device)
        model.eval()
        return model, tokenizer
