"""Evaluation: the official DocRED metrics and CodaLab submission files."""
from docre.evaluation.official import evaluate_files, official_scores, read_predictions, train_facts
from docre.evaluation.submission import format_scores, write_result_json

__all__ = ["official_scores", "read_predictions", "evaluate_files", "train_facts", "write_result_json", "format_scores"]
