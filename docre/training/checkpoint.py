"""Resumable training state: model, optimizer, scheduler, RNG states and data position.

``<run_dir>/checkpoint/`` holds ``model.safetensors``, ``optimizer.safetensors`` (the optimizer's
tensors) and ``state.json`` (everything else). It is written into a temporary directory and
renamed, so a kill at any point leaves the previous checkpoint intact. Nothing is unpickled
on load.
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from docre.errors import DocreError
from docre.utils.io import atomic_write_json

CHECKPOINT = "checkpoint"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into tensors (for safetensors) and a JSON skeleton."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, pstate in state["state"].items():
        entry = {}
        for key, value in pstate.items():
            if torch.is_tensor(value):
                name = f"{pid}.{key}"
                tensors[name] = value.detach().cpu().contiguous()
                entry[key] = {"tensor": name}
            else:
                entry[key] = value
        skeleton["state"][str(pid)] = entry
    return tensors, skeleton


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], skeleton: dict[str, Any]) -> dict[str, Any]:
    state = {}
    for pid, entry in skeleton["state"].items():
        state[int(pid)] = {k: (tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v)
                           for k, v in entry.items()}
    return {"state": state, "param_groups": skeleton["param_groups"]}


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state().tolist(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    np.random.set_state((npst[0], np.array(npst[1], dtype=np.uint32), npst[2], npst[3], npst[4]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def save_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, state: dict[str, Any]) -> None:
    """Write ``run_dir/checkpoint`` atomically (temporary directory + rename)."""
    from safetensors.torch import save_file

    target = run_dir / CHECKPOINT
    tmp = run_dir / f".{CHECKPOINT}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    opt_tensors, opt_skeleton = _flatten_optimizer(optimizer.state_dict())
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    atomic_write_json(tmp / "state.json", {**state, "optimizer": opt_skeleton, "scheduler": sched,
                                           "rng": rng_state()}, indent=None)
    old = run_dir / f".{CHECKPOINT}.old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old)


def load_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG states; return the loop state."""
    from safetensors.torch import load_file

    ckpt = run_dir / CHECKPOINT
    if not (ckpt / "state.json").exists():
        raise DocreError(f"{run_dir}: no checkpoint to resume from (expected {ckpt}/state.json)")
    state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
    optimizer.load_state_dict(_unflatten_optimizer(load_file(str(ckpt / "optimizer.safetensors")),
                                                   state.pop("optimizer")))
    sched = state.pop("scheduler")
    sched_full = scheduler.state_dict()
    sched_full.update(sched)
    scheduler.load_state_dict(sched_full)
    restore_rng(state.pop("rng"))
    return state
