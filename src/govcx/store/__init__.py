"""Relational storage shared by the governance stores (SQLite or PostgreSQL)."""

from govcx.store.db import Database
from govcx.store.schema import metadata

__all__ = ["Database", "metadata"]
