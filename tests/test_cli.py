"""Command-line conventions: descriptions, help and defaults on every option, -v anywhere,
``--out -`` to standard output, ``docre config show``."""
from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path
from typing import Iterator

import pytest
import torch

from docre.cli import _HelpFormatter, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "docre" / "resources" / "sample" / "dev.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("docre",)
              ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, path + (name,))


def _options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for a in parser._actions:
        if a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
            yield a


def test_every_command_has_a_description_and_every_option_help_and_a_default() -> None:
    commands = list(_commands(build_parser()))
    names = {" ".join(p) for p, _ in commands}
    assert {"docre predict", "docre submit", "docre inspect", "docre config show", "docre data export"} <= names
    fmt = _HelpFormatter("docre")
    for path, parser in commands:
        assert parser.description, f"{' '.join(path)} has no description"
        for action in _options(parser):
            where = f"{' '.join(path)} {action.option_strings[0]}"
            assert action.help, f"{where} has no help"
            if not action.required and action.nargs != 0:  # flags are off unless given
                assert "default" in fmt._get_help_string(action).lower(), f"{where} does not show its default"


def test_subcommand_help_lines_and_defaults_are_shown(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    for name in ("predict", "submit", "inspect", "config"):
        line = next(x for x in top.splitlines() if x.strip().startswith(name + " "))
        assert len(line.split()) > 2, f"no description for {name}: {line!r}"
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "documents per forward pass (default: 8)" in text and "(default: 256)" in text


def test_precision_is_explained_in_one_place() -> None:
    """The same short text in every command that predicts; the measurements live in one page."""
    texts = {next(a.help for a in _options(p) if a.option_strings[0] == "--precision")
             for _, p in _commands(build_parser()) if any(a.option_strings[0] == "--precision" for a in _options(p))}
    assert len(texts) == 1
    (text,) = texts
    assert "docs/gpu.md" in text and len(text) < 160


@pytest.mark.parametrize("argv, expected", [(["env"], False), (["-v", "env"], True), (["env", "-v"], True),
                                            (["data", "stats", "f.json", "--verbose"], True),
                                            (["data", "validate", "-v", "f.json"], True)])
def test_verbose_before_or_after_the_subcommand(argv: list, expected: bool) -> None:
    assert build_parser().parse_args(argv).verbose is expected


def test_config_show_prints_the_effective_configuration(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"model": {"head": "kmgre"}, "train": {"epochs": 7}}), encoding="utf-8")
    assert main(["config", "show", "--config", str(cfg), "--train.epochs", "3", "--train.lr_new=0.5"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"]["head"] == "kmgre"  # from the file
    assert shown["train"]["epochs"] == 3 and shown["train"]["lr_new"] == 0.5  # overrides win
    assert shown["model"]["task"] == "relation"  # defaults filled in
    assert main(["config", "show", "--config", str(cfg), "--train.no_such_field", "1"]) == 2
    assert "no_such_field" in capsys.readouterr().err


# ------------------------------------------------------------------------- --out -
@pytest.fixture(scope="module")
def model_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained ATLOP model on the tiny BERT with the sample's relations (it predicts many triples)."""
    from conftest import tiny_config
    from docre.data.relations import RelationInventory
    from docre.models.model import DocREModel, load_tokenizer

    out = tmp_path_factory.mktemp("cli_model")
    config = tiny_config(tiny_encoder_dir, out / "run", SAMPLE, **{"model.head": "atlop"})
    relations = RelationInventory.from_file(ROOT / "docre" / "resources" / "sample" / "relations.json")
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    torch.manual_seed(3)
    DocREModel.build(config, relations, tokenizer).save(out / "model", tokenizer)
    return out / "model"


def _run(argv: list, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("command", ["predict", "submit"])
def test_out_dash_writes_to_standard_output(command: str, model_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    common = ["--model", str(model_dir), "--data", str(SAMPLE), "--device", "cpu", "--quiet"]
    file_out = tmp_path / "out.json"
    assert _run([command, *common, "--out", str(file_out)], capsys)[0] == 0
    monkeypatch.chdir(tmp_path)
    rc, stdout, stderr = _run([command, *common, "--out", "-"], capsys)
    assert rc == 0
    assert json.loads(stdout) == json.loads(file_out.read_text(encoding="utf-8"))  # the same output
    assert "->" in stderr  # the summary line goes to standard error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no file named '-', no leftovers


def test_out_dash_for_inspect_writes_json_records(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    rc, stdout, stderr = _run(["inspect", "--model", str(model_dir), "--data", str(SAMPLE), "--doc", "0",
                               "--out", "-", "--device", "cpu", "--quiet", "--top-k", "2"], capsys)
    assert rc == 0
    page = json.loads(stdout)
    assert len(page["documents"]) == 1 and "1 documents" in stderr
    assert list(tmp_path.iterdir()) == []


def test_submit_zip_needs_a_file(model_dir: Path, capsys: pytest.CaptureFixture) -> None:
    rc, stdout, stderr = _run(["submit", "--model", str(model_dir), "--data", str(SAMPLE), "--out", "-", "--zip",
                               "--device", "cpu", "--quiet"], capsys)
    assert rc == 2 and stdout == "" and "--zip" in stderr


def test_model_files_are_all_readable_by_others(model_dir: Path) -> None:
    """model.safetensors gets the mode of the other files (0644 under the usual umask)."""
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.relative_to(model_dir).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in model_dir.rglob("*") if p.is_file()}
    assert "model.safetensors" in modes and "config.json" in modes
    assert set(modes.values()) == {0o666 & ~umask}, modes


@pytest.mark.parametrize("content", ["", "  \n"])
def test_an_empty_file_is_worded_alike_by_validate_and_predict(content: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(content, encoding="utf-8")
    rc, validate_out, _ = _run(["data", "validate", str(empty)], capsys)
    assert rc == 2
    rc, _, predict_err = _run(["predict", "--model", str(tmp_path / "no_model"), "--data", str(empty), "--out",
                               str(tmp_path / "p.json"), "--quiet"], capsys)
    assert rc == 2  # the data is checked before the model is looked for
    message = f"{empty}: the file is empty (expected a JSON list of documents)"
    assert validate_out.splitlines()[0] == message
    assert predict_err.strip() == f"docre: error: {message}"
