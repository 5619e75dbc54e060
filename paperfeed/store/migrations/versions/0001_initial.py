"""Initial schema: papers, embeddings (by content hash), kv.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False, unique=True),
        sa.Column("arxiv_id", sa.String(64), unique=True),
        sa.Column("doi", sa.String(256), unique=True),
        sa.Column("title_key", sa.String(512), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False),
        sa.Column("authors", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("published", sa.Date),
        sa.Column("updated", sa.Date),
        sa.Column("listed", sa.Date),
        sa.Column("links", sa.Text, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_papers_title_key", "papers", ["title_key"])
    op.create_index("ix_papers_listed", "papers", ["listed"])
    op.create_index("ix_papers_seq", "papers", ["seq"])
    op.create_index("ix_papers_content_hash", "papers", ["content_hash"])
    op.create_table(
        "embeddings",
        sa.Column("content_hash", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_embeddings_seq", "embeddings", ["seq"])
    op.create_table(
        "kv",
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kv")
    op.drop_table("embeddings")
    op.drop_table("papers")
