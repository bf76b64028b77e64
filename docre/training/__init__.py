"""Training: the loop, the KMGRE EM schedule, logging."""
from docre.training.trainer import TrainResult, train

__all__ = ["train", "TrainResult"]
