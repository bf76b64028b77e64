"""Training tasks: what ``docre train`` learns, picked by ``model.task``.

A :class:`~docre.tasks.base.Task` says how its data is prepared and featurised, which model it
builds, how a split is evaluated and which score selects the best model; the training loop
(:mod:`docre.training.trainer`) calls it without knowing which task it runs. Built in:
``relation`` (:mod:`docre.tasks.relation`) and ``end_to_end`` (:mod:`docre.tasks.end_to_end`).
"""
from docre.tasks.base import Evaluation, Split, Task
from docre.tasks.registry import TASKS, get_task, register_task

__all__ = ["Task", "Split", "Evaluation", "TASKS", "get_task", "register_task"]
