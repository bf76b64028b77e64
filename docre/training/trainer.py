"""The training loop, as named steps of a :class:`Trainer` (``train(config)`` runs one).

:meth:`Trainer.run` calls, in order:

- :meth:`~Trainer._setup_runtime`: data paths, threads, seed, device and precision (accelerate),
  the processes of a distributed launch;
- :meth:`~Trainer._load_data`: tokenizer, relation inventory, the task's ``prepare`` and
  ``featurize`` of the train/dev/test splits;
- :meth:`~Trainer._open_run_dir`: ``config.json`` and the environment (compared on resume);
- :meth:`~Trainer._build_model_and_optimizer`: the task's model, AdamW, the warm-up/decay
  schedule, KMGRE's EM schedule;
- :meth:`~Trainer._restore_checkpoint` (``resume``) and :meth:`~Trainer._start_logging`;
- :meth:`~Trainer._train_epoch` per epoch, :meth:`~Trainer._train_step` per micro-batch: the
  **E-step / M-step** phase of each optimisation step is chosen there
  (:class:`docre.training.em.EMSchedule`); :meth:`~Trainer._evaluate_and_select` on the dev split
  (every ``train.eval_every`` steps or each epoch), :meth:`~Trainer._save_best` at a new best,
  :meth:`~Trainer._checkpoint`;
- :meth:`~Trainer._finish`: the last model when there is no dev split, the final log record.

What is task-specific (features, model, evaluation, model selection) is asked of the
:class:`docre.tasks.Task` registered under ``model.task``; the loop itself is the same for every task.
AdamW with a learning rate per parameter group, linear warm-up/decay, gradient clipping and
accumulation; device and precision come from accelerate.
"""
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
from docre.data.features import file_hash
from docre.data.reader import read_documents
from docre.data.relations import RelationInventory
from docre.errors import ConfigError, TrainingError
from docre.inference import batches, training_order
from docre.models.model import DocREModel, load_tokenizer
from docre.models.encoder import resolve_encoder_path
from docre.provenance import (ENVIRONMENT_FILE, collect_environment, compare_environments, format_differences,
                               read_environment, write_environment)
from docre.tasks import Split, Task, get_task
from docre.training.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from docre.training.distributed import DataParallel
from docre.training.em import EMSchedule
from docre.training.logging import NullRunLogger, RunLogger
from docre.resources import resolve_data_path
from docre.utils.io import atomic_write_json

logger = logging.getLogger("docre")

__all__ = ["train", "Trainer", "TrainResult", "TrainState", "Split", "load_split", "make_optimizer"]


@dataclass
class TrainResult:
    run_dir: Path
    best_metrics: dict[str, Any]
    best_epoch: float
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds_per_epoch: float = 0.0
    model: Optional[DocREModel] = None


@dataclass
class TrainState:
    """Where a run stands: what a checkpoint keeps besides the model, optimiser, scheduler and RNG states.

    step: optimisation steps done. history: the dev records. best, best_score, best_epoch: the
    best dev scores so far, their selection score and where they were reached. epoch_times:
    seconds per finished epoch.
    """

    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    best_score: float = -1.0
    best_epoch: float = 0.0
    epoch_times: list[float] = field(default_factory=list)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def load_split(task: Task, path: str, rng: str, tokenizer: Any, relations: RelationInventory, config: Config,
               cache_dir: Optional[Path], require_labels: bool = False, validate_relations: bool = False,
               hash_of: Callable[[str], str] = file_hash) -> Split:
    """Read a split's documents, keep the range ``rng`` of them and featurise them as ``task`` does."""
    docs = read_documents(path, relations=relations if validate_relations else None, require_labels=require_labels)
    docs = [docs[i] for i in parse_range(rng, len(docs))]
    feats = task.featurize(docs, tokenizer, relations, config, source=f"{path}[{rng}]" if rng else path,
                           data_hash=hash_of(path), cache_dir=cache_dir)
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
    return Trainer(config, encoder_config=encoder_config, resume=resume).run()


