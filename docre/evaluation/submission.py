"""Leaderboard (CodaLab) submission files and a human-readable score table.

A submission is ``result.json``: a JSON list of ``{"title", "h_idx", "t_idx", "r",
"evidence"}``, uploaded zipped.
"""
from __future__ import annotations

import contextlib
import time
import zipfile
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

from docre.evaluation.official import PathLike, check_prediction
from docre.utils.io import atomic_path
from docre.utils.jsonstream import JsonArrayWriter

RESULT_MEMBER = "result.json"
_COPY_BLOCK = 1 << 20


class ResultJsonWriter:
    """Appends validated predictions to an open CodaLab ``result.json`` (see :func:`result_json_writer`)."""

    def __init__(self, array: JsonArrayWriter, path: str):
        self.array, self.path = array, path

    @property
    def count(self) -> int:
        return self.array.count

    def add(self, p: Mapping[str, Any]) -> None:
        """Validate and write one prediction (``title``, ``h_idx``, ``t_idx``, ``r``, optional
        ``evidence``; other keys are not written).

        Raises:
            DataError: naming the file, the prediction's index, its title and the field.
        """
        i = self.array.count
        if not isinstance(p, Mapping):
            check_prediction(p, self.path, i)  # raises: not an object
        entry = {k: p[k] for k in ("title", "h_idx", "t_idx", "r") if k in p}
        evidence = p.get("evidence")
        entry["evidence"] = [] if evidence is None else list(evidence) if isinstance(evidence, (list, tuple)) else evidence
        check_prediction(entry, self.path, i)
        self.array.write(entry)


@contextlib.contextmanager
def result_json_writer(path: PathLike, zip_path: Optional[PathLike] = None) -> Iterator[ResultJsonWriter]:
    """Write a CodaLab ``result.json`` one prediction at a time (``writer.add(p)``), atomically.

    The file is written to a temporary file and renamed when the block ends; then, when
    ``zip_path`` is given, a zip holding the same bytes as its single member ``result.json``.
    An exception (e.g. an invalid prediction) leaves neither file written (an existing file is
    kept as it was).
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            array = JsonArrayWriter(fh)  # json.dumps(entries) layout: one line, ", " between entries
            yield ResultJsonWriter(array, str(path))
            array.close()
            fh.write("\n")
        if zip_path is not None:
            with atomic_path(zip_path) as ztmp:
                info = zipfile.ZipInfo(RESULT_MEMBER, date_time=time.localtime(time.time())[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                with zipfile.ZipFile(ztmp, "w") as zf, zf.open(info, "w") as member, open(tmp, "rb") as src:
                    for block in iter(lambda: src.read(_COPY_BLOCK), b""):
                        member.write(block)


def write_result_json(
    predictions: Iterable[Mapping[str, Any]], path: PathLike, zip_path: Optional[PathLike] = None
) -> int:
    """Write predictions as a CodaLab ``result.json`` (and optionally its zip), atomically.

    Args:
        predictions: dicts with ``title``, ``h_idx``, ``t_idx``, ``r`` and optionally
            ``evidence`` (a list or tuple of sentence ids; absent or None gives ``[]``);
            other keys are not written. Any iterable: it is consumed once, as it is written.
        path: the result.json to write.
        zip_path: when given, also write a zip holding the same bytes as its single
            member ``result.json``.

    Returns:
        The number of triples written (duplicates are written as given).

    Raises:
        DataError: a prediction is invalid (missing key, wrong type); it names ``path``,
            the prediction's index, its title and the field. Nothing is written then.
    """
    with result_json_writer(path, zip_path) as writer:
        for p in predictions:
            writer.add(p)
    return writer.count


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


__all__ = ["write_result_json", "result_json_writer", "ResultJsonWriter", "format_scores", "RESULT_MEMBER"]
