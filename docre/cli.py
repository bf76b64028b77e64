"""The ``docre`` command: train | evaluate | compare | predict | submit | extract | link | inspect | env | data | config.

Thin: parses arguments and calls importable functions. Problems a user can fix
(bad data, bad config, a damaged model directory) print one line and exit with code 2.
Every ``--out`` that names one file also takes ``-``: standard output (the summary line then
goes to standard error).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from docre import __version__
from docre.errors import DocreError
from docre.streaming import DEFAULT_CHUNK_SIZE

logger = logging.getLogger("docre")


def _done(message: str, out: Any = None) -> None:
    """A command's summary line: standard output, or standard error when ``out`` is ``-`` (the
    output itself went to standard output)."""
    from docre.utils.io import is_stdout

    print(message, file=sys.stderr if out is not None and is_stdout(out) else sys.stdout)


def _parse_overrides(rest: Sequence[str]) -> dict[str, str]:
    """``--section.field value`` or ``--section.field=value`` pairs."""
    out: dict[str, str] = {}
    i = 0
    while i < len(rest):
        arg = rest[i]
        if not arg.startswith("--") or "." not in arg:
            raise DocreError(f"unrecognised argument {arg!r} (overrides look like --train.epochs 3)")
        key = arg[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(rest):
                raise DocreError(f"override {arg} needs a value")
            value = rest[i + 1]
            i += 2
        out[key] = value
    return out


def cmd_train(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.config import load_config
    from docre.training import train

    overrides = _parse_overrides(rest)
    if args.resume:
        if args.config:
            raise DocreError("--resume continues a run with its own config.json; do not pass --config")
        run_dir = Path(args.resume)
        if not (run_dir / "config.json").exists():
            raise DocreError(f"{run_dir}: not a run directory (no config.json)")
        config = load_config(run_dir / "config.json", overrides)
        config.train.output_dir = str(run_dir)
    else:
        config = load_config(args.config, overrides)
    if args.seeds:
        return _train_seeds(config, args)
    if args.jobs != 1:
        raise DocreError("--jobs runs several seeds at once: use it with --seeds")
    result = train(config, resume=bool(args.resume))
    if int(os.environ.get("RANK", "0")) != 0:  # one of several launched processes: the main one reports
        return 0
    m = result.best_metrics
    if m and "f1" not in m:  # another task's scores (e.g. model.task linker)
        from docre.tasks import get_task

        print(f"best dev (epoch {result.best_epoch:g}): {get_task(config.model.task).describe(m)}")
    elif m:
        print(f"best dev (epoch {result.best_epoch:g}): F1 {m['f1']:.2f}  Ign F1 {m['ign_f1']:.2f}  "
              f"P {m['precision']:.2f}  R {m['recall']:.2f}")
    print(f"run directory: {result.run_dir}  (model: {result.run_dir / 'best_model'})")
    if (result.run_dir / "result.json").exists():
        print(f"test predictions: {result.run_dir / 'result.json'}")
    return 0


def _train_seeds(config: Any, args: argparse.Namespace) -> int:
    from docre.experiments.compare import RunGroup, compare_groups, format_comparison
    from docre.experiments.seeds import parse_seeds, train_seeds

    if args.resume:
        raise DocreError("--seeds with --resume: run the same --seeds command again instead (finished seeds are "
                         "skipped, interrupted ones resumed)")
    outcomes = train_seeds(config, parse_seeds(args.seeds), jobs=args.jobs)
    for o in outcomes:
        print(f"seed {o.seed}: {o.state} {o.run_dir}" + (f" ({o.message})" if o.message else ""))
    done = [o for o in outcomes if o.state != "failed"]
    if done:
        group = RunGroup.load(config.train.output_dir)
        print()
        print(format_comparison(compare_groups([group])))
    return 0 if len(done) == len(outcomes) else 1


def cmd_compare(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.evaluation.breakdown import parse_breakdowns
    from docre.experiments.compare import compare_groups, format_comparison, parse_group_args
    from docre.utils.io import atomic_write_json

    groups = parse_group_args(args.runs)
    cmp = compare_groups(groups, baseline=args.baseline, by=parse_breakdowns(args.by) if args.by else (),
                         samples=args.samples, level=args.level, gold_file=args.gold, gold_range=args.gold_range,
                         top_relations=args.top_relations)
    _done(format_comparison(cmp), args.out)
    if args.out:
        atomic_write_json(args.out, cmp.to_json())
    return 0


def cmd_evaluate(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.data.reader import read_documents
    from docre.evaluation import evaluate_files, format_scores
    from docre.evaluation.breakdown import breakdown_scores, format_breakdowns, parse_breakdowns
    from docre.evaluation.official import read_predictions
    from docre.utils.io import atomic_write_json

    by = parse_breakdowns(args.by) if args.by else []
    if args.linking:
        return _evaluate_linking(args)
    if args.end_to_end:
        if by:
            raise DocreError("--by breaks down the scores of a result.json; it does not apply to --end-to-end")
        return _evaluate_end_to_end(args)
    if not args.pred:
        raise DocreError("docre evaluate needs --pred (a result.json), or --end-to-end with --model or --pred")
    for flag in ("model", "extracted"):
        if getattr(args, flag):
            raise DocreError(f"--{flag} belongs to --end-to-end evaluation")
    scores = evaluate_files(args.pred, args.gold, args.train)
    _done(format_scores(scores), args.out)
    if args.evidence_rule:
        scores = {**scores, **_evidence_rule_scores(args.pred, args.gold)}
        _done(f"{'evi rule':<10}{scores['rule_evi_precision']:>8.2f}{scores['rule_evi_recall']:>8.2f}"
              f"{scores['rule_evi_f1']:>8.2f}  (same triples, sentences with mentions of both entities, else either)",
              args.out)
    if by:
        tables = breakdown_scores(read_predictions(args.pred), read_documents(args.gold), by, args.top_relations)
        _done("", args.out)
        _done(format_breakdowns(tables, _relation_namer(args.relations)), args.out)
        scores = {**scores, "breakdowns": tables}
    if args.out:
        atomic_write_json(args.out, scores)
    return 0


def _evidence_rule_scores(pred: str, gold: str) -> dict[str, float]:
    """Evidence P/R/F1 of the simple rule on the triples of ``pred`` (docre.evidence), as ``rule_evi_*``."""
    from docre.data.reader import read_documents
    from docre.evaluation import official_scores
    from docre.evaluation.official import read_predictions
    from docre.evidence.attach import rule_evidence_for

    docs = read_documents(gold)
    s = official_scores(rule_evidence_for(read_predictions(pred), docs), docs)
    return {f"rule_{k}": s[k] for k in ("evi_precision", "evi_recall", "evi_f1")}


def _relation_namer(path: Optional[str]) -> Any:
    """Names for ``--by relation``: from a relations file, else DocRED's Wikidata labels (P-ids)."""
    from docre.data.relations import RelationInventory
    from docre.resources import wikidata_relation_labels

    if not path:
        labels = wikidata_relation_labels()
        return lambda r: labels.get(r, "")
    return RelationInventory.from_file(path).name


