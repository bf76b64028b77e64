"""A small registry of relation heads: ``@register_head("atlop")``."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from docre.errors import ConfigError

HEADS: dict[str, type[nn.Module]] = {}


def register_head(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        HEADS[name] = cls
        cls.head_name = name
        return cls

    return deco


def build_head(name: str, **kwargs: Any) -> nn.Module:
    # importing the modules registers the heads
    from docre.models.heads import atlop, kmgre  # noqa: F401

    if name not in HEADS:
        raise ConfigError(f"model.head = {name!r}: unknown head (known: {', '.join(sorted(HEADS))})")
    return HEADS[name](**kwargs)
