"""Where the time goes after the encoder: the relation heads' share of a training step and
of an inference pass, and the profiler's top entries for the head alone.

For every head and mode (training step, inference) on the same batches:

- ``encoder``: the encoder alone (training: forward and backward of a sum of its outputs,
  clipping and an AdamW step over its parameters, as the encoder row of ``bench_speed.py``);
- ``full``: encoder + head (training: forward, backward, clipping and an AdamW step over
  all parameters, as in ``bench/bench_speed.py``);
- ``head``: the head alone, on encoder outputs computed beforehand (training: its forward
  and its backward down to the encoder's outputs, which are leaves here).

The three are timed interleaved batch by batch (less exposed to a machine whose load
changes than separate processes), ``--repeats`` passes each, and the fastest pass is kept.
``outside = 1 - encoder / full`` is the share of the step spent outside the encoder.
Then ``torch.profiler`` records ``--profile-batches`` batches of the full step, split into
encoder forward, head forward, backward and optimizer, and of the head alone, whose top
entries by self CPU time it prints.

    python bench/profile_heads.py --data data/redocred/dev_revised.json --docs 12 \
        --batch-size 4 --threads 2 --encoder minilm --heads atlop,kmgre
"""
from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any, Callable, Iterator


def _leaves(encoded: list, grad: bool) -> list:
    """Encoder outputs as fresh leaves (so a head's backward stops there)."""
    from docre.models.encoder import EncodedDocument

    return [EncodedDocument(e.hidden.detach().requires_grad_(grad), e.query_att.detach().requires_grad_(grad))
            for e in encoded]


@contextlib.contextmanager
def _ranges(model: Any) -> Iterator[None]:
    """Profiler ranges "encoder forward" and "head forward" around the model's two parts."""
    from torch.profiler import record_function

    handles, open_ranges = [], []
    for name, module in (("encoder forward", model.encoder), ("head forward", model.head)):
        def enter(*_: Any, name: str = name, **__: Any) -> None:
            open_ranges.append(record_function(name))
            open_ranges[-1].__enter__()

        def leave(*_: Any, **__: Any) -> None:
            open_ranges.pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


RANGES = ("encoder forward", "head forward", "backward (encoder and head)", "clipping and AdamW step")


def _range_totals(prof: Any) -> dict[str, float]:
    """CPU seconds of each of :data:`RANGES` that the profile recorded."""
    return {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key in RANGES}


def _head_loss(out: Any) -> Any:
    """The head's training loss, or a sum of its logits when it has none (inference batches)."""
    if out.loss is not None:
        return out.loss
    return sum(lg.sum() for lg in out.logits)


