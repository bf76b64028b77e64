"""Training: the loop (:class:`Trainer`, as named steps), the KMGRE EM schedule, logging."""
from docre.training.trainer import Trainer, TrainResult, train

__all__ = ["train", "Trainer", "TrainResult"]