class Trainer:
    """One training run (see the module docstring for its steps); :meth:`run` runs it once."""

    def __init__(self, config: Config, encoder_config: Any = None, resume: bool = False):
        self.config, self.encoder_config, self.resume = config, encoder_config, resume
        self.task: Task = get_task(config.model.task)
        self.state = TrainState()
        self.start_epoch, self.start_micro = 0, 0  # where the loop starts (a checkpoint's position on resume)

    def run(self) -> TrainResult:
        """The steps of a run, in order."""
        self._setup_runtime()
        self._load_data()
        self._open_run_dir()
        self._build_model_and_optimizer()
        if self.resume:
            self._restore_checkpoint()
        self._start_logging()
        n_epochs = int(math.ceil(self.total_steps / self.steps_per_epoch))
        self.model.train()
        done = self.state.step >= self.total_steps
        for epoch in range(self.start_epoch, n_epochs):
            if done:
                break
            done = self._train_epoch(epoch, n_epochs, self.start_micro if epoch == self.start_epoch else 0)
        return self._finish()

    # ------------------------------------------------------------------ setting up
    def _setup_runtime(self) -> None:
        """Resolve the data paths, set threads and seeds, pick device and precision (accelerate)
        and join the processes of a distributed launch."""
        tc, dc = self.config.train, self.config.data
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
        self.accelerator = make_accelerator(cpu, tc.mixed_precision, tc.grad_accum_steps)
        # several processes (accelerate launch / torchrun): equal to one at this batch
        self.dp = DataParallel(self.accelerator)
        self.main = self.accelerator.is_main_process
        self.run_dir = Path(tc.output_dir)
        self.cache_dir = Path(dc.cache_dir or self.run_dir.parent / ".cache" / "features") if dc.cache else None

    def _load_data(self) -> None:
        """Tokenizer, relation inventory (``data.relations_file`` or the training labels), the task's
        preparation from the training documents, and the featurised train/dev/test splits."""
        config, dc, tc = self.config, self.config.data, self.config.train
        self.tokenizer = load_tokenizer(resolve_encoder_path(config.model.encoder))
        train_raw = read_documents(dc.train_file, require_labels=True)
        train_raw = [train_raw[i] for i in parse_range(dc.train_range, len(train_raw))]
        self.relations = build_relations(config, train_raw)
        self.task.prepare(config, train_raw)
        strict = bool(dc.relations_file)
        self.hash_of = functools.lru_cache(maxsize=None)(file_hash)  # each data file read once for its sha256

        def split(path: str, rng: str, require_labels: bool = False) -> Split:
            return load_split(self.task, path, rng, self.tokenizer, self.relations, config, self.cache_dir,
                              require_labels=require_labels, validate_relations=strict, hash_of=self.hash_of)

        with self.accelerator.main_process_first():  # several processes: the others then read the feature cache
            self.train_split = split(dc.train_file, dc.train_range, require_labels=True)
            self.dev_split = split(dc.dev_file, dc.dev_range) if dc.dev_file else None
            self.test_split = split(dc.test_file, dc.test_range) if dc.test_file else None
        logger.info("train %d docs, dev %d, test %d; %d relation classes; head %s", len(self.train_split.docs),
                    len(self.dev_split.docs) if self.dev_split else 0,
                    len(self.test_split.docs) if self.test_split else 0, self.relations.num_classes, config.model.head)
        if self.dp.enabled:
            logger.info("data parallel over %d processes (%s): global batch %d documents, about %d per process",
                        self.dp.world, self.accelerator.distributed_type, tc.batch_size,
                        math.ceil(tc.batch_size / self.dp.world))

    def _open_run_dir(self) -> None:
        """The data is valid: only now does the run directory get written to (``config.json`` and the
        environment; a resumed run warns when its environment differs from the one it started in)."""
        tc, run_dir = self.config.train, self.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.env = collect_environment(self.config, device=str(self.accelerator.device),
                                       mixed_precision=tc.mixed_precision, hash_of=self.hash_of)
        if not self.resume and self.main:
            atomic_write_json(run_dir / "config.json", self.config.to_dict())
            write_environment(run_dir, self.env)
        elif self.resume and self.main and (run_dir / ENVIRONMENT_FILE).is_file():
            diffs = compare_environments(read_environment(run_dir), self.env)
            if diffs:
                logger.warning("resuming %s in another environment than it started in (results may differ from an "
                               "uninterrupted run):\n%s", run_dir, format_differences(diffs))

    def _build_model_and_optimizer(self) -> None:
        """The task's model, AdamW, the linear warm-up/decay over the run's optimisation steps, and
        KMGRE's EM schedule (every step ``joint`` for other heads)."""
        tc = self.config.train
        model = self.task.build_model(self.config, self.relations, self.tokenizer, encoder_config=self.encoder_config)
        optimizer = make_optimizer(model, self.config)
        self.steps_per_epoch = math.ceil(len(self.train_split.features) / tc.batch_size / tc.grad_accum_steps)
        total_steps = max(1, int(math.ceil(self.steps_per_epoch * tc.epochs)))
        if tc.max_steps > 0:
            total_steps = min(total_steps, tc.max_steps)
        self.total_steps = total_steps
        scheduler = linear_warmup_decay(optimizer, int(tc.warmup_ratio * total_steps), total_steps)
        self.model, self.optimizer, self.scheduler = self.dp.prepare(model, optimizer, scheduler, tc.seed)
        self.unwrapped: DocREModel = self.accelerator.unwrap_model(self.model)
        self.schedule = EMSchedule(self.config.kmgre, self.steps_per_epoch, total_steps,
                                   enabled=self.config.model.head == "kmgre")

    def _restore_checkpoint(self) -> None:
        """Model, optimiser, scheduler, RNG states, loop state and data position from the run's
        checkpoint; log lines written after it are dropped (they will be written again)."""
        st = load_checkpoint(self.run_dir, self.unwrapped, self.optimizer, self.scheduler)
        self.state = TrainState(step=st["step"], history=st["history"], best=st["best"], best_score=st["best_score"],
                                best_epoch=st["best_epoch"], epoch_times=st["epoch_times"])
        self.start_epoch, self.start_micro = st["epoch"], st["micro"]
        if self.dp.enabled and len(st.get("rng_ranks") or []) == self.dp.world:
            restore_rng(st["rng_ranks"][self.dp.rank])  # each process continues its own dropout stream
        if self.main:
            _truncate(self.run_dir / "metrics.jsonl", st["metrics_bytes"])
        logger.info("resuming %s at step %d (epoch %d, batch %d)", self.run_dir, self.state.step,
                    self.start_epoch + 1, self.start_micro)

    def _start_logging(self) -> None:
        """``metrics.jsonl`` (and wandb when enabled) on the main process; nothing on the others."""
        self.run_log = RunLogger(self.run_dir, self.config.logging, {**self.config.to_dict(), "environment": self.env},
                                 resume=self.resume) if self.main else NullRunLogger()
        self.dp.barrier()  # a resumed run: every process has read the checkpoint before it is written again

    # ------------------------------------------------------------------ training
    def _train_epoch(self, epoch: int, n_epochs: int, first: int) -> bool:
        """One epoch from micro-batch ``first`` on: a step per micro-batch, and after each optimisation
        step its log record, dev evaluation and checkpoint when due. Returns whether the run's last
        step was reached."""
        from tqdm.auto import tqdm

        tc, st = self.config.train, self.state
        t0 = time.time()
        order = training_order(self.train_split.features, tc.batch_size, tc.seed * 1000 + epoch, tc.length_buckets)
        num_classes = self.relations.num_classes
        micro = list(self.dp.batches(self.train_split.features, tc.batch_size, num_classes, order) if self.dp.enabled
                     else batches(self.train_split.features, tc.batch_size, num_classes, order))
        bar = tqdm(total=self.steps_per_epoch, initial=first // tc.grad_accum_steps,
                   desc=f"epoch {epoch + 1}/{n_epochs}", unit="step",
                   disable=not self.config.logging.progress or not self.main, leave=False)
        done = False
        for k in range(first, len(micro)):
            out = self._train_step(micro[k], epoch)
            if out is None:  # gradients accumulate: no optimisation step yet
                continue
            phase, loss_value, stats = out
            st.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", phase=phase)
            if st.step % self.config.logging.log_every == 0 or st.step == 1:
                self.run_log.log({"epoch": round(epoch + (k + 1) / len(micro), 3), "phase": phase, "loss": loss_value,
                                  "lr": self.scheduler.get_last_lr()[0], **stats}, st.step)
            if tc.eval_every > 0 and st.step % tc.eval_every == 0:
                self._evaluate_and_select(epoch + (k + 1) / len(micro))
            if st.step >= self.total_steps:
                done = True
                break
            if tc.checkpoint_every > 0 and st.step % tc.checkpoint_every == 0:
                self._checkpoint(epoch, k + 1)
        bar.close()
        st.epoch_times.append(time.time() - t0)
        self.run_log.log({"epoch": epoch + 1, "epoch_seconds": round(st.epoch_times[-1], 2)}, st.step)
        if tc.eval_every <= 0:
            self._evaluate_and_select(float(epoch + 1) if not done else st.step / self.steps_per_epoch)
        if not done:
            self._checkpoint(epoch + 1, 0)
        return done

    def _train_step(self, batch: Any, epoch: int) -> Optional[tuple[str, float, dict[str, float]]]:
        """Forward, loss and backward of one micro-batch; the optimiser and scheduler step when the
        gradients of ``train.grad_accum_steps`` micro-batches are in.

        **The E-step and the M-step happen here**: ``self.schedule.phase(step)``
        (:class:`docre.training.em.EMSchedule`) names the phase of the coming optimisation step,
        ``warmup``, ``e`` (E-step: only L_omega, the key-pair selector learns from pseudo labels),
        ``m`` (M-step: only L_theta on the fused key pairs) or ``joint`` (every head but KMGRE), and
        the model computes that phase's loss (``model(batch, phase=phase)``); tau follows the same
        schedule.

        Returns (phase, loss of the global batch, head statistics) after an optimisation step,
        None after a micro-batch whose gradients only accumulate.
        """
        accelerator, model, st = self.accelerator, self.model, self.state
        phase = self.schedule.phase(st.step)
        head = getattr(self.unwrapped, "head", None)
        if hasattr(head, "set_tau"):
            head.set_tau(self.schedule.tau(st.step))
        with accelerator.accumulate(model):
            loss, loss_value, stats = self.dp.forward_loss(model, batch, phase)
            if not math.isfinite(loss_value):
                self.run_log.close()
                raise TrainingError(
                    f"non-finite loss ({loss_value}) at step {st.step + 1} (epoch {epoch + 1}, phase {phase}); "
                    f"stopped; the last good model is in {self.run_dir / 'best_model'} and training can resume "
                    f"from {self.run_dir / 'checkpoint'}")
            if loss is not None and loss.requires_grad:  # documents without entity pairs: nothing to learn
                accelerator.backward(loss)
            if accelerator.sync_gradients:
                self.dp.sync_gradients(model)
            if accelerator.sync_gradients and self.config.train.max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), self.config.train.max_grad_norm)
            self.optimizer.step()
            if accelerator.sync_gradients:
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        if not accelerator.sync_gradients:
            return None
        return phase, loss_value, stats

    # ------------------------------------------------------------------ evaluation, saving
    def _evaluate_and_select(self, epoch_pos: float) -> None:
        """Evaluate the dev split (the task's scores, logged as ``dev_*``); a better selection score
        (the task's, from ``train.select_metric``) makes this model the best (:meth:`_save_best`)."""
        if self.dev_split is None:
            return
        st = self.state
        ev = self.task.evaluate(self.unwrapped, self.dev_split, train_docs=self.train_split.docs,
                                tokenizer=self.tokenizer, config=self.config, dp=self.dp)
        rec = {"epoch": round(epoch_pos, 3), **{f"dev_{k}": v for k, v in ev.scores.items()}}
        st.history.append(rec)
        self.run_log.log(rec, st.step)
        logger.info("epoch %.2f  %s", epoch_pos, self.task.describe(ev.scores))
        score = self.task.selection_score(ev.scores, self.config)
        if score > st.best_score:
            st.best_score, st.best_epoch, st.best = score, epoch_pos, ev.scores
            self._save_best(epoch_pos, ev.scores, ev.predictions)

    def _save_best(self, epoch_pos: float, scores: dict[str, Any], dev_predictions: Optional[list[dict[str, Any]]]
                   ) -> None:
        """Predict the test split (every process) and, on the main process, write ``best_model/``,
        ``dev_predictions.json`` and ``result.json``."""
        test_predictions = self.task.predict(self.unwrapped, self.test_split, self.config, self.dp) \
            if self.test_split is not None else None
        if not self.main:
            return
        save_best(self.unwrapped, self.tokenizer, self.run_dir, {"epoch": epoch_pos, **scores})
        if dev_predictions is not None:
            self.task.write_predictions(dev_predictions, self.run_dir / "dev_predictions.json")
        if test_predictions is not None:
            self.task.write_predictions(test_predictions, self.run_dir / "result.json")

    def _checkpoint(self, epoch: int, micro: int) -> None:
        """Write ``checkpoint/``: model, optimiser, scheduler, every process's RNG states, the loop
        state and the position to resume from (micro-batch ``micro`` of epoch ``epoch``)."""
        rngs = self.dp.gather(rng_state()) if self.dp.enabled else None
        if not self.main:
            return
        st = self.state
        save_checkpoint(self.run_dir, self.unwrapped, self.optimizer, self.scheduler, {
            "step": st.step, "epoch": epoch, "micro": micro, "history": st.history, "best": st.best,
            "best_score": st.best_score, "best_epoch": st.best_epoch, "epoch_times": st.epoch_times,
            "metrics_bytes": (self.run_dir / "metrics.jsonl").stat().st_size, "rng_ranks": rngs})

    def _finish(self) -> TrainResult:
        """Without a dev split the last model is the one kept; log the best scores, close the log,
        drop the checkpoint (unless ``train.keep_checkpoint``)."""
        st, run_dir = self.state, self.run_dir
        if self.dev_split is None:
            st.best_epoch = st.step / self.steps_per_epoch
            self._save_best(st.best_epoch, {}, None)
        self.run_log.log({"best_epoch": st.best_epoch, **{f"best_{k}": v for k, v in st.best.items()}}, st.step)
        self.run_log.close()
        if self.main and not self.config.train.keep_checkpoint and (run_dir / "checkpoint").exists():
            shutil.rmtree(run_dir / "checkpoint")
        self.dp.barrier()  # the main process has written everything before any process returns
        return TrainResult(run_dir=run_dir, best_metrics=st.best, best_epoch=st.best_epoch, history=st.history,
                           seconds_per_epoch=float(np.mean(st.epoch_times)) if st.epoch_times else 0.0,
                           model=self.unwrapped)


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
