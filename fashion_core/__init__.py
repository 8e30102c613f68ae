"""Fashion Attribute Studio core library: schemas, label store, ingestion, training, evaluation."""

__version__ = "0.1.0"
