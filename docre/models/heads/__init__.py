"""Relation heads, picked by name from the registry (``model.head`` in the config)."""
from docre.models.heads.registry import HEADS, build_head, register_head

__all__ = ["HEADS", "build_head", "register_head"]
