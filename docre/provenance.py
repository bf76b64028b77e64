"""What a result depends on besides its config: library versions, hardware, the data and
encoder files (by sha256) and the docre source.

Training writes ``environment.json`` into the run directory when it starts and copies it into
every saved model directory, so a result that does not reproduce can be traced:
``docre env RUN_OR_MODEL_DIR`` lists what differs between then and now.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from docre import __version__
from docre.errors import DocreError

ENVIRONMENT_FILE = "environment.json"
PACKAGES = ("torch", "transformers", "tokenizers", "accelerate", "safetensors", "numpy")
# recorded for the reader, not compared: they differ between any two runs (or between a run and `docre env`)
_NOT_COMPARED = ("recorded_at", "command", "hardware.torch_threads", "hardware.mixed_precision")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _package_version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_state(directory: Path) -> dict[str, Any]:
    """Commit and dirtiness of the git checkout holding ``directory`` (empty outside one)."""
    try:
        # only a checkout that holds this file (not, say, a repository around a virtualenv)
        tracked = subprocess.run(["git", "-C", str(directory), "ls-files", "--error-unmatch", Path(__file__).name],
                                 capture_output=True, text=True, timeout=10)
        commit = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if tracked.returncode != 0 or commit.returncode != 0:
            return {}
        status = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def _file_record(path: Optional[str], hash_of: Optional[Callable[[str], str]] = None) -> Optional[dict[str, Any]]:
    from docre.data.features import file_hash

    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        return {"path": str(path), "sha256": None}
    return {"path": str(path), "sha256": (hash_of or file_hash)(path), "bytes": p.stat().st_size}


def _encoder_record(name: str) -> dict[str, Any]:
    from docre.data.features import file_hash
    from docre.models.encoder import resolve_encoder_path

    try:
        path = resolve_encoder_path(name)
    except DocreError:
        return {"name": name, "path": None}
    out: dict[str, Any] = {"name": name, "path": path}
    for weights in _WEIGHT_FILES:
        f = Path(path) / weights
        if f.is_file():
            out["weights_sha256"] = file_hash(f)
            break
    return out


def collect_environment(config: Any = None, device: Optional[str] = None, mixed_precision: Optional[str] = None,
                        hash_of: Optional[Callable[[str], str]] = None) -> dict[str, Any]:
    """The environment of this process; with a config, also its data files and encoder.

    ``hash_of``: the sha256 function for data files (training passes the one its feature
    cache already used, so no file is read twice).
    """
    import torch

    on_gpu = (device or "").startswith("cuda")
    env: dict[str, Any] = {
        "docre": {"version": __version__, **_git_state(Path(__file__).resolve().parent)},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _package_version(name) for name in PACKAGES},
        "hardware": {
            "device": device or "cpu",
            "gpu": torch.cuda.get_device_name(0) if on_gpu else None,
            "cuda": torch.version.cuda if on_gpu else None,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "mixed_precision": mixed_precision,
        },
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": list(sys.argv),
    }
    if config is not None:
        dc = config.data
        env["data"] = {role: _file_record(getattr(dc, f"{role}_file"), hash_of)
                       for role in ("train", "dev", "test", "relations")}
        env["encoder"] = _encoder_record(config.model.encoder)
    return env


def write_environment(directory: Path, env: Mapping[str, Any]) -> Path:
    from docre.utils.io import atomic_write_json

    path = Path(directory) / ENVIRONMENT_FILE
    atomic_write_json(path, dict(env))
    return path


def read_environment(directory: str | Path) -> dict[str, Any]:
    """The environment recorded in a run or model directory."""
    path = Path(directory) / ENVIRONMENT_FILE
    if not path.is_file():
        raise DocreError(f"{directory}: no {ENVIRONMENT_FILE} (not a docre run or model directory, or written by "
                         "a docre that did not record environments)")
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DocreError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(env, dict):
        raise DocreError(f"{path}: must be a JSON object")
    return env


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def compare_environments(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, recorded, current) for every entry that differs, in sorted key order (nested keys
    joined with dots, e.g. ``packages.torch``, ``data.train.sha256``)."""
    def compared(flat: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in flat.items() if not any(k == p or k.startswith(p + ".") for p in _NOT_COMPARED)}

    a, b = compared(_flatten(dict(recorded))), compared(_flatten(dict(current)))
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def current_for(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """This process's environment, with the recorded data files and encoder checked again."""
    hw = recorded.get("hardware") or {}
    env = collect_environment(device=hw.get("device") if _device_available(hw.get("device")) else "cpu")
    if isinstance(recorded.get("data"), dict):
        env["data"] = {role: _file_record(rec.get("path")) if isinstance(rec, dict) else None
                       for role, rec in recorded["data"].items()}
    if isinstance(recorded.get("encoder"), dict) and recorded["encoder"].get("name"):
        env["encoder"] = _encoder_record(recorded["encoder"]["name"])
    return env


def _device_available(device: Optional[str]) -> bool:
    import torch

    return bool(device) and (not str(device).startswith("cuda") or torch.cuda.is_available())


def format_differences(diffs: list[tuple[str, Any, Any]]) -> str:
    if not diffs:
        return "no differences: same docre, libraries, hardware kind, data files and encoder weights"
    width = max(len(k) for k, _, _ in diffs)
    lines = [f"{len(diffs)} difference(s), recorded -> now:"]
    for key, then, now in diffs:
        lines.append(f"  {key:<{width}}  {_short(then)} -> {_short(now)}")
    return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v):
        return v[:12] + "…"  # a sha256
    return "(absent)" if v is None else str(v)
