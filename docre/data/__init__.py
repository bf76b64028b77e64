"""Reading, validating and featurising DocRED-format data."""
from docre.data.documents import Document, Entity, Fact, Mention
from docre.data.reader import documents_from_json, read_documents, validate_file
from docre.data.relations import NA_RELATION, RelationInventory

__all__ = [
    "Document", "Entity", "Fact", "Mention", "RelationInventory", "NA_RELATION",
    "read_documents", "documents_from_json", "validate_file",
]
