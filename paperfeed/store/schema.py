"""Tables of the store, in portable SQLAlchemy Core (SQLite now, PostgreSQL next).

Lists and dicts are JSON text so both dialects read them the same way.  `seq` is a
store-wide change counter: every write stamps the rows it touches with a new value,
and each derived index remembers the highest `seq` it has applied.  That one number
is how an index knows, after a crash, exactly what it is missing.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

papers = Table(
    "papers",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(128), nullable=False, unique=True),
    Column("arxiv_id", String(64), unique=True),
    Column("doi", String(256), unique=True),
    Column("title_key", String(512), nullable=False),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors", Text, nullable=False, default="[]"),
    Column("categories", Text, nullable=False, default="[]"),
    Column("published", Date),
    Column("updated", Date),
    Column("listed", Date),
    Column("links", Text, nullable=False, default="{}"),
    Column("comment", Text),
    Column("sources", Text, nullable=False, default="[]"),
    Column("content_hash", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_papers_title_key", "title_key"),
    Index("ix_papers_listed", "listed"),
    Index("ix_papers_seq", "seq"),
    Index("ix_papers_content_hash", "content_hash"),
)

# Embeddings are keyed by content hash, not by paper: an unchanged text is never embedded twice.
embeddings = Table(
    "embeddings",
    metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
    Column("seq", Integer, nullable=False),
    Index("ix_embeddings_seq", "seq"),
)

# Small durable key/value state: store identity, change counter, harvest resumption tokens.
kv = Table(
    "kv",
    metadata,
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)
