"""Leaderboard (CodaLab) submission files and a human-readable score table.

A submission is ``result.json``: a JSON list of ``{"title", "h_idx", "t_idx", "r",
"evidence"}``, uploaded zipped (shared/docs/kmgre-method.md, section 6).
"""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any, Iterable, Mapping, Optional, Union

from docre.evaluation.official import PathLike, check_prediction
from docre.utils.io import atomic_write_bytes

RESULT_MEMBER = "result.json"


def write_result_json(
    predictions: Iterable[Mapping[str, Any]], path: PathLike, zip_path: Optional[PathLike] = None
) -> int:
    """Write predictions as a CodaLab ``result.json`` (and optionally its zip), atomically.

    Args:
        predictions: dicts with ``title``, ``h_idx``, ``t_idx``, ``r`` and optionally
            ``evidence`` (a list or tuple of sentence ids; absent or None gives ``[]``);
            other keys are not written.
        path: the result.json to write.
        zip_path: when given, also write a zip holding the same bytes as its single
            member ``result.json``.

    Returns:
        The number of triples written (duplicates are written as given).

    Raises:
        DataError: a prediction is invalid (missing key, wrong type); it names ``path``,
            the prediction's index, its title and the field. Nothing is written then.
    """
    entries = []
    for i, p in enumerate(predictions):
        if not isinstance(p, Mapping):
            check_prediction(p, str(path), i)  # raises: not an object
        entry = {k: p[k] for k in ("title", "h_idx", "t_idx", "r") if k in p}
        evidence = p.get("evidence")
        entry["evidence"] = [] if evidence is None else list(evidence) if isinstance(evidence, (list, tuple)) else evidence
        check_prediction(entry, str(path), i)
        entries.append(entry)
    data = (json.dumps(entries, ensure_ascii=False) + "\n").encode("utf-8")
    archive = None
    if zip_path is not None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(RESULT_MEMBER, data)
        archive = buf.getvalue()
    # Everything is serialised before the first write, so a bad prediction leaves no file.
    atomic_write_bytes(path, data)
    if zip_path is not None and archive is not None:
        atomic_write_bytes(zip_path, archive)
    return len(entries)


def format_scores(scores: Mapping[str, Union[float, int]]) -> str:
    """A short table of :func:`~docre.evaluation.official.official_scores` for the CLI.

    Rows: relation, Ign, evidence, intra, inter (precision, recall, F1 in %), then the
    prediction / gold / correct / correct-in-train counts.
    """
    rows = [
        ("relation", "precision", "recall", "f1"),
        ("ign", "ign_precision", "recall", "ign_f1"),
        ("evidence", "evi_precision", "evi_recall", "evi_f1"),
        ("intra", "intra_precision", "intra_recall", "intra_f1"),
        ("inter", "inter_precision", "inter_recall", "inter_f1"),
    ]
    lines = [f"{'':<10}{'P':>8}{'R':>8}{'F1':>8}"]
    for label, p, r, f in rows:
        lines.append(f"{label:<10}{scores[p]:>8.2f}{scores[r]:>8.2f}{scores[f]:>8.2f}")
    lines.append(
        f"predicted {scores['num_predicted']}, gold {scores['num_gold']}, "
        f"correct {scores['num_correct']}, correct in train {scores['num_correct_in_train']}"
    )
    return "\n".join(lines)


__all__ = ["write_result_json", "format_scores", "RESULT_MEMBER"]
