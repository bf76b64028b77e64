"""The training loop: AdamW with a learning rate per parameter group, linear warm-up/decay,
gradient clipping and accumulation, seeds, dev evaluation, best-model saving, test
predictions at the best dev point. Device and precision come from accelerate."""
from __future__ import annotations

import functools
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from docre.config import Config, parse_range
from docre.data.documents import Document
from docre.data.features import DocFeatures, file_hash, load_features, report_truncation
from docre.data.reader import read_documents
from docre.data.relations import RelationInventory
from docre.errors import ConfigError, TrainingError
from docre.evaluation import official_scores, write_result_json
from docre.inference import batches, predict, training_order
from docre.models.model import DocREModel, load_tokenizer
from docre.models.encoder import resolve_encoder_path
from docre.provenance import (ENVIRONMENT_FILE, collect_environment, compare_environments, format_differences,
                               read_environment, write_environment)
from docre.training.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from docre.training.distributed import DataParallel
from docre.training.em import EMSchedule
from docre.training.logging import NullRunLogger, RunLogger
from docre.resources import resolve_data_path
from docre.utils.io import atomic_write_json

logger = logging.getLogger("docre")


@dataclass
class TrainResult:
    run_dir: Path
    best_metrics: dict[str, Any]
    best_epoch: float
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds_per_epoch: float = 0.0
    model: Optional[DocREModel] = None


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclass
class Split:
    """A data split: its documents (sliced by the config's range) and features."""

    path: Path
    docs: list[Document]
    features: list[DocFeatures]


def load_split(path: str, rng: str, tokenizer: Any, relations: RelationInventory, config: Config,
               cache_dir: Optional[Path], require_labels: bool = False, validate_relations: bool = False,
               hash_of: Callable[[str], str] = file_hash) -> Split:
    docs = read_documents(path, relations=relations if validate_relations else None, require_labels=require_labels)
    docs = [docs[i] for i in parse_range(rng, len(docs))]
    feats = load_features(docs, hash_of(path), tokenizer, relations, config.data.max_seq_length, cache_dir,
                          progress=config.logging.progress, markers=config.data.entity_markers)
    report_truncation(feats, f"{path}[{rng}]" if rng else path, config.data.max_seq_length)
    if config.model.task == "end_to_end":  # mention spans, types and clusters beside the relation features
        from docre.e2e.features import attach_span_features

        feats = attach_span_features(docs, feats, tokenizer, relations, config)
    return Split(Path(path), docs, feats)


