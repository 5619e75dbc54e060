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
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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

# -- community (migration 0002): accounts, upvotes, submissions to a day's list, API tokens ------------------
# Keyed by `papers.pk`, so a paper whose id is refined by a later merge keeps its votes.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

votes = Table(
    "votes",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("user_id", "paper_pk", name="uq_votes_user_paper"),
    Index("ix_votes_paper_pk", "paper_pk"),
    Index("ix_votes_created_at", "created_at"),
)

submissions = Table(
    "submissions",
    metadata,
    Column("paper_pk", Integer, ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False),
    Column("day", Date, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("paper_pk", "day", name="uq_submissions_paper_day"),
    Index("ix_submissions_day", "day"),
    Index("ix_submissions_user_id", "user_id"),
)

# Only a hash of each API token is kept: a copy of the database does not hand out API access.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Index("ix_api_tokens_user_id", "user_id"),
)