def _profiled(model: Any, full: Any, head: Any, batches: list, top: int) -> tuple[dict[str, float], str]:
    """The profiler over ``batches``: the whole step split into its ranges, and the head alone's top entries."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof, _ranges(model):
        for b in batches:
            full(b)
    ranges = _range_totals(prof)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for b in batches:
            head(b)
    return ranges, prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def run(args: argparse.Namespace, head_name: str) -> dict[str, Any]:
    import torch
    from torch.profiler import record_function

    from docre.config import load_config
    from docre.data import RelationInventory, read_documents
    from docre.data.features import featurize_documents
    from docre.inference import batches, length_sorted, predict, training_order
    from docre.models.encoder import resolve_encoder_path
    from docre.models.model import DocREModel, load_tokenizer
    from docre.training.trainer import make_optimizer

    docs = read_documents(args.data)[: args.docs]
    overrides: dict[str, Any] = {"model.encoder": args.encoder, "model.head": head_name,
                                 "data.max_seq_length": args.max_len, "model.emb_size": args.emb_size}
    if head_name == "kmgre":
        overrides["kmgre.em_period"] = -1  # both losses every step, as bench_speed.py
    cfg = load_config(overrides=overrides)
    tok = load_tokenizer(resolve_encoder_path(args.encoder))
    rel = RelationInventory.from_relations(f.r for d in docs for f in (d.labels or []))
    feats = featurize_documents(docs, tok, rel, args.max_len)
    torch.manual_seed(0)
    model = DocREModel.build(cfg, rel, tok)
    opt = make_optimizer(model, cfg)
    phase = args.phase if head_name == "kmgre" else "joint"
    train_batches = list(batches(feats, args.batch_size, rel.num_classes,
                                 training_order(feats, args.batch_size, 0, cfg.train.length_buckets)))
    infer_batches = list(batches(feats, args.batch_size, rel.num_classes, length_sorted(feats)))
    for b in infer_batches:
        b.labels = [None] * len(b.labels)

    def train_full(b) -> None:
        loss = model(b, phase=phase).loss
        with record_function("backward (encoder and head)"):
            loss.backward()
        with record_function("clipping and AdamW step"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)

    def train_encoder(b) -> None:
        enc = model.encoder(b.input_ids, b.mention_pos)
        sum(e.hidden.sum() + e.query_att.sum() for e in enc).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
        opt.step()  # steps the encoder's parameters only (the head's have no gradient)
        opt.zero_grad(set_to_none=True)

    encoded_train: dict[int, list] = {}

    def train_head(b) -> None:
        enc = _leaves(encoded_train[id(b)], True)
        _head_loss(model.head(enc, b, phase=phase)).backward()
        opt.zero_grad(set_to_none=True)

    encoded_infer: dict[int, list] = {}

    def infer_full(b) -> None:
        model(b, phase="eval")

    def infer_encoder(b) -> None:
        model.encoder(b.input_ids, b.mention_pos)

    def infer_head(b) -> None:
        model.head(encoded_infer[id(b)], b, phase="eval")

    def timed(fns: dict[str, Callable], bs: list, grad: bool) -> dict[str, float]:
        """Fastest of the repeats (the least disturbed by other processes) of each function's
        time over all batches, interleaved batch by batch."""
        totals: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(args.repeats):
            acc = dict.fromkeys(fns, 0.0)
            for b in bs:
                for k, fn in fns.items():
                    with torch.set_grad_enabled(grad), (contextlib.nullcontext() if grad else torch.inference_mode()):
                        t0 = clock()
                        fn(b)
                        acc[k] += clock() - t0
            for k in fns:
                totals[k].append(acc[k])
        return {k: min(v) for k, v in totals.items()}

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    out: dict[str, Any] = {"head": head_name, "phase": phase, "docs": len(feats)}
    if "train" in args.modes:
        model.train()
        with torch.no_grad():  # encoder outputs for the head alone, computed once (dropout on, as in training)
            encoded_train.update({id(b): model.encoder(b.input_ids, b.mention_pos) for b in train_batches})
        train_full(train_batches[0])  # warm-up (allocator, lazy init)
        train_head(train_batches[0])
        t = timed({"encoder": train_encoder, "full": train_full, "head": train_head}, train_batches, True)
        out["train"] = t
        if args.profile_batches > 0:
            out["train_ranges"], out["train_profile"] = _profiled(model, train_full, train_head,
                                                                  train_batches[: args.profile_batches], args.top)
    if "infer" in args.modes:
        model.eval()
        with torch.inference_mode():
            encoded_infer.update({id(b): model.encoder(b.input_ids, b.mention_pos) for b in infer_batches})
            infer_full(infer_batches[0])
            t = timed({"encoder": infer_encoder, "full": infer_full, "head": infer_head}, infer_batches, False)
            out["infer"] = t
            if args.profile_batches > 0:
                out["infer_ranges"], out["infer_profile"] = _profiled(model, infer_full, infer_head,
                                                                      infer_batches[: args.profile_batches], args.top)
        t0 = time.perf_counter()
        predict(model, feats, batch_size=args.batch_size)
        out["predict_docs_per_s"] = len(feats) / (time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="DocRED-format file")
    p.add_argument("--docs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--max-len", type=int, default=1024)
    p.add_argument("--emb-size", type=int, default=768, help="model.emb_size (docre's default 768)")
    p.add_argument("--heads", default="atlop,kmgre", help="comma-separated: atlop, kmgre")
    p.add_argument("--phase", default="joint", help="KMGRE training phase to time: warmup, joint, e, m")
    p.add_argument("--modes", default="train,infer", help="comma-separated: train, infer")
    p.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                   help="wall: elapsed time; cpu: this process's CPU time (steadier on a shared machine, "
                        "comparable between versions at --threads 1)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes over the documents (the fastest is kept)")
    p.add_argument("--profile-batches", type=int, default=3, help="batches recorded by the profiler (0: no profile)")
    p.add_argument("--top", type=int, default=15, help="profiler entries printed")
    args = p.parse_args()
    args.modes = args.modes.split(",")
    import torch

    torch.set_num_threads(args.threads)
    for head in args.heads.split(","):
        res = run(args, head)
        print(f"\n=== {head} (phase {res['phase']}), {res['docs']} documents, batch {args.batch_size}, "
              f"{args.threads} threads, emb {args.emb_size}")
        for mode in ("train", "infer"):
            if mode not in res:
                continue
            t = res[mode]
            n = res["docs"]
            print(f"{mode}: encoder {n / t['encoder']:.2f} docs/s, encoder+head {n / t['full']:.2f} docs/s, "
                  f"head alone {t['head']:.3f} s; outside the encoder {100 * (1 - t['encoder'] / t['full']):.1f}% "
                  f"of the step (head alone: {100 * t['head'] / t['full']:.1f}%)")
        if "predict_docs_per_s" in res:
            print(f"docre.inference.predict: {res['predict_docs_per_s']:.2f} docs/s")
        for mode in ("train", "infer"):
            if f"{mode}_ranges" in res:
                ranges = res[f"{mode}_ranges"]
                total = sum(ranges.values())
                print(f"{mode} step, profiled ({args.profile_batches} batches): " + ", ".join(
                    f"{k} {v:.2f} s ({100 * v / total:.0f}%)" for k, v in ranges.items()))
        for mode in ("train", "infer"):
            if f"{mode}_profile" in res:
                print(f"\n-- {head} {mode}: head alone, top {args.top} by self CPU time "
                      f"({args.profile_batches} batches)\n{res[f'{mode}_profile']}")


if __name__ == "__main__":
    main()
