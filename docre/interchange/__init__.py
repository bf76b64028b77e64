"""Annotation tools in and out: brat standoff and Label Studio JSON to DocRED JSON and back.

``docre data import brat|labelstudio SRC --out FILE.json`` and ``docre data export
brat|labelstudio FILE.json --out DST`` call :func:`import_annotations` and
:func:`export_annotations`; :mod:`docre.interchange.annotations` holds the tool-neutral model and
its conversion to and from DocRED documents.
"""
from docre.interchange.annotations import (
    AnnotatedText, ExportOptions, ImportOptions, ImportReport, Link, Relation, RelationMapper, Span, from_docred,
    to_docred,
)
from docre.interchange.api import FORMATS, ExportReport, ImportResult, export_annotations, import_annotations

__all__ = [
    "AnnotatedText", "Span", "Relation", "Link", "ImportOptions", "ExportOptions", "ImportReport", "ExportReport",
    "ImportResult", "RelationMapper", "to_docred", "from_docred", "import_annotations", "export_annotations", "FORMATS",
]
