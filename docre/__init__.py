"""docre: document-level relation extraction with ATLOP and KMGRE heads."""

__version__ = "0.1.0"