def _evaluate_end_to_end(args: argparse.Namespace) -> int:
    """``docre evaluate --end-to-end``: from the gold documents' text with --model, or an extract output."""
    from docre.e2e.evaluate import evaluate_files_end_to_end
    from docre.evaluation.end_to_end import format_end_to_end, format_stage_table
    from docre.utils.io import atomic_write_json

    if bool(args.model) == bool(args.pred):
        raise DocreError("docre evaluate --end-to-end needs either --model (extract from the gold documents' text) "
                         "or --pred (a docre extract output of that text)")
    if args.extracted and not args.model:
        raise DocreError("--extracted writes what --model extracted; with --pred there is nothing to write")
    if args.train and not args.model:
        raise DocreError("--train (Ign F1) scores the relation stage given gold entities, which needs --model")
    scores, gold_scores, n, stages = evaluate_files_end_to_end(
        args.gold, pipeline=_pipeline(args) if args.model else None, pred_path=args.pred, train_path=args.train,
        extracted_path=args.extracted, stages=bool(args.model) and not args.no_stages)
    _done(f"end to end, {n} documents ({args.gold}):", args.out)
    _done(format_end_to_end(scores, gold_scores), args.out)
    if stages:
        _done("", args.out)
        _done("stage table (each stage given gold input from the stages before it):", args.out)
        _done(format_stage_table({"end_to_end": scores, **stages}), args.out)
    if args.out:
        atomic_write_json(args.out, {"end_to_end": scores, "gold_entities": gold_scores, "stages": stages})
    return 0


