"""Data-parallel training over the processes of ``accelerate launch`` / ``torchrun``, equal to
one process at the same global batch.

``accelerate`` starts the processes and joins them in a process group (gloo on CPUs, NCCL on
GPUs, one machine or several); :class:`DataParallel` does the rest:

- **Global batch.** ``train.batch_size`` stays the number of documents per optimisation step
  over all processes. Every process computes the same shuffled, length-bucketed order (same
  seed), cuts it into the same global batches and takes its share of each (documents ``r``,
  ``r + W``, ...), so the number of steps, the learning-rate schedule, the KMGRE EM phases and
  tau are those of one process, step for step.
- **Loss over the global batch.** ATLoss is a mean over the entity pairs of the batch, the
  focal loss a mean over mention pairs: a mean of per-process means would weigh a pair by how
  many pairs its process got. Each head reports its loss terms as (mean, number of items)
  (:attr:`docre.models.batch.HeadOutput.loss_terms`); one ``all_reduce`` of the item counts gives
  each term's global count ``N``, and a process backpropagates ``sum_k mean_k * n_k / N_k``.
  Summing the processes' gradients then gives exactly the gradient of the global batch's loss.
- **Gradients summed after the backward pass** (one ``all_reduce`` per bucket of flattened
  gradients). A parameter that has no gradient on any process (KMGRE's encoder in an E-step,
  omega during the entity-level warm-up) keeps none, so AdamW skips it exactly as in one
  process; a process whose share of a (last, short) batch is empty contributes zeros. This is
  why torch's DDP wrapper is not used: it needs every process to run a backward pass each step
  and, with ``find_unused_parameters``, still has to know the phase's unused parameters; here a
  step is correct whatever the phase and whatever a process got. (Communication does not
  overlap the backward pass, as DDP's does; on CPUs and for models of BERT's size it is a small
  part of a step.)
- **Evaluation** predicts each process's contiguous share of the documents and gathers the
  triples on every process (so all agree on the best model); only the main process writes
  files, checkpoints, ``metrics.jsonl`` and wandb.

In one process (``world == 1``) every method is the plain single-process code path.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator, Optional, Sequence

import torch

from docre.data.features import DocFeatures
from docre.models.batch import LOSS_TERMS, Batch, HeadOutput, collate

logger = logging.getLogger("docre")

GRAD_BUCKET_BYTES = 25 * 2**20  # gradients flattened into all_reduce calls of about this size (as DDP's default)


class DataParallel:
    """This process's part in data-parallel training (see the module docstring).

    Args:
        accelerator: the run's ``accelerate.Accelerator``.
    """

    def __init__(self, accelerator: Any):
        self.accelerator = accelerator
        self.world = int(accelerator.num_processes)
        self.rank = int(accelerator.process_index)
        self.device = accelerator.device

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ set-up
    def prepare(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, seed: int
                ) -> tuple[torch.nn.Module, Any, Any]:
        """Place the model, optimizer and scheduler (one process: ``accelerator.prepare`` as before).

        Several processes: the model goes to this process's device unwrapped (no DDP, see the
        module docstring) with rank 0's weights; the optimizer through accelerate (mixed
        precision); the scheduler stays plain (accelerate would step it once per process, as if
        each process had its own batch). Each process then draws dropout from its own seed.
        """
        if not self.enabled:
            return self.accelerator.prepare(model, optimizer, scheduler)
        model = model.to(self.device)
        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                torch.distributed.broadcast(t.data, src=0)
        optimizer = self.accelerator.prepare(optimizer)
        torch.manual_seed(seed + self.rank)
        if not self.is_main:
            logging.getLogger("docre").setLevel(logging.WARNING)  # one process speaks for the run
        return model, optimizer, scheduler

    # ------------------------------------------------------------------ batches
    def batches(self, features: Sequence[DocFeatures], batch_size: int, num_classes: int, order: Sequence[int]
                ) -> Iterator[Optional[Batch]]:
        """This process's part of each global batch of ``order`` (None: nothing for it in that batch)."""
        for s in range(0, len(order), batch_size):
            mine = list(order[s: s + batch_size])[self.rank::self.world]
            yield collate([features[i] for i in mine], num_classes) if mine else None

    # ------------------------------------------------------------------ one step
    def forward_loss(self, model: torch.nn.Module, batch: Optional[Batch], phase: str
                     ) -> tuple[Optional[torch.Tensor], float, dict[str, float]]:
        """Forward pass and loss of this process's part of a global batch.

        Returns (the loss to backpropagate, None when this process has nothing to learn from;
        the loss of the whole global batch, as one process would report it; stats to log: the
        head's, with the loss terms replaced by their global-batch values).
        """
        if not self.enabled:
            out: HeadOutput = model(batch, phase=phase)
            return out.loss, float(out.loss.detach()), dict(out.stats)
        out = None
        if batch is not None:
            with self.accelerator.autocast():
                out = model(batch, phase=phase)
        terms = out.loss_terms if out is not None else {}
        k = len(LOSS_TERMS)
        totals = torch.zeros(2 * k, dtype=torch.float64, device=self.device)
        for i, name in enumerate(LOSS_TERMS):
            if name in terms:
                mean, n = terms[name]
                totals[i] = float(n)
                totals[k + i] = float(mean.detach()) * n
        torch.distributed.all_reduce(totals)  # [item counts N_k, sums of per-item losses] over processes
        counts, sums = totals[:k].tolist(), totals[k:].tolist()
        loss: Optional[torch.Tensor] = None
        for i, name in enumerate(LOSS_TERMS):
            if name in terms and counts[i] > 0 and terms[name][1] > 0:
                mean, n = terms[name]
                part = mean * (n / counts[i])
                loss = part if loss is None else loss + part
        stats = dict(out.stats) if out is not None else {}
        global_loss = 0.0
        for i, name in enumerate(LOSS_TERMS):
            if counts[i] > 0:
                stats[f"loss_{name}"] = sums[i] / counts[i]
                global_loss += sums[i] / counts[i]
        return loss, global_loss, stats

    def sync_gradients(self, model: torch.nn.Module) -> None:
        """Sum every parameter's gradient over the processes (the losses are already weighted
        by each process's share of the global batch). A parameter without a gradient on every
        process keeps none."""
        if not self.enabled:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        has = torch.tensor([float(p.grad is not None) for p in params], device=self.device)
        torch.distributed.all_reduce(has, op=torch.distributed.ReduceOp.MAX)
        grads = []
        for p, h in zip(params, has.tolist()):
            if h:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                grads.append(p.grad)
        bucket: list[torch.Tensor] = []
        size = 0
        for g in grads + [None]:  # None flushes the last bucket
            if g is not None:
                bucket.append(g)
                size += g.numel() * g.element_size()
            if bucket and (g is None or size >= GRAD_BUCKET_BYTES):
                flat = torch.cat([b.reshape(-1) for b in bucket])
                torch.distributed.all_reduce(flat)
                offset = 0
                for b in bucket:
                    b.copy_(flat[offset: offset + b.numel()].view_as(b))
                    offset += b.numel()
                bucket, size = [], 0

    # ------------------------------------------------------------------ evaluation, checkpoints
    def gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order, on every process."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def predict(self, model: Any, features: Sequence[DocFeatures], batch_size: int, progress: bool = False
                ) -> list[dict[str, Any]]:
        """Triples of all ``features`` in document order, each process predicting a contiguous share."""
        from docre.inference import predict

        if not self.enabled:
            return predict(model, features, batch_size, progress=progress)[0]
        n = len(features)
        lo, hi = n * self.rank // self.world, n * (self.rank + 1) // self.world
        triples, _ = predict(model, features[lo:hi], batch_size, progress=progress and self.is_main)
        return [t for part in self.gather(triples) for t in part]

    def barrier(self) -> None:
        if self.enabled:
            self.accelerator.wait_for_everyone()


__all__ = ["DataParallel", "GRAD_BUCKET_BYTES"]
