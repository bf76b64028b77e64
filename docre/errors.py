"""The exceptions docre raises for problems a user can fix.

Every user-facing failure (bad data, bad config, a damaged model directory) is a
:class:`DocreError`; the CLI turns it into one line on stderr and exit code 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


class DocreError(Exception):
    """Base class: a problem with the user's input, not a bug in docre."""


@dataclass
class DataProblem:
    """One problem found in a data file, located as precisely as possible."""

    file: str
    message: str
    doc_index: Optional[int] = None
    title: Optional[str] = None
    field: Optional[str] = None

    def __str__(self) -> str:
        where = [self.file]
        if self.doc_index is not None:
            where.append(f"document {self.doc_index}")
            if self.title is not None:
                where.append(f"title {self.title!r}")
        if self.field:
            where.append(f"field {self.field}")
        return ": ".join([", ".join(where), self.message])


class DataError(DocreError):
    """A data file is malformed. Carries the first problem (and all, when collected)."""

    def __init__(self, problems: "DataProblem | list[DataProblem]"):
        if isinstance(problems, DataProblem):
            problems = [problems]
        self.problems = list(problems)
        first = self.problems[0]
        self.file, self.doc_index, self.title, self.field = first.file, first.doc_index, first.title, first.field
        extra = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(str(first) + extra)


class ConfigError(DocreError):
    """A configuration file or override is invalid."""


class ModelDirError(DocreError):
    """A saved model directory is missing a file, altered, or inconsistent."""


class TrainingError(DocreError):
    """Training cannot continue (e.g. a non-finite loss)."""