def _evaluate_linking(args: argparse.Namespace) -> int:
    """``docre evaluate --linking``: links of a docre link output (--pred) or of --model on the gold documents."""
    from docre.linking.cli import evaluate_linking

    return evaluate_linking(args, _pipeline(args) if args.model else None)


# ---------------------------------------------------------------- entity linking
def cmd_link(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.linking.predict import link_file, read_raw_documents, require_linker

    read_raw_documents(args.data)  # the input checked before the model loads
    pipe = _pipeline(args)
    require_linker(pipe.model, str(args.model))
    n, n_ent, n_linked = link_file(pipe, args.data, args.out)
    _done(f"{n} documents, {n_ent} entities, {n_linked} linked ({n_ent - n_linked} NIL) -> {args.out}", args.out)
    return 0


def cmd_extract(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.e2e.extract import count_text_inputs, extract_file

    total = count_text_inputs(args.text)  # every input checked before the model loads
    n, n_ent, n_rel = extract_file(_pipeline(args), args.text, args.out, total=total)
    _done(f"{n} documents, {n_ent} entities, {n_rel} predicted relations -> {args.out}", args.out)
    return 0


def _pipeline(args: argparse.Namespace, device: Optional[str] = None, progress: bool = True):
    from docre.pipeline import Pipeline
    from docre.utils.memory import bound_heap

    try:  # prediction over many documents: resident memory stays flat (docre/utils/memory.py)
        bound_heap()
    except ValueError as exc:
        raise DocreError(str(exc)) from None

    chunk = {"chunk_size": args.chunk_size} if getattr(args, "chunk_size", None) else {}
    return Pipeline.from_dir(args.model, device=device or args.device, batch_size=args.batch_size,
                             progress=progress and not args.quiet, max_seq_length=args.max_seq_length,
                             precision=getattr(args, "precision", "fp32"), **chunk)


def _add_precision(parser: argparse.ArgumentParser) -> None:
    from docre.models.precision import PRECISIONS

    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="numeric precision of prediction: fp32, bf16 (autocast; for GPUs) or fp16 (GPU only); "
                             "speed, memory and agreement are in docs/gpu.md")


def cmd_predict(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.pipeline import write_predictions
    from docre.streaming import launched_processes, open_documents

    procs = launched_processes(args.device)
    source = open_documents(args.data, progress=not args.quiet and procs.is_main)  # checked before the model loads
    pipe = _pipeline(args, procs.device, progress=procs.is_main)
    done = write_predictions(pipe, source, args.out, procs)
    if done is not None:
        _done(f"{done[0]} documents, {done[1]} predicted relations -> {args.out}", args.out)
    return 0


def cmd_submit(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.pipeline import write_submission
    from docre.streaming import launched_processes, open_documents

    from docre.utils.io import is_stdout

    if args.zip and is_stdout(args.out):
        raise DocreError("--zip writes result.zip beside --out: name an output file, not -")
    procs = launched_processes(args.device)
    source = open_documents(args.data, progress=not args.quiet and procs.is_main)  # checked before the model loads
    pipe = _pipeline(args, procs.device, progress=procs.is_main)
    zip_path = Path(args.out).with_suffix(".zip") if args.zip else None
    done = write_submission(pipe, source, args.out, zip_path, procs)
    if done is not None:
        _done(f"{done[0]} documents, {done[1]} triples -> {args.out}" + (f" (and {zip_path})" if zip_path else ""),
              args.out)
    return 0


def cmd_inspect(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.inspect.cli import run_inspect

    return run_inspect(args)


def cmd_data(args: argparse.Namespace, rest: Sequence[str]) -> int:
    if args.data_command in ("import", "export"):
        from docre.interchange.api import run_interchange_command

        return run_interchange_command(args)
    from docre.data.stats import run_data_command

    return run_data_command(args)


def cmd_env(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from docre.provenance import collect_environment, compare_environments, current_for, format_differences, \
        read_environment

    if not args.directory:
        print(json.dumps(collect_environment(), indent=1))
        return 0
    recorded = read_environment(args.directory)
    when = recorded.get("recorded_at", "?")
    print(f"{args.directory}: recorded {when}")
    print(format_differences(compare_environments(recorded, current_for(recorded))))
    return 0


def cmd_config(args: argparse.Namespace, rest: Sequence[str]) -> int:
    """``docre config show``: the effective configuration (defaults, file, overrides) as JSON."""
    from docre.config import load_config

    config = load_config(args.config, _parse_overrides(rest))
    print(json.dumps(config.to_dict(), indent=2))
    return 0


def _add_interchange_parsers(dsub: Any, command: Any) -> None:
    """``docre data import`` and ``docre data export`` (docre.interchange)."""
    di = command(dsub, "import", "brat or Label Studio annotations -> DocRED JSON",
                 "Read brat standoff files (.txt + .ann) or a Label Studio JSON export, cut the "
                 "texts into sentences and words (spaCy's rule-based English tokenizer, no "
                 "download), group mentions into entities and write DocRED JSON (char_span kept).")
    di.add_argument("format", choices=("brat", "labelstudio"), help="annotation tool the files come from")
    di.add_argument("src", help="brat: a folder of .txt/.ann files (or one document); labelstudio: its JSON export")
    di.add_argument("--out", required=True, help="DocRED JSON file to write" + OUT_STDOUT)
    di.add_argument("--relations", default=None, help="relation inventory (rel2id/rel_info/relations.json) to map "
                    "relation labels through; written with the labels found when the file does not exist "
                    "(default: OUT.relations.json, written)")
    di.add_argument("--entities", choices=("auto", "links", "names"), default="auto",
                    help="group mentions by coreference links (equivalences, coreference relations), by identical "
                         "normalised names and type, or auto: links where a document has any, else names")
    di.add_argument("--tokenizer", choices=("spacy", "whitespace"), default="spacy",
                    help="spacy (sentences and words), or whitespace (lines and whitespace-separated words: the "
                         "inverse of export for documents without a text)")
    di.add_argument("--discontinuous", choices=("fragments", "span", "error"), default="fragments",
                    help="a discontinuous brat span: one mention per fragment (same entity), one mention over its "
                         "whole extent, or an error")
    di.add_argument("--coreference", nargs="+", default=None, metavar="LABEL",
                    help="relation labels that mean coreference (default: Coreference Coref)")
    di.add_argument("--text-key", default="text", help="labelstudio: the task data field holding the text")
    de = command(dsub, "export", "DocRED JSON or predictions -> brat or Label Studio pre-annotations",
                 "Write documents (gold labels, or docre predict output with scores) as brat files "
                 "or Label Studio tasks that a person corrects and imports back.")
    de.add_argument("format", choices=("brat", "labelstudio"), help="annotation tool to write for")
    de.add_argument("file", help="DocRED JSON, e.g. the output of docre predict")
    de.add_argument("--out", required=True, help="brat: a new folder; labelstudio: a tasks .json file (its label "
                                                 "config and relation inventory are written beside it)")
    de.add_argument("--min-score", type=float, default=None,
                    help="leave out predicted relations scored below this (default: all listed)")
    de.add_argument("--coreference", default="Coreference", help="name of the relation tying an entity's mentions")
    de.add_argument("--labels", choices=("name", "id"), default="name",
                    help="label relations with their names where known (predictions carry them), or their ids")
    de.add_argument("--model", default=None,
                    help="model directory whose whole relation inventory the annotation config lists, so that an "
                         "annotator can add relations the predictions miss (default: DocRED's 96 relations when "
                         "every relation id is one of them, else the relations in FILE)")
    de.add_argument("--relations", default=None,
                    help="relation inventory file (e.g. rel_info.json) to list and name the relations with, instead "
                         "of --model (default: none)")


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows every option's default, unless its text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or "default" in text.lower() or action.required or action.nargs == 0
                or action.default is argparse.SUPPRESS):
            return text  # positionals, flags (off unless given), texts that say their default
        return text + (" (default: none)" if action.default is None else " (default: %(default)s)")


def _verbose_parent() -> argparse.ArgumentParser:
    """``-v/--verbose`` for every subcommand (after the subcommand as well as before it)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    return parent


def _add_prediction_options(s: argparse.ArgumentParser, batch_help: str = "documents per forward pass",
                            chunk_help: Optional[str] = None) -> None:
    """Options every command that runs a model shares."""
    s.add_argument("--batch-size", type=int, default=8, help=batch_help)
    if chunk_help:
        s.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help=chunk_help)
    s.add_argument("--device", default=None, help="cpu | cuda (default: GPU when available)")
    _add_precision(s)
    s.add_argument("--quiet", action="store_true", help="no progress bar")


OUT_STDOUT = " ('-': standard output)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="docre", description="Document-level relation extraction (KMGRE / ATLOP).",
                                formatter_class=_HelpFormatter)
    p.add_argument("--version", action="version", version=f"docre {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = _verbose_parent()

    def command(parent_sub: Any, name: str, hlp: str, description: Optional[str] = None) -> argparse.ArgumentParser:
        return parent_sub.add_parser(name, help=hlp, description=description or hlp[0].upper() + hlp[1:] + ".",
                                     formatter_class=_HelpFormatter, parents=[parent])

    t = command(sub, "train", "train a model from a config",
                "Train as the config says; override any field with --section.field value "
                "(e.g. --train.epochs 3 --model.head atlop). 'docre config show' prints the result.")
    t.add_argument("--config", help="JSON config (configs/*.json) (default: the built-in defaults)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    t.add_argument("--seeds", metavar="S1,S2,...",
                   help="train once per seed into <train.output_dir>/seed<N>/ and print mean +- std over seeds; "
                        "run the same command again to skip finished seeds and resume interrupted ones")
    t.add_argument("--jobs", type=int, default=1,
                   help="with --seeds: seeds trained at once, in separate processes (CPU threads split between them)")
    t.set_defaults(func=cmd_train)

    c = command(sub, "compare", "compare configurations over seeds (mean +- std, paired differences)",
                "Each RUN is a run directory or a directory of seed<N>/ runs (docre train "
                "--seeds); NAME=RUN names it. Prints the mean +- std over seeds of each metric at "
                "the best dev point and, for every group against the baseline, the paired "
                "difference in F1 on the seeds they share with a bootstrap interval (resampling "
                "seeds and dev documents).")
    c.add_argument("runs", nargs="+", metavar="RUN", help="run directories or seed groups, optionally NAME=PATH")
    c.add_argument("--baseline", default=None, help="group the others are compared with (default: the first)")
    c.add_argument("--by", default=None, metavar="B1,B2",
                   help="also F1 by group: mention_pairs, sentence, relation, length, or all (default: none)")
    c.add_argument("--samples", type=int, default=2000, help="bootstrap resamples")
    c.add_argument("--level", type=float, default=0.95, help="confidence level of the interval")
    c.add_argument("--top-relations", type=int, default=10, help="relations shown by name in --by relation")
    c.add_argument("--gold", default=None, help="dev file the runs were validated on (default: from their config)")
    c.add_argument("--gold-range", default=None, help="document range of --gold (default: the runs' dev_range)")
    c.add_argument("--out", default=None, help="also write the comparison as JSON here" + OUT_STDOUT)
    c.set_defaults(func=cmd_compare)

    e = command(sub, "evaluate", "official DocRED scores of a result.json (or end-to-end scores from text)",
                "Official DocRED scores of a result.json against a gold file. With --end-to-end: "
                "mention, coreference (MUC, B-cubed, CEAF-e), entity and strict relation scores "
                "of an end-to-end model (--model: extracts from the gold documents' text, their "
                "'text' field or their words joined by spaces, and also scores the model's "
                "relation stage given the gold entities) or of a docre extract output (--pred).")
    e.add_argument("--pred", help="predictions (CodaLab result.json format; with --end-to-end: a docre extract output)")
    e.add_argument("--gold", required=True, help="gold DocRED-format file with labels")
    e.add_argument("--train", help="training file whose facts define Ign F1 (default: none, Ign F1 = F1)")
    e.add_argument("--out", help="also write the scores as JSON here" + OUT_STDOUT)
    e.add_argument("--end-to-end", action="store_true", help="score entities and relations found from text")
    e.add_argument("--linking", action="store_true",
                   help="entity-linking accuracy (entities with a link, NIL entities, all entities, mentions) of a "
                        "docre link output (--pred) or of a linker (--model) on the gold documents, beside the "
                        "candidate-prior baseline")
    e.add_argument("--no-candidates", action="store_true",
                   help="with --linking --model: drop the gold documents' candidates first (the linker then takes "
                        "every mention's candidates from its alias table, as for raw text)")
    e.add_argument("--model", help="with --end-to-end: an end-to-end model directory to extract with; with "
                                   "--linking: a linker model directory (links the gold documents; its alias table "
                                   "also gives the prior baseline the candidates of mentions without)")
    e.add_argument("--extracted", help="with --end-to-end --model: also write what was extracted (.json / .jsonl)")
    e.add_argument("--no-stages", action="store_true",
                   help="with --end-to-end --model: skip the stage table (each stage scored given gold input from "
                        "the stages before it: coreference on gold mentions, typing on gold clusters, relations on "
                        "gold entities; about one more extraction pass per row)")
    _add_prediction_options(e)
    e.add_argument("--max-seq-length", type=int, default=None,
                   help="subwords per document (default 0: whole documents, sliding windows)")
    e.add_argument("--by", default=None, metavar="B1,B2",
                   help="also F1 by group: mention_pairs (|M(h)| x |M(t)|: 1, 2-3, 4-8, 9+), sentence (intra/inter), "
                        "relation (the most frequent), length (document words), or all (default: none)")
    e.add_argument("--top-relations", type=int, default=10, help="relations shown by name in --by relation")
    e.add_argument("--relations", default=None,
                   help="rel_info/rel2id file to print relation names in --by relation (default: DocRED's "
                        "Wikidata labels for P-ids)")
    e.add_argument("--evidence-rule", action="store_true",
                   help="also score the evidence of the simple rule on the same predicted triples (sentences "
                        "holding mentions of both entities, else of either): the baseline of docs/evidence.md")
    e.set_defaults(func=cmd_evaluate)

    x = command(sub, "extract", "entities and relations of plain text (an end-to-end model)",
                "Find the mentions, entities and relations of plain texts with a model trained "
                "with model.task end_to_end. Writes DocRED-format documents (mentions with "
                "char_span [begin, end) into each input text) with their predicted relations.")
    x.add_argument("--model", required=True, help="end-to-end model directory (e.g. runs/demo_end_to_end/best_model)")
    x.add_argument("--text", required=True,
                   help="a .txt file, a directory of .txt files, or a .jsonl file of "
                        "{\"id\": ..., \"text\": ...} lines")
    x.add_argument("--out", required=True,
                   help="output: a JSON list (.json) or one document per line (.jsonl)" + OUT_STDOUT)
    _add_prediction_options(x, batch_help="texts per chunk")
    x.add_argument("--max-seq-length", type=int, default=None,
                   help="subwords per document (default 0: whole documents, sliding windows)")
    x.set_defaults(func=cmd_extract)

    lk = command(sub, "link", "link every entity to its Wikipedia title or NIL (a linker model)",
                 "Link the entities of DocRED-format documents (e.g. docre extract output) with a "
                 "model trained with model.task linker. Writes the same documents with 'link' "
                 "(a title, or null for NIL) and 'link_score' (its probability) on every mention, "
                 "one value per entity. Mentions without 'candidates' take theirs from the "
                 "model's alias table.")
    lk.add_argument("--model", required=True, help="linker model directory (e.g. runs/dwie_minilm_linker/best_model)")
    lk.add_argument("--data", required=True, help="DocRED-format documents with entities (.json list or .jsonl)")
    lk.add_argument("--out", required=True, help="output: a JSON list (.json) or one document per line (.jsonl)" + OUT_STDOUT)
    lk.add_argument("--batch-size", type=int, default=8, help="documents per batch")
    lk.add_argument("--device", default=None, help="cpu | cuda (default: GPU when available)")
    lk.add_argument("--quiet", action="store_true", help="no progress bar")
    lk.add_argument("--max-seq-length", type=int, default=None,
                    help="subwords per document (0: whole documents, sliding windows); default: as trained")
    lk.set_defaults(func=cmd_link)

    for name, func, hlp, desc in (
            ("predict", cmd_predict, "predict relations for new documents (readable JSON)",
             "Predict the relations between the given entities of DocRED-format documents. Each document is "
             "written with its relations: head and tail entity (index and name), relation id and name, "
             "score = sigmoid(logit of the relation - logit of the threshold class) (above 0.5: predicted) "
             "and evidence sentences where the model has an evidence head."),
            ("submit", cmd_submit, "write a leaderboard result.json for a test file",
             "Predict a test file and write the CodaLab result.json (title, h_idx, t_idx, r, evidence) of the "
             "DocRED leaderboard; --zip also packs it as result.zip for upload.")):
        s = command(sub, name, hlp, desc)
        s.add_argument("--model", required=True, help="model directory (e.g. runs/x/best_model)")
        s.add_argument("--data", required=True,
                       help="DocRED-format documents (labels optional): a .json list (read incrementally) "
                            "or .jsonl (one document per line)")
        s.add_argument("--out", required=True,
                       help="output file" + (" (.jsonl: one document per line; else a JSON list)"
                                              if name == "predict" else " (CodaLab result.json)") + OUT_STDOUT)
        _add_prediction_options(s, chunk_help="documents featurised and predicted together (memory holds one "
                                              "chunk; the unit dealt to each process under accelerate launch / "
                                              "torchrun)")
        s.add_argument("--max-seq-length", type=int, default=None,
                       help="subwords per document (0: whole documents, sliding windows) (default: as trained)")
        if name == "submit":
            s.add_argument("--zip", action="store_true", help="also write result.zip for CodaLab")
        s.set_defaults(func=func)

    i = command(sub, "inspect", "why did the model predict this triple? (mention-pair attribution)",
                "Explain predicted (and, with gold labels, missed) triples: the mention pairs and context "
                "words each rests on, and each triple's score, logits and margin over the threshold. "
                "Writes JSON records or a self-contained HTML page; prints an aggregate view.")
    i.add_argument("--model", required=True, help="model directory")
    i.add_argument("--data", required=True, help="DocRED-format documents (with labels: also missed triples)")
    i.add_argument("--doc", nargs="*", default=None, help="document titles or indices (default: all)")
    i.add_argument("--out", required=True, help=".json (records) or .html (a page); '-': JSON to standard output")
    i.add_argument("--only", choices=("tp", "fp", "fn"), default=None,
                   help="keep only these triples (default: all)")
    i.add_argument("--relation", default=None, help="keep only this relation id, e.g. P17 (default: all)")
    i.add_argument("--top-k", type=int, default=10, help="mention pairs / context tokens per triple")
    _add_prediction_options(i, chunk_help="documents explained together (memory holds one chunk)")
    i.set_defaults(func=cmd_inspect)

    v = command(sub, "env", "this environment, or what changed since a run or model was trained",
                "Without DIR: print docre's, Python's and the libraries' versions and the "
                "hardware. With a run or model directory: list what differs between the "
                "environment it recorded (environment.json) and this one: library versions, "
                "hardware, and the sha256 of its data files and encoder weights.")
    v.add_argument("directory", nargs="?", metavar="DIR", help="run directory or model directory")
    v.set_defaults(func=cmd_env)

    d = command(sub, "data", "dataset statistics and validation; import/export annotation-tool files")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    ds = command(dsub, "stats", "documents, entities, mentions, pairs, subword lengths, relations")
    ds.add_argument("file", help="DocRED-format file (.json or .jsonl)")
    ds.add_argument("--tokenizer", default="minilm", help="tokenizer for subword lengths ('none' to skip)")
    ds.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ds.add_argument("--relations", default=None,
                    help="rel_info/rel2id file naming the relations (default: DocRED's Wikidata labels for P-ids)")
    dv = command(dsub, "validate", "list every problem in a DocRED-format file")
    dv.add_argument("file", help="DocRED-format file (.json or .jsonl)")
    dv.add_argument("--relations", default=None, help="rel2id/rel_info file labels must use (default: any id)")
    _add_interchange_parsers(dsub, command)
    d.set_defaults(func=cmd_data)

    g = command(sub, "config", "print the effective configuration of a config file plus overrides")
    gsub = g.add_subparsers(dest="config_command", required=True, metavar="CONFIG_COMMAND")
    gs = command(gsub, "show", "print the effective configuration as JSON",
                 "Print the configuration docre train would use: the defaults, then --config, then "
                 "--section.field value overrides, validated, as JSON.")
    gs.add_argument("--config", help="JSON config (configs/*.json) (default: the built-in defaults)")
    g.set_defaults(func=cmd_config)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in ("train", "config"):
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        return int(args.func(args, rest) or 0)
    except DocreError as exc:
        if int(os.environ.get("RANK", "0")) == 0:  # several launched processes fail alike: say it once
            print(f"docre: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("docre: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. docre config show | head: the reader stopped reading, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
