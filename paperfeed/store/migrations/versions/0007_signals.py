"""Personal-feed signals (issue 11): "not interested", collections, member follows, implicit opens (opt-in),
the "shown" log that keeps a paper from coming back, and library imports.

Revision ID: 0007_signals
Revises: 0004_accounts (the lead re-chains helpers' migrations linearly at merge)

Everything is keyed by `users.id` and `papers.pk` with ON DELETE CASCADE, so deleting an account or a
paper leaves no orphan signal, and "delete my signals" is one DELETE per table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_signals"
down_revision = "0006_discussion"
branch_labels = None
depends_on = None


def _user() -> sa.Column:
    return sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


def _paper() -> sa.Column:
    return sa.Column("paper_pk", sa.Integer, sa.ForeignKey("papers.pk", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "dismissals", _user(), _paper(), sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "paper_pk", name="uq_dismissals_user_paper"),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("visibility", sa.String(8), nullable=False, server_default="private"),
        sa.Column("share_token", sa.String(43), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "name", name="uq_collections_user_name"),
    )
    op.create_table(
        "collection_items",
        sa.Column("collection_id", sa.Integer, sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        _paper(),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("collection_id", "paper_pk", name="uq_collection_items_collection_paper"),
        sa.Index("ix_collection_items_paper_pk", "paper_pk"),
    )
    op.create_table(
        "member_follows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "kind", "value", name="uq_member_follows_user_kind_value"),
    )
    op.create_table(
        "signal_prefs",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("implicit_opens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "paper_opens", _user(), _paper(),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "paper_pk", name="uq_paper_opens_user_paper"),
    )
    op.create_table(
        "shown_papers", _user(), _paper(),
        sa.Column("place", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "paper_pk", name="uq_shown_papers_user_paper"),
    )
    op.create_table(
        "library_imports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _user(),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("papers", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for t in ("library_imports", "shown_papers", "paper_opens", "signal_prefs", "member_follows",
              "collection_items", "collections", "dismissals"):
        op.drop_table(t)
