"""A tiny end-to-end model trained once on the bundled sample, shared by the tests of this folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

#: epochs of the shared tiny model (about half a minute on one CPU thread)
TINY_EPOCHS = 6


@dataclass
class TrainedJoint:
    model_dir: Path
    model: Any
    tokenizer: Any


@pytest.fixture(scope="session")
def trained_joint(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedJoint:
    """A tiny-BERT joint model (ATLOP head, entity markers) trained on the sample's 60 training documents."""
    from conftest import tiny_config
    from docre.models.model import DocREModel
    from docre.resources import sample_path
    from docre.training import train

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("joint_run")
        cfg = tiny_config(tiny_encoder_dir, out, sample_path("train.json"), **{
            "model.task": "end_to_end", "data.dev_file": None, "train.epochs": TINY_EPOCHS,
            "data.relations_file": str(sample_path("relations.json"))})
        train(cfg)
        model, tok = DocREModel.load(out / "best_model", device="cpu")
    finally:
        torch.set_num_threads(before)
    return TrainedJoint(out / "best_model", model, tok)
