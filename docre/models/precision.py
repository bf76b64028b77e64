"""Inference precision: float32 (the default), or bfloat16 / float16 autocast for prediction.

``docre predict|submit|inspect|extract --precision bf16`` runs the encoder's and the heads' matrix
products in bfloat16 under :func:`torch.autocast`; the weights stay float32 and logits are read
back as float32 before the prediction rule. It is meant for GPUs (bf16 / fp16 on tensor cores).
On this project's CPU (AMX) the products themselves run 2x faster in bfloat16, but oneDNN builds its
kernels for every new input shape: over 1,000 documents `docre predict` measured 43 s and 1.76 GB in
bf16 against 33 s and 0.67 GB in fp32 (docs/gpu.md, "Precision"). Predictions can differ from
float32 where a relation's logit is within rounding of the threshold class's, so a reported F1
should be measured at the precision it will be used at.
Training precision is ``train.mixed_precision`` (accelerate).
"""
from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from docre.errors import ConfigError

#: accepted values of ``--precision``
PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device | str) -> str:
    """``precision`` if it can run on ``device``; else a :class:`ConfigError` saying what can."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and torch.device(device).type == "cpu":
        raise ConfigError("precision fp16 needs a GPU (float16 matrix products are slow or missing on the CPU); "
                          "use bf16 on the CPU")
    return precision


def autocast_for(precision: str, device: torch.device | str) -> ContextManager:
    """The context prediction runs in: ``torch.autocast`` for bf16 / fp16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_DTYPES[precision])