def build_relations(config: Config, train_docs: Sequence[Document]) -> RelationInventory:
    if config.data.relations_file:
        return RelationInventory.from_file(config.data.relations_file)
    return RelationInventory.from_relations(f.r for d in train_docs for f in (d.labels or []))


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_optimizer(model: DocREModel, config: Config) -> torch.optim.Optimizer:
    lrs = {"encoder": config.train.lr_encoder, "new": config.train.lr_new, "omega": config.kmgre.omega_lr,
           "key_encoder": config.train.lr_encoder, "e2e": config.e2e.lr}
    groups = []
    for name, params in model.parameter_groups().items():
        params = [p for p in params if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": lrs.get(name, config.train.lr_new), "name": name})
    # fused: one kernel per step instead of a dozen passes per tensor (a 4x faster step on the CPU, where
    # PyTorch does not pick it by default); the same update up to float rounding (tests/training/test_optimizer.py)
    return torch.optim.AdamW(groups, eps=config.train.adam_eps, weight_decay=config.train.weight_decay, fused=True)


def evaluate_split(model: DocREModel, split: Split, train_docs: Optional[Sequence[Document]], config: Config,
                   dp: Optional[DataParallel] = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Official scores and triples of ``split`` (predicted across the processes of ``dp``)."""
    if config.model.task == "end_to_end":  # also extracts from the documents' text: e2e_* scores
        from docre.e2e.training import evaluate_joint_split

        return evaluate_joint_split(model, split.docs, split.features, train_docs, config)
    if dp is None:
        triples, _ = predict(model, split.features, config.train.eval_batch_size, progress=config.logging.progress)
    else:
        triples = dp.predict(model, split.features, config.train.eval_batch_size, progress=config.logging.progress)
    return official_scores(triples, split.docs, train_docs), triples


def make_accelerator(cpu: bool, mixed_precision: str, grad_accum_steps: int) -> Any:
    """An accelerate ``Accelerator`` for this run.

    accelerate keeps one process-wide state: a second run in the same process (a notebook,
    a sweep, the tests) with another device or precision would be refused. In a single
    process that state holds nothing but the previous run's choices, so it is reset; in a
    distributed launch it is left alone.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState, PartialState

    try:
        return Accelerator(cpu=cpu, mixed_precision=mixed_precision, gradient_accumulation_steps=grad_accum_steps)
    except ValueError:
        if PartialState().num_processes > 1:
            raise
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        return Accelerator(cpu=cpu, mixed_precision=mixed_precision, gradient_accumulation_steps=grad_accum_steps)


def train(config: Config, encoder_config: Any = None, resume: bool = False) -> TrainResult:
    """Train a model as the config says and return the best dev metrics.

    Writes into ``config.train.output_dir``: ``config.json``, ``metrics.jsonl``,
    ``best_model/`` (a model directory), ``dev_predictions.json`` and ``result.json``
    (test predictions at the best dev point, when a test file is given).

    ``encoder_config``: build an untrained encoder of that architecture instead of loading
    pretrained weights (tests use a tiny BERT this way).
    ``resume``: continue the run in ``config.train.output_dir`` from its last checkpoint
    (model, optimizer, scheduler, RNG states and data position restored).
    """
    tc, dc = config.train, config.data
    for name in ("train_file", "dev_file", "test_file", "relations_file"):
        setattr(dc, name, resolve_data_path(getattr(dc, name)))
    if not dc.train_file:
        raise ConfigError("data.train_file is required for training")
    if tc.num_threads > 0:
        torch.set_num_threads(tc.num_threads)
    set_seed(tc.seed)
    cpu = tc.device == "cpu" or (tc.device == "auto" and not torch.cuda.is_available())
    if tc.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device = cuda but no GPU is available")
    accelerator = make_accelerator(cpu, tc.mixed_precision, tc.grad_accum_steps)
    dp = DataParallel(accelerator)  # several processes (accelerate launch / torchrun): equal to one at this batch
    main = accelerator.is_main_process
    run_dir = Path(tc.output_dir)
    cache_dir = Path(dc.cache_dir or run_dir.parent / ".cache" / "features") if dc.cache else None

    tokenizer = load_tokenizer(resolve_encoder_path(config.model.encoder))
    train_raw = read_documents(dc.train_file, require_labels=True)
    train_raw = [train_raw[i] for i in parse_range(dc.train_range, len(train_raw))]
    relations = build_relations(config, train_raw)
    if config.model.task == "end_to_end":  # the entity type inventory, from the training mentions
        from docre.e2e.training import prepare_end_to_end

        prepare_end_to_end(config, train_raw)
    strict = bool(dc.relations_file)
    hash_of = functools.lru_cache(maxsize=None)(file_hash)  # each data file read once for its sha256
    with accelerator.main_process_first():  # several processes: the others then read the feature cache
        train_split = load_split(dc.train_file, dc.train_range, tokenizer, relations, config, cache_dir,
                                 require_labels=True, validate_relations=strict, hash_of=hash_of)
        dev_split = load_split(dc.dev_file, dc.dev_range, tokenizer, relations, config, cache_dir,
                               validate_relations=strict, hash_of=hash_of) if dc.dev_file else None
        test_split = load_split(dc.test_file, dc.test_range, tokenizer, relations, config, cache_dir,
                                validate_relations=strict, hash_of=hash_of) if dc.test_file else None
    logger.info("train %d docs, dev %d, test %d; %d relation classes; head %s", len(train_split.docs),
                len(dev_split.docs) if dev_split else 0, len(test_split.docs) if test_split else 0,
                relations.num_classes, config.model.head)
    if dp.enabled:
        logger.info("data parallel over %d processes (%s): global batch %d documents, about %d per process",
                    dp.world, accelerator.distributed_type, tc.batch_size, math.ceil(tc.batch_size / dp.world))

    # the data is valid: only now does the run directory get written to
    run_dir.mkdir(parents=True, exist_ok=True)
    env = collect_environment(config, device=str(accelerator.device), mixed_precision=tc.mixed_precision,
                              hash_of=hash_of)
    if not resume and main:
        atomic_write_json(run_dir / "config.json", config.to_dict())
        write_environment(run_dir, env)
    elif resume and main and (run_dir / ENVIRONMENT_FILE).is_file():
        diffs = compare_environments(read_environment(run_dir), env)
        if diffs:
            logger.warning("resuming %s in another environment than it started in (results may differ from an "
                           "uninterrupted run):\n%s", run_dir, format_differences(diffs))
    model = DocREModel.build(config, relations, tokenizer, encoder_config=encoder_config)
    optimizer = make_optimizer(model, config)
    steps_per_epoch = math.ceil(len(train_split.features) / tc.batch_size / tc.grad_accum_steps)
    total_steps = max(1, int(math.ceil(steps_per_epoch * tc.epochs)))
    if tc.max_steps > 0:
        total_steps = min(total_steps, tc.max_steps)
    scheduler = linear_warmup_decay(optimizer, int(tc.warmup_ratio * total_steps), total_steps)
    model, optimizer, scheduler = dp.prepare(model, optimizer, scheduler, tc.seed)
    unwrapped: DocREModel = accelerator.unwrap_model(model)
    schedule = EMSchedule(config.kmgre, steps_per_epoch, total_steps, enabled=config.model.head == "kmgre")

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {}
    best_score, best_epoch = -1.0, 0.0
    step, epoch_times = 0, []
    start_epoch, start_micro = 0, 0
    if resume:
        st = load_checkpoint(run_dir, unwrapped, optimizer, scheduler)
        step, start_epoch, start_micro = st["step"], st["epoch"], st["micro"]
        history, best, best_score, best_epoch = st["history"], st["best"], st["best_score"], st["best_epoch"]
        epoch_times = st["epoch_times"]
        if dp.enabled and len(st.get("rng_ranks") or []) == dp.world:
            restore_rng(st["rng_ranks"][dp.rank])  # each process continues its own dropout stream
        if main:
            _truncate(run_dir / "metrics.jsonl", st["metrics_bytes"])
        logger.info("resuming %s at step %d (epoch %d, batch %d)", run_dir, step, start_epoch + 1, start_micro)
    run_log = RunLogger(run_dir, config.logging, {**config.to_dict(), "environment": env}, resume=resume) \
        if main else NullRunLogger()
    dp.barrier()  # a resumed run: every process has read the checkpoint before it is written again

    def checkpoint(epoch: int, micro: int) -> None:
        rngs = dp.gather(rng_state()) if dp.enabled else None
        if not main:
            return
        save_checkpoint(run_dir, unwrapped, optimizer, scheduler, {
            "step": step, "epoch": epoch, "micro": micro, "history": history, "best": best,
            "best_score": best_score, "best_epoch": best_epoch, "epoch_times": epoch_times,
            "metrics_bytes": (run_dir / "metrics.jsonl").stat().st_size, "rng_ranks": rngs})

    def evaluate_and_maybe_save(epoch_pos: float) -> None:
        nonlocal best_score, best_epoch, best
        if dev_split is None:
            return
        scores, triples = evaluate_split(unwrapped, dev_split, train_split.docs, config, dp)
        rec = {"epoch": round(epoch_pos, 3), **{f"dev_{k}": v for k, v in scores.items()}}
        history.append(rec)
        run_log.log(rec, step)
        logger.info("epoch %.2f  dev F1 %.2f  Ign F1 %.2f  (P %.2f R %.2f, %d predicted)", epoch_pos,
                    scores["f1"], scores["ign_f1"], scores["precision"], scores["recall"], scores["num_predicted"])
        score = scores[tc.select_metric]
        if score > best_score:
            best_score, best_epoch, best = score, epoch_pos, scores
            test_triples = dp.predict(unwrapped, test_split.features, tc.eval_batch_size,
                                      progress=config.logging.progress) if test_split is not None else None
            if main:
                save_best(unwrapped, tokenizer, run_dir, {"epoch": epoch_pos, **scores})
                write_result_json(triples, run_dir / "dev_predictions.json")
                if test_triples is not None:
                    write_result_json(test_triples, run_dir / "result.json")

    from tqdm.auto import tqdm

    n_epochs = int(math.ceil(total_steps / steps_per_epoch))
    model.train()
    done = step >= total_steps
    for epoch in range(start_epoch, n_epochs):
        if done:
            break
        t0 = time.time()
        order = training_order(train_split.features, tc.batch_size, tc.seed * 1000 + epoch, tc.length_buckets)
        micro = list(dp.batches(train_split.features, tc.batch_size, relations.num_classes, order)
                     if dp.enabled else batches(train_split.features, tc.batch_size, relations.num_classes, order))
        first = start_micro if epoch == start_epoch else 0
        bar = tqdm(total=steps_per_epoch, initial=first // tc.grad_accum_steps, desc=f"epoch {epoch + 1}/{n_epochs}",
                   unit="step", disable=not config.logging.progress or not main, leave=False)
        for k in range(first, len(micro)):
            batch = micro[k]
            phase = schedule.phase(step)
            if hasattr(unwrapped.head, "set_tau"):
                unwrapped.head.set_tau(schedule.tau(step))
            with accelerator.accumulate(model):
                loss, loss_value, stats = dp.forward_loss(model, batch, phase)
                if not math.isfinite(loss_value):
                    run_log.close()
                    raise TrainingError(
                        f"non-finite loss ({loss_value}) at step {step + 1} (epoch {epoch + 1}, phase {phase}); "
                        f"stopped; the last good model is in {run_dir / 'best_model'} and training can resume "
                        f"from {run_dir / 'checkpoint'}")
                if loss is not None and loss.requires_grad:  # documents without entity pairs: nothing to learn
                    accelerator.backward(loss)
                if accelerator.sync_gradients:
                    dp.sync_gradients(model)
                if accelerator.sync_gradients and tc.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            if not accelerator.sync_gradients:
                continue
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", phase=phase)
            if step % config.logging.log_every == 0 or step == 1:
                rec = {"epoch": round(epoch + (k + 1) / len(micro), 3), "phase": phase,
                       "loss": loss_value, "lr": scheduler.get_last_lr()[0], **stats}
                run_log.log(rec, step)
            if tc.eval_every > 0 and step % tc.eval_every == 0:
                evaluate_and_maybe_save(epoch + (k + 1) / len(micro))
            if step >= total_steps:
                done = True
                break
            if tc.checkpoint_every > 0 and step % tc.checkpoint_every == 0:
                checkpoint(epoch, k + 1)
        bar.close()
        epoch_times.append(time.time() - t0)
        run_log.log({"epoch": epoch + 1, "epoch_seconds": round(epoch_times[-1], 2)}, step)
        if tc.eval_every <= 0:
            evaluate_and_maybe_save(float(epoch + 1) if not done else step / steps_per_epoch)
        if not done:
            checkpoint(epoch + 1, 0)
    if dev_split is None:
        best_epoch = step / steps_per_epoch
        test_triples = dp.predict(unwrapped, test_split.features, tc.eval_batch_size) if test_split is not None else None
        if main:
            save_best(unwrapped, tokenizer, run_dir, {"epoch": step / steps_per_epoch})
            if test_triples is not None:
                write_result_json(test_triples, run_dir / "result.json")
    run_log.log({"best_epoch": best_epoch, **{f"best_{k}": v for k, v in best.items()}}, step)
    run_log.close()
    if main and not tc.keep_checkpoint and (run_dir / "checkpoint").exists():
        shutil.rmtree(run_dir / "checkpoint")
    dp.barrier()  # the main process has written everything before any process returns
    return TrainResult(run_dir=run_dir, best_metrics=best, best_epoch=best_epoch, history=history,
                       seconds_per_epoch=float(np.mean(epoch_times)) if epoch_times else 0.0, model=unwrapped)


def _truncate(path: Path, size: int) -> None:
    """Drop log lines written after the checkpoint (they will be written again)."""
    if path.exists() and path.stat().st_size > size:
        with open(path, "rb+") as fh:
            fh.truncate(size)


def save_best(model: DocREModel, tokenizer: Any, run_dir: Path, metrics: dict[str, Any]) -> None:
    """Save into ``best_model/`` via a temporary directory and a rename (never half-written)."""
    target = run_dir / "best_model"
    tmp = run_dir / ".best_model.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save(tmp, tokenizer, metrics)
    if (run_dir / ENVIRONMENT_FILE).is_file():  # what the model was trained with travels with it
        shutil.copyfile(run_dir / ENVIRONMENT_FILE, tmp / ENVIRONMENT_FILE)
    old = run_dir / ".best_model.old"
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old)
