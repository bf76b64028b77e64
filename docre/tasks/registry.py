"""The task registry: ``@register_task("relation")`` on a :class:`~docre.tasks.base.Task` subclass,
``get_task(config.model.task)`` in the trainer (as :mod:`docre.models.heads.registry` does for heads)."""
from __future__ import annotations

import importlib
from typing import Callable

from docre.errors import ConfigError
from docre.tasks.base import Task

TASKS: dict[str, type[Task]] = {}

#: Modules whose import registers docre's own tasks (imported on the first :func:`get_task`). A task
#: shipped with docre adds its module here; code outside docre registers by importing its module
#: before training starts.
TASK_MODULES: tuple[str, ...] = ("docre.tasks.relation", "docre.tasks.end_to_end", "docre.tasks.linker")


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator: make a :class:`Task` subclass the task of ``model.task = name``."""
    def deco(cls: type[Task]) -> type[Task]:
        if name in TASKS and TASKS[name] is not cls:
            raise ValueError(f"task {name!r} is registered twice ({TASKS[name].__qualname__}, {cls.__qualname__})")
        TASKS[name] = cls
        cls.name = name
        return cls

    return deco


def get_task(name: str) -> Task:
    """A fresh instance of the task registered as ``name`` (one per training run)."""
    for module in TASK_MODULES:
        importlib.import_module(module)
    if name not in TASKS:
        raise ConfigError(f"model.task = {name!r}: unknown task (known: {', '.join(sorted(TASKS))})")
    return TASKS[name]()
